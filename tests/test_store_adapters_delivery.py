"""The delivery log: at-least-once delivery keyed by (scan id, action, target), never a second "new" decision.

Drives the library functions behind ``store sync|push`` against the fake REST store on localhost.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.policy import Action, Reason
from store_adapters.delivery import DeliveryLog, delivery_id
from store_adapters.rest import RestAdapter
from synthreview.commands.store import parse_since, push, sync
from synthreview.pipeline import Context
from synthreview.store import Store
from test_store_adapters import TOKEN, TOKEN_ENV, FakeRestStore, items, rest_config, serve


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


@pytest.fixture(scope="module")
def ctx() -> Context:
    return Context.default()


def test_delivery_id_is_stable_and_specific() -> None:
    a = delivery_id(1, "reject", "rest", "http://x/")
    assert a == delivery_id("1", "reject", "rest", "http://x/")
    assert len({a, delivery_id(2, "reject", "rest", "http://x/"), delivery_id(1, "list", "rest", "http://x/"),
                delivery_id(1, "reject", "rest", "http://y/"), delivery_id(1, "reject", "inbox", "http://x/"),
                delivery_id(1, "reject", "rest", "http://x/", "s2")}) == 6


def test_crash_after_send_resends_same_delivery_id(tmp_path: Path, ctx: Context,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The send succeeded but the process died before logging it: the retry carries the same id (a duplicate)."""
    fake = FakeRestStore(items(1))
    with serve(fake) as base, RestAdapter.from_config(rest_config(base)) as ad, Store.open(tmp_path / "db") as store:
        got, err = sync(ad, store, ctx)
        assert not err and [i.outcome for i in got] == ["scanned"]

        def die(self: DeliveryLog, rec: object) -> None:
            raise KeyboardInterrupt  # killed between the store's 201 and our commit

        monkeypatch.setattr(DeliveryLog, "delivered", die)
        with pytest.raises(KeyboardInterrupt):
            push(ad, store)
        monkeypatch.undo()
        monkeypatch.setenv(TOKEN_ENV, TOKEN)
        sent, err = push(ad, store)
        assert not err and [i.outcome for i in sent] == ["delivered"]  # 409 from the store = it has it already
        assert len(fake.decisions) == 1 and fake.duplicates == [sent[0].delivery_id]
        log = DeliveryLog(store)
        [row] = log.deliveries("rest")
        assert (row.status, row.attempts) == ("delivered", 2)
        assert push(ad, store) == ([], "")


def test_reviewer_override_is_a_new_decision(tmp_path: Path, ctx: Context) -> None:
    fake = FakeRestStore(items(1))
    with serve(fake) as base, RestAdapter.from_config(rest_config(base)) as ad, Store.open(tmp_path / "db") as store:
        [item], _ = sync(ad, store, ctx)
        assert item.action == "needs_review"
        push(ad, store)
        store.add_review(item.scan_id, Action.REJECT, "face swap without filing", "alice",
                         (Reason("reviewer_override", "Art. 13", "审核人员不予上架", "reviewer refused listing"),))
        sent, _ = push(ad, store)
        assert [(i.action, i.outcome) for i in sent] == [("reject", "delivered")]
        assert push(ad, store) == ([], "")
    actions = sorted(d["action"] for d in fake.decisions.values())
    assert actions == ["needs_review", "reject"]
    final = [d for d in fake.decisions.values() if d["action"] == "reject"][0]
    assert final["reasons"][0]["code"] == "reviewer_override" and final["action_zh"] == "不予上架"


def test_two_targets_each_get_the_decision(tmp_path: Path, ctx: Context) -> None:
    fake = FakeRestStore(items(1))
    with serve(fake) as base, Store.open(tmp_path / "db") as store:
        with RestAdapter.from_config(rest_config(base)) as ad:
            sync(ad, store, ctx)
            assert [i.outcome for i in push(ad, store)[0]] == ["delivered"]
        other = rest_config(base, push={"path": "apps/{id}/decision?mirror=1"})
        with RestAdapter.from_config(other) as ad2:
            assert ad2.target != ad.target
            assert [i.outcome for i in push(ad2, store)[0]] == ["delivered"]
            assert push(ad2, store)[0] == []


def test_auth_failure_on_push_stops_and_stays_pending(tmp_path: Path, ctx: Context,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRestStore(items(2))
    with serve(fake) as base, Store.open(tmp_path / "db") as store:
        with RestAdapter.from_config(rest_config(base)) as ad:
            sync(ad, store, ctx)
        fake.token = "rotated"
        with RestAdapter.from_config(rest_config(base)) as ad:
            sent, err = push(ad, store)
            assert "401" in err and [i.outcome for i in sent] == ["failed"]  # stopped after the first refusal
            assert fake.hits("/api/apps/s1/decision", "POST") == 1
        monkeypatch.setenv(TOKEN_ENV, "rotated")
        with RestAdapter.from_config(rest_config(base)) as ad:
            sent, err = push(ad, store)
            assert not err and [i.outcome for i in sent] == ["delivered", "delivered"]


def test_parse_since() -> None:
    from datetime import datetime, timezone

    now = datetime(2025, 5, 10, tzinfo=timezone.utc)
    assert parse_since("7d", now) == datetime(2025, 5, 3, tzinfo=timezone.utc)
    assert parse_since("12h", now) == datetime(2025, 5, 9, 12, tzinfo=timezone.utc)
    assert parse_since("2025-05-01") == datetime(2025, 5, 1, tzinfo=timezone.utc)
    assert parse_since("2025-05-01T08:00Z") == datetime(2025, 5, 1, 8, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="ISO"):
        parse_since("last week")


def test_push_follows_the_artifacts_latest_scan(tmp_path: Path, ctx: Context) -> None:
    """A re-scan (new registry snapshot) makes a new scan of the same artifact; its decision is what goes out."""
    from dataclasses import replace

    from synthreview.pipeline import evaluate_inventory

    fake = FakeRestStore(items(1))
    with serve(fake) as base, RestAdapter.from_config(rest_config(base)) as ad, Store.open(tmp_path / "db") as store:
        [item], _ = sync(ad, store, ctx)
        push(ad, store)
        old = store.load_result(item.scan_id)
        ctx2 = replace(ctx, registry=replace(ctx.registry, snapshot_id="batch-2025-06"))
        new_id = store.record(evaluate_inventory(old.inventory, old.meta, ctx2), origin="rescan")
        assert new_id != item.scan_id
        sent, _ = push(ad, store)
        assert [(i.scan_id, i.outcome) for i in sent] == [(str(new_id), "delivered")]
    assert sorted(d["scan_id"] for d in fake.decisions.values()) == sorted([str(item.scan_id), str(new_id)])


def test_same_bytes_under_two_submissions_scan_once_and_both_get_decisions(tmp_path: Path, ctx: Context) -> None:
    from test_store_adapters import Item

    its = items(1)
    its.append(Item("s9", "com.example.faceswap", "2.0", its[0].data))  # resubmitted under a new id
    fake = FakeRestStore(its)
    with serve(fake) as base, RestAdapter.from_config(rest_config(base)) as ad, Store.open(tmp_path / "db") as store:
        got, _ = sync(ad, store, ctx)
        assert [i.outcome for i in got] == ["scanned", "skipped"] and got[0].scan_id == got[1].scan_id
        assert fake.hits("/files/s9.apk") == 0  # the bytes were known: no second download
        assert store.counts()["scans"] == 1
        sent, _ = push(ad, store)
        assert [i.outcome for i in sent] == ["delivered", "delivered"]
        assert [i.outcome for i in sync(ad, store, ctx)[0]] == ["skipped", "skipped"]
        assert push(ad, store) == ([], "")
    assert sorted(d["path"] for d in fake.decisions.values()) == ["/api/apps/s1/decision", "/api/apps/s9/decision"]

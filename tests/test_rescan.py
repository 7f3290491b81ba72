"""``synthreview rescan`` through ``main``: no artifact read, --changed vs --all, idempotence, the queue, workers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_store import counts, filed_meta, make_inventory, make_meta, make_result, record

from rules.policy import POLICIES_DIR
from synthreview.cli import main
from synthreview.store import Store


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> Any:
    capsys.readouterr()
    assert main(argv) == code
    return json.loads(capsys.readouterr().out)


@pytest.fixture()
def db(tmp_path: Path) -> str:
    """Six apps under the shipped rules and the demo registry: two takedowns, a reject, three lists."""
    path = str(tmp_path / "r.db")
    record(path,
           make_result(make_inventory("com.a.face", face=True), make_meta("listed")),
           make_result(make_inventory("com.b.face", face=True), make_meta("listed")),
           make_result(make_inventory("com.c.face", face=True), make_meta("submission")),
           *(make_result(make_inventory(f"com.plain{i}"), make_meta("listed")) for i in range(3)))
    return path


@pytest.fixture()
def lenient_policy(tmp_path: Path) -> str:
    """The default policy, but a listed app without a valid filing is suspended instead of taken down."""
    text = (POLICIES_DIR / "default.yaml").read_text(encoding="utf-8")
    old = "action: {submission: reject, listed: takedown}"
    assert text.count(old) == 1
    p = tmp_path / "lenient.yaml"
    p.write_text(text.replace(old, "action: {submission: reject, listed: suspend}"), encoding="utf-8")
    return str(p)


@pytest.fixture(autouse=True)
def no_artifact_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-scan never opens an artifact (the workers are forked, so they inherit this)."""
    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("an artifact was read during a re-scan")

    monkeypatch.setattr("synthreview.pipeline.read_artifact", refuse)
    monkeypatch.setattr("scanner.reader.read_artifact", refuse)


def test_nothing_changed_means_nothing_to_do(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = counts(db)
    out = run_json(capsys, ["rescan", "--db", db, "--format", "json", "--no-progress"])
    assert out["mode"] == "changed" and out["targets"] == 0 and out["changes"] == []
    out = run_json(capsys, ["rescan", "--all", "--db", db, "--format", "json", "--no-progress"])
    assert out["targets"] == 6 and out["new_scans"] == 0 and out["reused"] == 6 and out["changes"] == []
    assert counts(db) == before  # idempotent: not one row more


@pytest.mark.parametrize("workers", ["1", "2"])
def test_policy_change_reports_and_queues_decision_changes(db: str, lenient_policy: str, workers: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, ["rescan", "--changed", "--policy", lenient_policy, "--workers", workers, "--db", db,
                            "--format", "json", "--no-progress"])
    assert out["targets"] == 6 and out["new_scans"] == 6 and out["workers"] == min(int(workers), 6)
    moved = sorted((c["app_id"], c["old_action"], c["new_action"]) for c in out["changes"])
    assert moved == [("com.a.face", "takedown", "suspend"), ("com.b.face", "takedown", "suspend")]
    change = out["changes"][0]
    assert change["reasons"][0]["code"] == "filing_not_valid" and change["new_action_zh"] == "暂停服务"
    assert change["filing_status"] == "missing"
    assert {p["code"] for p in change["filing_problems"]} >= {"filing_missing"}
    with Store.open(db) as store:
        queued = store.queue_entries()
        assert {store.scan(s).app_id for s in queued} == {"com.a.face", "com.b.face"}  # type: ignore[union-attr]
        assert all(q.reason == "decision_changed" for qs in queued.values() for q in qs)
        new = store.scan(change["new_scan_id"])
        assert new is not None and new.origin == "rescan" and new.policy_id == "default"
    # under the new policy everything is current: --changed has nothing left, --all adds nothing
    out = run_json(capsys, ["rescan", "--policy", lenient_policy, "--db", db, "--format", "json", "--no-progress"])
    assert out["targets"] == 0
    before = counts(db)
    out = run_json(capsys, ["rescan", "--all", "--policy", lenient_policy, "--db", db, "--format", "json",
                            "--no-progress"])
    assert out["new_scans"] == 0 and counts(db) == before
    # the queue shows the new current scans
    items = run_json(capsys, ["triage", "list", "--db", db, "--format", "json"])
    assert [(i["app_id"], i["action"]) for i in items][:2] == [("com.c.face", "reject"), ("com.a.face", "suspend")]


def test_back_to_the_old_policy_reuses_the_old_scans(db: str, lenient_policy: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    first = counts(db)["scans"]
    run_json(capsys, ["rescan", "--policy", lenient_policy, "--db", db, "--format", "json", "--no-progress"])
    out = run_json(capsys, ["rescan", "--db", db, "--format", "json", "--no-progress"])
    assert out["targets"] == 6 and out["new_scans"] == 0 and out["reused"] == 6
    assert sorted(c["new_action"] for c in out["changes"]) == ["takedown", "takedown"]
    assert counts(db)["scans"] == first + 6
    with Store.open(db) as store:  # the artifacts point back at their original scans
        assert store.latest_scan_of_app("com.a.face") == 1


def test_change_is_measured_against_the_reviewer_decision(db: str, lenient_policy: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triage", "decide", "com.a.face", "--action", "suspend", "--note", "n", "--reviewer", "r",
                 "--db", db]) == 0
    out = run_json(capsys, ["rescan", "--policy", lenient_policy, "--db", db, "--format", "json", "--no-progress"])
    assert [c["app_id"] for c in out["changes"]] == ["com.b.face"]  # a: reviewer said suspend, policy now agrees


def test_table_output_and_progress_go_to_the_right_streams(db: str, lenient_policy: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["rescan", "--policy", lenient_policy, "--db", db]) == 0
    cap = capsys.readouterr()
    assert "decision changes 处置变化 (2)" in cap.out and "takedown → suspend" in cap.out
    assert "re-scanned 6 stored inventories" in cap.err and "re-scanned" not in cap.out


def test_art20_note_in_rescan_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "a.db")
    record(db, make_result(make_inventory("com.x.cam", "1.0", face=True), filed_meta()),
           make_result(make_inventory("com.x.cam", "2.0", face=True, tts=True), filed_meta()))
    out = run_json(capsys, ["rescan", "--all", "--db", db, "--format", "json", "--no-progress"])
    (flag,) = out["art20"]
    assert flag["capability"] == "speech_synthesis" and flag["article"] == "Art. 20"
    with Store.open(db) as store:
        (entry,) = store.queue_entries()[flag["current_scan_id"]]
        assert entry.reason == "art20"


def test_refusals(tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.db"
    assert main(["rescan", "--db", str(missing)]) == 1
    assert not missing.exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\ndecision: []\n", encoding="utf-8")
    assert main(["rescan", "--policy", str(bad), "--db", db]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["rescan", "--all", "--changed", "--db", db])
    assert exc.value.code == 2

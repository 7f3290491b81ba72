"""``synthreview triage list|show|decide`` through ``main``, and the Art. 20 version check."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from test_store import counts, filed_meta, make_inventory, make_meta, make_result, record

from synthreview.cli import main
from synthreview.store import Store
from synthreview.triage import ART20_EN, art20_flags


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> Any:
    capsys.readouterr()
    assert main(argv) == code
    return json.loads(capsys.readouterr().out)


@pytest.fixture()
def queue_db(tmp_path: Path) -> tuple[str, dict[str, int]]:
    """Five apps: takedown (oldest), reject, needs_review, list, and an old version of the takedown app."""
    db = str(tmp_path / "q.db")
    ids: dict[str, int] = {}
    ids["old"] = record(db, make_result(make_inventory("com.a.face", "0.9"), make_meta("listed")))[0]
    for name, inv, meta in (
        ("takedown", make_inventory("com.a.face", "1.0", face=True), make_meta("listed")),
        ("reject", make_inventory("com.b.face", face=True), make_meta("submission")),
        ("needs_review", make_inventory("com.c.broken", errors=True), make_meta("submission")),
        ("list", make_inventory("com.d.plain"), make_meta("listed")),
    ):
        time.sleep(0.002)  # distinct created_at
        ids[name] = record(db, make_result(inv, meta))[0]
    return db, ids


def test_list_orders_by_severity_then_age_and_skips_list_and_old_versions(
        queue_db: tuple[str, dict[str, int]], capsys: pytest.CaptureFixture[str]) -> None:
    db, ids = queue_db
    items = run_json(capsys, ["triage", "list", "--db", db, "--format", "json"])
    assert [(i["id"], i["action"]) for i in items] == [
        (ids["takedown"], "takedown"), (ids["reject"], "reject"), (ids["needs_review"], "needs_review")]
    top = items[0]
    assert top["app_id"] == "com.a.face" and top["version"] == "1.0" and top["channel"] == "listed"
    assert "filing_not_valid" in top["reasons"] and top["reviewed_by"] is None and top["age_seconds"] >= 0
    # table form on stdout, bare ``triage`` = ``triage list``
    capsys.readouterr()
    assert main(["triage", "--db", db]) == 0
    table = capsys.readouterr().out
    assert "triage queue" in table and "com.b.face" in table and "com.d.plain" not in table
    assert table.index("takedown") < table.index("needs_review")


def test_decide_overrides_validates_and_moves_the_queue(queue_db: tuple[str, dict[str, int]],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    db, ids = queue_db
    sid = str(ids["reject"])
    # suspend/takedown belong to listed apps; this one is a submission
    assert main(["triage", "decide", sid, "--action", "takedown", "--note", "n", "--reviewer", "r", "--db", db]) == 2
    assert "submission" in capsys.readouterr().err
    assert main(["triage", "decide", sid, "--action", "list", "--note", "  ", "--reviewer", "r", "--db", db]) == 2
    assert main(["triage", "decide", "999", "--action", "list", "--note", "n", "--reviewer", "r", "--db", db]) == 1
    with pytest.raises(SystemExit) as exc:
        main(["triage", "decide", sid, "--action", "delete", "--note", "n", "--db", db])
    assert exc.value.code == 2
    assert counts(db)["audit_log"] == 0  # nothing recorded by refused requests

    assert main(["triage", "decide", sid, "--action", "list", "--reviewer", "李四",
                 "--note", "SDK removed server-side, confirmed with the developer / 已确认服务端下线", "--db", db]) == 0
    assert "audit #1" in capsys.readouterr().out
    # an override to warn puts a listed app into the queue (effective action), by app id
    assert main(["triage", "decide", "com.d.plain", "--action", "warn", "--reviewer", "李四", "--note", "labels",
                 "--db", db]) == 0
    items = run_json(capsys, ["triage", "list", "--db", db, "--format", "json"])
    assert [i["id"] for i in items] == [ids["takedown"], ids["needs_review"], ids["list"]]
    warn = items[-1]
    assert warn["action"] == "warn" and warn["policy_action"] == "list" and warn["reviewed_by"] == "李四"
    pending = run_json(capsys, ["triage", "list", "--pending", "--db", db, "--format", "json"])
    assert [i["id"] for i in pending] == [ids["takedown"], ids["needs_review"]]
    shown = run_json(capsys, ["triage", "show", sid, "--db", db, "--format", "json"])
    assert shown["action"] == "list" and shown["policy_action"] == "reject"
    assert [d["source"] for d in shown["decisions"]] == ["policy", "reviewer"]
    assert main(["audit", "verify", "--db", db]) == 0


def test_reviewer_defaults_to_env(queue_db: tuple[str, dict[str, int]], monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    db, ids = queue_db
    monkeypatch.setenv("SYNTHREVIEW_REVIEWER", "reviewer-7")
    assert main(["triage", "decide", str(ids["takedown"]), "--action", "suspend", "--note", "n", "--db", db]) == 0
    with Store.open(db) as store:
        assert store.audit_entries()[0].reviewer == "reviewer-7"


def test_show_groups_evidence_and_lists_history(queue_db: tuple[str, dict[str, int]],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    db, ids = queue_db
    shown = run_json(capsys, ["triage", "show", "com.a.face", "--db", db, "--format", "json"])  # app id → latest
    assert shown["id"] == ids["takedown"]
    assert [(h["version"], h["policy_action"]) for h in shown["history"]] == [("0.9", "list"), ("1.0", "takedown")]
    assert shown["history"][1]["capabilities"] == ["face_manipulation"]
    (finding,) = [f for f in shown["report"]["findings"] if f["capability"] == "face_manipulation"]
    assert {e["locator"] for e in finding["evidence"]} >= {"app.apk!lib/arm64-v8a/libCNamaSDK.so"}
    assert shown["report"]["filings"]["status"] == "missing"
    capsys.readouterr()
    assert main(["triage", "show", str(ids["takedown"]), "--db", db]) == 0
    page = capsys.readouterr().out
    for text in ("takedown · 下架", "face_manipulation — deep synthesis 深度合成", "libCNamaSDK.so",
                 "filings 备案: missing", "compliance 义务", "version history 版本历史", "0.9"):
        assert text in page, text
    assert main(["triage", "show", "42", "--db", db]) == 1
    assert main(["triage", "show", "com.nope", "--db", db]) == 1


def test_commands_refuse_a_missing_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "none.db"
    assert main(["triage", "list", "--db", str(db)]) == 1
    assert main(["triage", "show", "1", "--db", str(db)]) == 1
    assert not db.exists()
    assert "no store" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ Art. 20


def test_art20_flags_a_capability_added_after_the_assessed_version(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    v1 = make_result(make_inventory("com.x.cam", "1.0", face=True), filed_meta())
    v2 = make_result(make_inventory("com.x.cam", "1.1", face=True, extra="b"), filed_meta())
    v3 = make_result(make_inventory("com.x.cam", "2.0", face=True, tts=True), filed_meta())
    ids = record(db, v1, v2, v3)
    with Store.open(db) as store:
        flags = art20_flags(store)
    (flag,) = flags["com.x.cam"]
    assert flag.capability == "speech_synthesis" and flag.assessed_version == "1.0"
    assert flag.assessed_scan_id == ids[0] and flag.introduced_version == "2.0" and flag.current_scan_id == ids[2]
    assert ART20_EN in flag.en and "第二十条" in flag.zh and flag.assessment_date == "2025-05-01"


def test_art20_baseline_moves_with_a_newer_assessment_and_needs_one(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    newer = filed_meta(assessed=date(2026, 3, 1))  # a new assessment declared with the TTS version
    record(db, make_result(make_inventory("com.x.cam", "1.0", face=True), filed_meta()),
           make_result(make_inventory("com.x.cam", "2.0", face=True, tts=True), newer),
           make_result(make_inventory("com.y.cam", "1.0", face=True), filed_meta(assessed=None)),
           make_result(make_inventory("com.y.cam", "2.0", face=True, tts=True), filed_meta(assessed=None)),
           make_result(make_inventory("com.z.cam", "1.0", face=True, tts=True), filed_meta()),
           make_result(make_inventory("com.z.cam", "2.0", face=True), filed_meta()))  # TTS removed
    with Store.open(db) as store:
        assert art20_flags(store) == {}


def test_art20_is_shown_by_triage_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "a.db")
    record(db, make_result(make_inventory("com.x.cam", "1.0", face=True), filed_meta()),
           make_result(make_inventory("com.x.cam", "2.0", face=True, tts=True), filed_meta()))
    shown = run_json(capsys, ["triage", "show", "com.x.cam", "--db", db, "--format", "json"])
    assert [n["capability"] for n in shown["notes"]] == ["speech_synthesis"]
    capsys.readouterr()
    assert main(["triage", "show", "com.x.cam", "--db", db]) == 0
    assert ART20_EN in capsys.readouterr().out.replace("\n", " ").replace("│", "").replace("  ", " ")

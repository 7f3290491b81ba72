"""The review workflow end to end (issue #7 acceptance 1 and 4), through ``synthreview.cli.main``.

1. Three versions of one app (FaceUnity in all, a TTS SDK added in the third) are scanned as a listed app
   with a valid filing; a CAC cancellation list cancelling that filing is imported; ``rescan`` turns the
   decisions into ``takedown`` citing the cancellation and flags the new function (Art. 20); a reviewer
   overrides it; the audit log verifies, then fails once a row is edited in SQLite directly.
4. A batch ``synthreview scan`` killed with SIGKILL mid-transaction leaves a consistent DB, and the same
   batch run again completes it without duplicate rows.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from rules.fixtures import _manifest_tree, build_apk, build_axml
from rules.loader import default_pack
from synthreview.cli import main

ROOT = Path(__file__).resolve().parent.parent
JIANYING = "网信算备110108823483901230015号"  # 剪映特效算法, 北京抖音信息服务有限公司, provider (seed row, CAC 2023-06)
DOUYIN = "北京抖音信息服务有限公司"
DS_HEADER = ["序号", "算法名称", "角色", "主体名称", "应用产品", "主要用途", "备案编号", "备注"]
FACEUNITY = {"native_libs": ["libCNamaSDK.so", "libfuai.so"], "classes": ["com.faceunity.wrapper.faceunity"],
             "assets": ["assets/graphics/face_beautification.bundle"]}
BAIDU_TTS = {"classes": ["com.baidu.tts.client.SpeechSynthesizer", "com.baidu.tts.client.TtsMode"],
             "native_libs": ["libbd_etts.so", "libBDSpeechDecoder_V1.so"]}
SHOWN = ["网信算备110108823483901230015号", "https://beian.cac.gov.cn/#/index", "内容由AI生成"]


def versioned_apk(spec: dict[str, Any], package: str, version: str, code: int) -> bytes:
    """``build_apk`` with a chosen versionName/versionCode (the fixture builder pins 1.0/1)."""
    raw = build_apk(spec, package)
    tree = _manifest_tree(spec, package)
    tree = (tree[0], [("", "package", package), ("android", "versionCode", code), ("android", "versionName", version)],
            tree[2])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, build_axml(tree) if info.filename == "AndroidManifest.xml" else src.read(info))
    return out.getvalue()


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> Any:
    capsys.readouterr()
    assert main(argv) == code
    return json.loads(capsys.readouterr().out)


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


# ------------------------------------------------------------------------------------------------ acceptance 1


def test_three_versions_cancellation_rescan_override_audit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "review.db")
    # The filing list as a store re-keys it: the real 2023-06 row of 剪映特效算法.
    ds_list = write_csv(tmp_path / "deep_synthesis_2023-06.csv", [
        DS_HEADER, ["9", "剪映特效算法", "服务提供者", DOUYIN, "西瓜视频（APP）、轻颜（APP）、剪映（APP）、抖音短视频（APP）等",
                    "", JIANYING, ""]])
    assert main(["registry", "import", str(ds_list), "--db", db]) == 0
    meta = tmp_path / "meta.yaml"
    meta.write_text(
        "app_name: 剪映\n"
        f"developer: {DOUYIN}\n"
        "app_id: com.lemon.lv\n"
        "declares_aigc: true\n"
        f"filings: [\"{JIANYING}\"]\n"
        "assessments: [{id: A-2025-001, issuer: 全国互联网安全管理服务平台, date: 2025-05-01,"
        " covers: [face_manipulation]}]\n"
        "channel: listed\n", encoding="utf-8")
    specs = [
        ("1.0", 100, {**FACEUNITY, "strings": SHOWN, "label": "剪映"}),
        ("1.1", 110, {**FACEUNITY, "strings": [*SHOWN, "v1.1"], "label": "剪映"}),
        ("2.0", 200, {"classes": FACEUNITY["classes"] + BAIDU_TTS["classes"],
                      "native_libs": FACEUNITY["native_libs"] + BAIDU_TTS["native_libs"],
                      "assets": FACEUNITY["assets"], "strings": SHOWN, "label": "剪映"}),
    ]
    scan_ids = []
    for version, code, spec in specs:
        apk = tmp_path / f"jianying-{version}.apk"
        apk.write_bytes(versioned_apk(spec, "com.lemon.lv", version, code))
        report = run_json(capsys, ["scan", str(apk), "--meta", str(meta), "--db", db, "--format", "json"])
        assert report["artifact"]["version"] == version
        assert report["filings"]["status"] == "valid"  # a real number + entity + product: the filing holds
        assert report["decision"]["action"] != "takedown"
        assert report["provenance"]["registry_demo"] is False
    caps = {f["capability"] for f in report["findings"]}
    assert {"face_manipulation", "speech_synthesis"} <= caps

    queue = run_json(capsys, ["triage", "list", "--db", db, "--format", "json"])
    assert [i["version"] for i in queue] == ["2.0"]  # only the current version of the app is queued
    before = queue[0]["action"]

    # A CAC cancellation notice, as a .csv: the filing is cancelled.
    notice = write_csv(tmp_path / "cancellations-2026-01.csv",
                       [["备案编号", "算法名称", "主体名称", "注销时间"], [JIANYING, "剪映特效算法", DOUYIN, "2026-01-15"]])
    assert main(["registry", "import", str(notice), "--db", db]) == 0
    for apk in tmp_path.glob("*.apk"):
        apk.unlink()  # the re-scan must not need a single artifact

    out = run_json(capsys, ["rescan", "--db", db, "--format", "json", "--no-progress"])
    assert out["mode"] == "changed" and out["targets"] == 3 and out["new_scans"] == 3
    changes = {c["version"]: c for c in out["changes"]}
    assert set(changes) == {"1.0", "1.1", "2.0"}
    latest = changes["2.0"]
    assert latest["old_action"] == before and latest["new_action"] == "takedown"
    assert latest["filing_status"] == "cancelled"
    top = latest["reasons"][0]
    assert top["code"] == "filing_not_valid" and "cancelled" in top["en"] and "第十三条" in top["zh"]
    cancelled = [p for p in latest["filing_problems"] if p["code"] == "registry_cancelled"]
    assert cancelled and JIANYING in cancelled[0]["en"] and "注销" in cancelled[0]["zh"]
    (flag,) = out["art20"]
    assert flag["capability"] == "speech_synthesis" and flag["assessed_version"] == "1.0"
    assert flag["introduced_version"] == "2.0" and "Art. 20" in flag["en"]

    # The human-readable output names the change and the Art. 20 note.
    capsys.readouterr()
    assert main(["rescan", "--all", "--db", db, "--no-progress"]) == 0  # idempotent: nothing new
    text = capsys.readouterr().out
    assert "no decision changed" in text and "new deep-synthesis function since last assessment (Art. 20)" in text

    queue = run_json(capsys, ["triage", "list", "--db", db, "--format", "json"])
    (item,) = queue
    sid = item["id"]
    assert sid == latest["new_scan_id"] and item["action"] == "takedown"
    assert {q["reason"] for q in item["queued"]} == {"decision_changed", "art20"}

    shown = run_json(capsys, ["triage", "show", str(sid), "--db", db, "--format", "json"])
    assert shown["action"] == "takedown" and shown["origin"] == "rescan"
    assert [n["capability"] for n in shown["notes"]] == ["speech_synthesis"]
    assert [h["version"] for h in shown["history"] if h["latest_of_artifact"]] == ["1.0", "1.1", "2.0"]
    evidence = {f["capability"]: f["evidence"] for f in shown["report"]["findings"]}
    assert any(e["locator"].endswith("lib/arm64-v8a/libCNamaSDK.so") for e in evidence["face_manipulation"])
    capsys.readouterr()
    assert main(["triage", "show", str(sid), "--db", db]) == 0
    page = capsys.readouterr().out
    assert "face_manipulation — deep synthesis" in page and "version history" in page and "Art. 20" in page

    # Override: reject is a submission-channel action, refused for a listed app.
    assert main(["triage", "decide", str(sid), "--action", "reject", "--note", "x", "--db", db]) == 2
    assert main(["triage", "decide", str(sid), "--action", "suspend", "--reviewer", "王审核",
                 "--note", "主体已重新备案，等待清单更新 / entity re-filed, awaiting the next list", "--db", db]) == 0
    shown = run_json(capsys, ["triage", "show", str(sid), "--db", db, "--format", "json"])
    assert shown["action"] == "suspend" and shown["policy_action"] == "takedown"
    assert shown["decisions"][-1]["source"] == "reviewer" and shown["decisions"][-1]["reviewer"] == "王审核"

    capsys.readouterr()
    assert main(["audit", "verify", "--db", db]) == 0
    assert "audit log OK" in capsys.readouterr().out

    con = sqlite3.connect(db)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute("UPDATE audit_log SET note = 'approved' WHERE id = 1")
    con.execute("DROP TRIGGER audit_log_no_update")  # someone with file access edits the log anyway
    con.execute("UPDATE audit_log SET action = 'list', note = 'approved' WHERE id = 1")
    con.commit()
    con.close()
    capsys.readouterr()
    assert main(["audit", "verify", "--db", db]) == 1
    out_text = capsys.readouterr().out
    assert "BROKEN" in out_text and "#1" in out_text and "edited" in out_text


# ------------------------------------------------------------------------------------------------ acceptance 4

_SLOW_SCAN = """
import sys, time
from synthreview import store
_write = store.Store.write
def slow_write(self, p, origin):
    out = _write(self, p, origin)
    time.sleep(0.4)  # the transaction is still open: a kill now lands mid-transaction
    return out
store.Store.write = slow_write
from synthreview.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _batch(tmp_path: Path, n: int = 10) -> list[str]:
    """``n`` different fixture APKs: the positive fixtures of the first rules that build APKs."""
    paths = []
    for rule in default_pack().rules:
        spec = rule.fixtures.get("positive")
        if not spec or "mp" in spec:
            continue
        p = tmp_path / f"app{len(paths):02d}.apk"
        p.write_bytes(build_apk(spec, f"com.batch.app{len(paths):02d}"))
        paths.append(str(p))
        if len(paths) == n:
            break
    return paths


def _count(db: Path, sql: str) -> int:
    con = sqlite3.connect(db, timeout=30)
    try:
        return int(con.execute(sql).fetchone()[0])
    finally:
        con.close()


def test_batch_scan_killed_mid_run_then_completed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _batch(tmp_path)
    assert len(paths) == 10
    db = tmp_path / "batch.db"
    env = {k: v for k, v in os.environ.items() if k != "SYNTHREVIEW_DB"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_SCAN, "scan", *paths, "--db", str(db), "--format", "json"],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    committed = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            committed = _count(db, "SELECT count(*) FROM scans")
        except sqlite3.OperationalError:  # not created yet
            committed = 0
        if committed >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"batch finished before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    n = con.execute("SELECT count(*) FROM scans").fetchone()[0]
    assert 3 <= n < 10  # some scans committed, the one in flight rolled back
    # every committed scan is whole: its decision, filing check, artifact and inventory are there
    assert con.execute("SELECT count(*) FROM decisions WHERE source = 'policy'").fetchone()[0] == n
    assert con.execute("SELECT count(*) FROM filing_checks").fetchone()[0] == n
    assert con.execute("SELECT count(*) FROM artifacts").fetchone()[0] == n
    assert con.execute("SELECT count(*) FROM inventories").fetchone()[0] == n
    first = con.execute("SELECT id, scan_key FROM scans ORDER BY id").fetchall()
    con.close()

    assert main(["scan", *paths, "--db", str(db), "--format", "json"]) == 0
    capsys.readouterr()
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT count(*), count(DISTINCT scan_key) FROM scans").fetchone() == (10, 10)
    for table in ("artifacts", "inventories", "filing_checks"):
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 10, table
    assert con.execute("SELECT count(*) FROM decisions").fetchone()[0] == 10
    assert con.execute("SELECT count(*), count(DISTINCT sha256) FROM artifacts").fetchone() == (10, 10)
    assert con.execute("SELECT id, scan_key FROM scans ORDER BY id LIMIT ?", (len(first),)).fetchall() == first
    con.close()
    # and once more: nothing changes
    assert main(["scan", *paths, "--db", str(db), "--format", "json"]) == 0
    capsys.readouterr()
    assert _count(db, "SELECT count(*) FROM scans") == 10

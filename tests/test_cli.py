"""Every CLI command through main(argv): report on stdout, logs on stderr, exit codes per DESIGN.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from synthreview.cli import main

FIX = Path(__file__).resolve().parent / "fixtures"
ROOT = Path(__file__).resolve().parent.parent


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    assert "scan" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["scan", "--help"])
    assert e.value.code == 0
    assert "--meta" in capsys.readouterr().out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "COMMAND" in capsys.readouterr().out


def test_python_m_synthreview() -> None:
    out = subprocess.run([sys.executable, "-m", "synthreview", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and "synthreview" in out.stdout
    assert "compiled core:" in out.stdout  # reviewers can tell whether the fast inventory core is in use


def test_scan_demo_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--no-db", "--format", "json"]) == 0
    cap = capsys.readouterr()
    report = json.loads(cap.out)  # stdout is pure JSON
    assert report["artifact"]["app_id"] == "com.example.synthdemo"
    assert report["decision"]["action"] == "reject"
    assert "embedded demo" in cap.err


def test_scan_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--no-db", "--format", "json", str(FIX / "apk/demo_faceapp.apk")]) == 0
    r = json.loads(capsys.readouterr().out)
    for key in ("schema_version", "artifact", "findings", "filings", "decision", "compliance", "errors", "provenance"):
        assert key in r
    f = next(x for x in r["findings"] if x["rule_id"] == "face_manipulation.faceunity_nama")
    assert f["confidence"] == "high"
    assert any(e["locator"].endswith("!lib/arm64-v8a/libCNamaSDK.so") for e in f["evidence"])
    assert r["provenance"]["rules_sha256"] and r["provenance"]["registry_snapshot"]


def test_scan_several_gives_list(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(FIX / "apk/demo_faceapp.apk"), str(FIX / "apk/plain_app.apk")]
    assert main(["scan", "--no-db", "--format", "json", *paths]) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, list) and len(data) == 2
    assert data[1]["decision"]["action"] == "list"


def test_scan_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--no-db", str(FIX / "apk/obfuscated_faceapp.apk")]) == 0
    out = capsys.readouterr().out
    assert "face_manipulation" in out and "不予上架" in out


def test_scan_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    assert main(["scan", "--no-db", "--format", "json", "-o", str(out), str(FIX / "apk/plain_app.apk")]) == 0
    assert json.loads(out.read_text())["decision"]["action"] == "list"
    assert capsys.readouterr().out == ""


def test_inventory_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inventory", str(FIX / "apk/demo_faceapp.apk")]) == 0
    inv = json.loads(capsys.readouterr().out)
    for key in ("artifact", "manifest", "classes", "native_libs", "entries", "strings", "certificates", "errors"):
        assert key in inv
    assert inv["manifest"]["package"] == "com.example.synthdemo"
    assert "com.faceunity.wrapper.faceunity" in inv["classes"]
    lib = next(x for x in inv["native_libs"] if x["path"].endswith("libCNamaSDK.so"))
    assert {"path", "abi", "soname", "needed", "exports"} <= set(lib)
    assert inv["certificates"][0]["subject"] and inv["certificates"][0]["sha256"]


def test_inventory_of_garbage_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "x.apk"
    p.write_text("not an apk")
    assert main(["inventory", str(p)]) == 1
    inv = json.loads(capsys.readouterr().out)
    assert inv["artifact"]["kind"] == "unknown" and inv["errors"]


@pytest.mark.parametrize(
    "apk,code",
    [("apk/demo_faceapp.apk", 4), ("apk/plain_app.apk", 0)],
)
def test_hook_exit_codes(apk: str, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hook", "--no-db", str(FIX / apk)]) == code
    assert json.loads(capsys.readouterr().out)["decision"]["exit_code"] == code


def test_hook_broken_artifact_needs_review(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = (FIX / "apk/demo_faceapp.apk").read_bytes()
    p = tmp_path / "truncated.apk"
    p.write_bytes(data[: len(data) // 2])
    assert main(["hook", "--no-db", str(p)]) == 3
    r = json.loads(capsys.readouterr().out)
    assert r["decision"]["action"] == "needs_review" and r["errors"]


def test_meta_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = tmp_path / "meta.yaml"
    m.write_text("unknown_key: 1\n")
    with pytest.raises(SystemExit) as e:
        main(["hook", "--no-db", "--meta", str(m), str(FIX / "apk/plain_app.apk")])
    assert e.value.code == 2
    assert "meta" in capsys.readouterr().err


def test_rules_commands(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["rules", "lint"]) == 0
    assert "ok:" in capsys.readouterr().out
    assert main(["rules", "explain", "face_manipulation.faceunity_nama"]) == 0
    assert "libCNamaSDK.so" in capsys.readouterr().out
    assert main(["rules", "explain", "no.such_rule"]) == 1
    assert main(["rules", "list", "--format", "json", "--capability", "face_manipulation"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed and all(r["category"] == "face_manipulation" for r in listed)
    assert main(["rules", "test", "face_manipulation.faceunity_nama"]) == 0
    assert "2 passed, 0 failed" in capsys.readouterr().out

"""The hostile-input suite: every case of ``hostile_factory.CASES`` through the real CLI (isolated workers).

For each case: no crash (exit 0, a JSON report), no hang beyond the configured limit, nothing written outside
the scanner's private temp dir (the test's whole tree, the cwd and the temp root are compared before and
after), and the decision is ``needs_review`` with an error naming the stage. Registry files (operator imports)
and text that drives the string scanners into quadratic time are checked here too.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import pytest
from hostile_factory import CASES, REGISTRY_CASES, elf_non_utf8_names

from filings.registry import RegistryImportError, parse_registry_file
from rules.fixtures import build_apk
from synthreview import isolation
from synthreview.cli import main

#: The limits the suite runs under (what "no hang beyond the configured limit" is measured against).
TIMEOUT = 30
MEMORY = "1024"


@pytest.fixture(scope="module", autouse=True)
def _server() -> None:
    isolation.start_server()  # before tests point tempfile at their own folders


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("hostile")
    for name, case in CASES.items():
        (d / name).write_bytes(case.build())
    return d


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``roots`` with its size and mtime (files) — what "nothing written" compares."""
    out: dict[str, tuple[int, int]] = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for n in dirnames + filenames:
                p = os.path.join(dirpath, n)
                st = os.lstat(p)
                out[p] = (st.st_size if not os.path.isdir(p) else 0, st.st_mtime_ns if not os.path.isdir(p) else 0)
    return out


def scan_json(paths: list[Path], capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[list[dict], float]:  # type: ignore[type-arg]
    t = time.monotonic()
    rc = main(["scan", "--no-db", "--format", "json", "--timeout", str(TIMEOUT), "--max-memory", MEMORY, *extra,
               *map(str, paths)])
    elapsed = time.monotonic() - t
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    return (out if isinstance(out, list) else [out]), elapsed


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_case(name: str, built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    case = CASES[name]
    private = tmp_path / "tmp"
    cwd = tmp_path / "cwd"
    private.mkdir()
    cwd.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    monkeypatch.chdir(cwd)
    monkeypatch.delenv(isolation.ENV_TEST_HOOK, raising=False)
    escape = Path("/tmp/synthreview-escape.so")
    existed = escape.exists()
    before = snapshot(tmp_path, built)
    [report], elapsed = scan_json([built / name], capsys)
    assert elapsed < TIMEOUT + 10, f"{name} took {elapsed:.1f} s"
    assert snapshot(tmp_path, built) == before, "something was written"
    assert escape.exists() == existed and not Path("/etc/synthreview-abs").exists()
    assert report["decision"]["action"] == "needs_review", (name, report["errors"])
    stages = {e["stage"] for e in report["errors"]}
    assert stages & case.stages, f"{name} ({case.why}): expected an error in {sorted(case.stages)}, got {report['errors']}"
    assert all(e["stage"] and e["message"] for e in report["errors"])


def test_all_cases_in_one_batch(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """The whole catalogue in one batch, plus a clean app after it: the batch finishes and the clean app is read."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv(isolation.ENV_TEST_HOOK, raising=False)
    clean = tmp_path / "clean.apk"
    clean.write_bytes(build_apk({"classes": ["com.clean.Main"]}))
    reports, _ = scan_json([*(built / n for n in sorted(CASES)), clean], capsys)
    assert [r["decision"]["action"] for r in reports[:-1]] == ["needs_review"] * len(CASES)
    assert reports[-1]["decision"]["action"] == "list" and reports[-1]["errors"] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.apk"]


# --- text that drove the string scanners quadratic (found while building this suite) --------------------


@pytest.mark.parametrize("text", [
    "http://a/" * 250_000,  # every "://" re-matched the rest of one long URL path
    "网信算备" + " " * 2_000_000,  # \s*[:：]?\s* backtracked over the whole blank run
], ids=["url_path_flood", "filing_blank_run"])
def test_string_scanner_bombs_finish(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    apk = tmp_path / "text.apk"
    apk.write_bytes(build_apk({"classes": ["com.text.Main"], "strings": [text[:60_000]],
                               "assets": [{"path": "assets/app.js", "text": text}]}))
    [report], elapsed = scan_json([apk], capsys)
    assert elapsed < 20, f"{elapsed:.1f} s"
    assert not any(e["stage"] in ("limits", "worker") for e in report["errors"])


def test_non_utf8_elf_names_stay_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """lief returns ``bytes`` for names that are not UTF-8; they used to reach the Inventory as bytes, which
    broke its JSON (the worker's result, the report, the store). Now they are text with U+FFFD."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    apk = tmp_path / "names.apk"
    apk.write_bytes(elf_non_utf8_names())
    inv = isolation.read_isolated(apk)
    assert not [e for e in inv.errors if e.stage in ("worker", "internal", "limits")], inv.errors
    [lib] = inv.native_libs
    assert "\ufffd" in lib.soname and any("\ufffd" in x for x in lib.exports) and any("\ufffd" in x for x in lib.needed)
    [report], _ = scan_json([apk], capsys)
    assert not [e for e in report["errors"] if e["stage"] in ("worker", "internal")]


# --- registry imports (the operator's files; python-docx/openpyxl parse XML with lxml/defusedxml) --------


@pytest.mark.parametrize("name", sorted(REGISTRY_CASES))
def test_registry_file_refused_without_expansion(name: str, tmp_path: Path) -> None:
    p = tmp_path / name
    p.write_bytes(REGISTRY_CASES[name]())
    tracemalloc.start()
    t = time.monotonic()
    try:
        with pytest.raises(RegistryImportError) as exc:
            parse_registry_file(p)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - t < 10
    assert peak < 64 * 1024**2, f"peak {peak / 2**20:.0f} MiB"
    assert "root:" not in str(exc.value)  # the external entity was never read


def test_docx_external_entity_not_resolved(tmp_path: Path) -> None:
    """python-docx parses with ``resolve_entities=False``: ``&xxe;`` stays unexpanded, /etc/passwd is never read."""
    import io

    import docx

    doc = docx.Document(io.BytesIO(REGISTRY_CASES["external_entity.docx"]()))
    text = "".join(p.text for p in doc.paragraphs)
    assert "root:" not in text


def test_registry_import_cli_refuses_bomb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "zip_bomb.docx"
    p.write_bytes(REGISTRY_CASES["zip_bomb.docx"]())
    db = tmp_path / "r.db"
    rc = main(["registry", "import", str(p), "--db", str(db)])
    assert rc != 0
    assert "zip bomb" in capsys.readouterr().err.replace("\n", " ")

"""``synthreview audit verify|list``: the hash chain catches edited, deleted and re-ordered rows."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from test_store import make_inventory, make_meta, make_result, record

from synthreview.cli import main
from synthreview.store import GENESIS_HASH, Store, audit_hash


@pytest.fixture()
def db(tmp_path: Path) -> str:
    """A store with one listed takedown and three reviewer decisions on it."""
    path = str(tmp_path / "audit.db")
    (sid,) = record(path, make_result(make_inventory("com.a.face", face=True), make_meta("listed")))
    for action, who in (("suspend", "alice"), ("warn", "bob"), ("takedown", "张三")):
        assert main(["triage", "decide", str(sid), "--action", action, "--note", f"{who} says {action} / 理由",
                     "--reviewer", who, "--db", path]) == 0
    return path


def tamper(db: str, *sql: str) -> None:
    """Edit the log the way someone with the file would: drop the guard triggers, then write."""
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    con.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    for s in sql:
        con.execute(s)
    con.commit()
    con.close()


def verify(db: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    capsys.readouterr()
    code = main(["audit", "verify", "--db", db, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_chain_verifies_and_lists(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = verify(db, capsys)
    assert code == 0 and out["ok"] is True and out["entries"] == 3
    capsys.readouterr()
    assert main(["audit", "list", "--db", db, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["reviewer"] for r in rows] == ["alice", "bob", "张三"]
    prev = GENESIS_HASH
    for r in rows:  # each row seals the one before it
        assert r["prev_hash"] == prev
        payload = {k: r[k] for k in ("id", "at", "reviewer", "scan_id", "app_id", "action", "note")}
        assert r["hash"] == audit_hash(prev, payload)
        prev = r["hash"]
    assert out["head"] == prev
    capsys.readouterr()
    assert main(["audit", "--db", db]) == 0  # bare ``audit`` = verify
    assert "audit log OK" in capsys.readouterr().out


def test_empty_log_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "e.db")
    Store.open(path).close()
    code, out = verify(path, capsys)
    assert code == 0 and out["entries"] == 0 and out["head"] == GENESIS_HASH


def test_the_log_refuses_plain_updates_and_deletes(db: str) -> None:
    con = sqlite3.connect(db)
    for sql in ("UPDATE audit_log SET note = 'x' WHERE id = 2", "DELETE FROM audit_log WHERE id = 3"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute(sql)
    con.close()


@pytest.mark.parametrize(("sql", "row", "problem"), [
    (["UPDATE audit_log SET note = 'approved' WHERE id = 2"], 2, "edited"),
    (["UPDATE audit_log SET reviewer = 'mallory' WHERE id = 1"], 1, "edited"),
    (["DELETE FROM audit_log WHERE id = 2"], 3, "deleted"),
    (["DELETE FROM audit_log WHERE id = 3"], 3, "truncated"),
    # a changed hash no longer matches the row's content
    (["UPDATE audit_log SET hash = (CASE WHEN hash LIKE 'f%' THEN '0' ELSE 'f' END) || substr(hash, 2)"
      " WHERE id = 1"], 1, "edited"),
    (["UPDATE decisions SET note = 'quietly changed' WHERE source = 'reviewer' AND audit_id = 2"], 2,
     "decision_mismatch"),
])
def test_tampering_is_detected_at_the_first_bad_row(db: str, sql: list[str], row: int, problem: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    tamper(db, *sql)
    code, out = verify(db, capsys)
    assert code == 1 and out["ok"] is False
    assert out["problem"]["row_id"] == row and out["problem"]["problem"] == problem  # type: ignore[index]
    capsys.readouterr()
    assert main(["audit", "verify", "--db", db]) == 1
    text = capsys.readouterr().out
    assert "BROKEN" in text and f"#{row}" in text and "篡改" in text


def test_a_rehashed_edit_is_caught_by_the_next_link(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with Store.open(db) as store:
        e = store.audit_entries()[1]
    forged = dict(e.payload(), note="forged")
    new_hash = audit_hash(e.prev_hash, forged)
    tamper(db, f"UPDATE audit_log SET note = 'forged', hash = '{new_hash}' WHERE id = 2")
    code, out = verify(db, capsys)
    problem = out["problem"]
    assert code == 1 and problem["row_id"] == 3 and problem["problem"] == "link_broken"  # type: ignore[index]


def test_missing_store(tmp_path: Path) -> None:
    assert main(["audit", "verify", "--db", str(tmp_path / "none.db")]) == 1
    assert not (tmp_path / "none.db").exists()

"""The SQLite store: migrations, WAL, idempotent atomic recording, round trips, the hook cache, DB location.

Inventories are built in code (scanner.model dataclasses) and evaluated by the real pipeline; the helpers
here are shared with test_triage.py and test_rescan.py.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from filings.meta import Assessment, Channel, SubmissionMeta
from reports.model import ScanResult
from rules.fixtures import build_apk
from scanner.model import (
    Artifact,
    ArtifactKind,
    DexFile,
    Inventory,
    Located,
    Manifest,
    NativeLib,
    ScanError,
    StringsOfInterest,
)
from scanner.serialize import to_data
from synthreview.cli import main
from synthreview.pipeline import Context, evaluate_inventory, scan_path
from synthreview.store import MIGRATIONS, Store, StoreError, prepare

CTX = Context.default()  # shipped packs + policy, the demo seed registry
JIANYING = "网信算备110108823483901230015号"
DOUYIN = "北京抖音信息服务有限公司"


def make_inventory(app_id: str = "com.example.cam", version: str = "1.0", *, face: bool = False, tts: bool = False,
                   errors: bool = False, extra: str = "") -> Inventory:
    """A small APK inventory; the sha256 follows the content, like a real file's would."""
    classes = [f"{app_id}.MainActivity", f"{app_id}.ui.Screen{extra}"]
    libs: list[NativeLib] = []
    if face:
        classes.append("com.faceunity.wrapper.faceunity")
        libs += [NativeLib(f"app.apk!lib/arm64-v8a/{s}", "arm64-v8a", s, 1000, "0" * 64) for s in
                 ("libCNamaSDK.so", "libfuai.so")]
    if tts:
        classes += ["com.baidu.tts.client.SpeechSynthesizer", "com.baidu.tts.client.TtsMode"]
        libs.append(NativeLib("app.apk!lib/arm64-v8a/libbd_etts.so", "arm64-v8a", "libbd_etts.so", 1000, "1" * 64))
    import hashlib

    sha = hashlib.sha256(f"{app_id}|{version}|{face}|{tts}|{errors}|{extra}".encode()).hexdigest()
    return Inventory(
        artifact=Artifact(f"/apps/{app_id}-{version}.apk", sha, ArtifactKind.APK, 12345, app_id, version, "示例相机"),
        manifest=Manifest(package=app_id, version_name=version, version_code=version.replace(".", ""), label="示例相机"),
        dex=(DexFile("app.apk!classes.dex", 100, "2" * 64, "035", tuple(sorted(classes))),),
        native_libs=tuple(libs),
        strings=StringsOfInterest(filings=(Located(JIANYING, "app.apk!classes.dex"),) if face else ()),
        errors=(ScanError("dex", "app.apk!classes2.dex", "truncated"),) if errors else (),
    )


def make_meta(channel: str = "listed", **kw: object) -> SubmissionMeta:
    base: dict[str, object] = {"channel": Channel(channel)}
    base.update(kw)
    return SubmissionMeta(**base)  # type: ignore[arg-type]


def filed_meta(channel: str = "listed", assessed: date | None = date(2025, 5, 1), **kw: object) -> SubmissionMeta:
    """Declares the real 剪映 filing (valid against the seed registry) and optionally an assessment."""
    assessments = (Assessment("A-1", "全国互联网安全管理服务平台", assessed, ("face_manipulation",)),) if assessed else ()
    return make_meta(channel, app_name="剪映", developer=DOUYIN, declares_aigc=True, filings=(JIANYING,),
                     assessments=assessments, **kw)


def make_result(inv: Inventory, meta: SubmissionMeta | None = None, ctx: Context = CTX) -> ScanResult:
    return evaluate_inventory(inv, meta, ctx)


def record(db: Path | str, *results: ScanResult) -> list[int]:
    with Store.open(db) as store:
        return [store.record(r) for r in results]


def counts(db: Path | str) -> dict[str, int]:
    with Store.open(db) as store:
        return store.counts()


# ------------------------------------------------------------------------------------------------ schema


def test_migrations_are_named_applied_once_wal_and_foreign_keys(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store.open(db) as store:
        assert store.applied_migrations() == ("0001_registry_tables", "0002_review_store")
        assert store.db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        names = set(store.db.table_names())
    assert {"apps", "artifacts", "inventories", "scans", "findings", "filing_checks", "decisions", "audit_log",
            "review_queue", "registry_batches", "registry_rows", "registry_cancellations", "_migrations"} <= names
    with Store.open(db) as store:  # again: nothing re-applied
        rows = store.db.conn.execute("SELECT name FROM _migrations ORDER BY id").fetchall()
    assert [r[0] for r in rows] == [m.name for m in MIGRATIONS._migrations]


def test_opens_a_db_that_only_has_registry_tables(tmp_path: Path) -> None:
    db = tmp_path / "reg.db"
    csv_file = tmp_path / "ds.csv"
    csv_file.write_text("序号,算法名称,角色,主体名称,应用产品,主要用途,备案编号,备注\n"
                        f"9,剪映特效算法,服务提供者,{DOUYIN},剪映（APP）,,{JIANYING},\n", encoding="utf-8")
    assert main(["registry", "import", str(csv_file), "--db", str(db)]) == 0
    with Store.open(db) as store:
        assert store.db.table("registry_rows").count == 1
        assert "scans" in store.db.table_names()


def test_open_refuses_missing_or_non_db(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store"):
        Store.open(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        Store.open(bad)


# ------------------------------------------------------------------------------------------------ recording


def test_record_writes_every_table_and_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    r = make_result(make_inventory(face=True), filed_meta())
    (sid,) = record(db, r)
    first = counts(db)
    assert first["scans"] == first["artifacts"] == first["inventories"] == first["apps"] == 1
    assert first["decisions"] == first["filing_checks"] == 1 and first["findings"] >= 1
    assert record(db, r, r) == [sid, sid]  # same key: same id, nothing new
    assert counts(db) == first
    with Store.open(db) as store:
        row = store.scan(sid)
        assert row is not None and row.app_id == "com.example.cam" and row.version == "1.0"
        assert row.channel == "listed" and row.action is r.decision.action
        assert row.registry_snapshot == CTX.registry.snapshot_id and row.rules_sha256 == CTX.pack.sha256
        assert row.meta == r.meta
        caps = store.db.conn.execute("SELECT capability, confidence FROM findings WHERE scan_id = ?", (sid,)).fetchall()
        assert ("face_manipulation", "high") in caps
        (status,) = store.db.conn.execute("SELECT status FROM filing_checks WHERE scan_id = ?", (sid,)).fetchone()
        assert status == r.filings.status.value  # type: ignore[union-attr]
        (d,) = store.decisions(sid)
        assert d.source == "policy" and d.action is r.decision.action and d.reasons == r.decision.reasons


def test_a_new_key_part_makes_a_new_scan_but_shares_the_artifact(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    inv = make_inventory(face=True)
    other_registry = dataclasses.replace(CTX, registry=dataclasses.replace(CTX.registry, snapshot_id="f" * 64))
    ids = record(db, make_result(inv, filed_meta()), make_result(inv, filed_meta("submission")),
                 make_result(inv, filed_meta(), other_registry))
    assert len(set(ids)) == 3
    c = counts(db)
    assert c["scans"] == 3 and c["artifacts"] == 1 and c["inventories"] == 1
    with Store.open(db) as store:  # the artifact points at its most recent evaluation
        assert store.latest_scan_of_app("com.example.cam") == ids[2]
        assert store.record(make_result(inv, filed_meta())) == ids[0]
        assert store.latest_scan_of_app("com.example.cam") == ids[0]


def test_stored_result_round_trips(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    r = make_result(make_inventory(face=True, tts=True, errors=True), filed_meta())
    (sid,) = record(db, r)
    with Store.open(db) as store:
        back = store.load_result(sid)
        assert store.load_inventory(r.inventory.artifact.sha256) == r.inventory
    assert back == r
    assert to_data(back) == to_data(r)


def test_all_writes_of_a_scan_are_one_transaction(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    good = prepare(make_result(make_inventory(face=True), filed_meta()))
    # rule_id is NOT NULL: the findings insert fails after the app, artifact, inventory and scan rows went in
    bad_finding = (None, "x", None, "sdk", "high", 1, True, False)
    broken = dataclasses.replace(good, findings=(bad_finding,))  # type: ignore[arg-type]
    with Store.open(db) as store:
        with pytest.raises(sqlite3.IntegrityError):
            store.record_prepared(broken)
        assert store.counts() == dict.fromkeys(store.counts(), 0)
        assert store.record_prepared(good) == (1, True)


def _race(db: str, n: int) -> list[int]:
    r = make_result(make_inventory(face=True), filed_meta())
    with Store.open(db) as store:
        return [store.record(r) for _ in range(n)]


def test_concurrent_writers_record_one_scan(tmp_path: Path) -> None:
    db = str(tmp_path / "race.db")
    Store.open(db).close()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        ids = pool.starmap(_race, [(db, 15), (db, 15)])
    assert len({i for chunk in ids for i in chunk}) == 1
    assert counts(db)["scans"] == 1


# ------------------------------------------------------------------------------------------------ hook cache


def test_cached_result_returns_the_stored_result_without_parsing(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    apk = tmp_path / "cam.apk"
    apk.write_bytes(build_apk({"native_libs": ["libCNamaSDK.so", "libfuai.so"]}, "com.example.cam"))
    meta = filed_meta()
    db = tmp_path / "s.db"
    with Store.open(db) as store:
        assert store.cached_result(apk, meta, CTX) is None
        result = scan_path(apk, meta, CTX)
        store.record(result)

        def no_parsing(*a: object, **k: object) -> None:
            raise AssertionError("the artifact was parsed")

        monkeypatch.setattr("synthreview.pipeline.read_artifact", no_parsing)
        monkeypatch.setattr("scanner.reader.read_artifact", no_parsing)
        cached = store.cached_result(apk, meta, CTX)
        assert cached == result
        assert store.cached_result(apk, filed_meta("submission"), CTX) is None  # other metadata
        other = dataclasses.replace(CTX, registry=dataclasses.replace(CTX.registry, snapshot_id="e" * 64))
        assert store.cached_result(apk, meta, other) is None  # other registry batch
        assert store.cached_result(tmp_path, meta, CTX) is None  # folders are never cached


def test_hook_records_once_and_answers_repeats_from_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    apk = tmp_path / "cam.apk"
    apk.write_bytes(build_apk({"native_libs": ["libCNamaSDK.so", "libfuai.so"]}, "com.example.cam"))
    meta = tmp_path / "meta.json"
    meta.write_text('{"channel": "submission"}', encoding="utf-8")
    db = tmp_path / "s.db"
    code = main(["hook", str(apk), "--meta", str(meta), "--db", str(db)])
    first = capsys.readouterr().out
    assert code == 4  # FaceUnity, no filing: reject
    monkeypatch.setattr("synthreview.pipeline.read_artifact", lambda *a, **k: pytest.fail("re-parsed"))
    assert main(["hook", str(apk), "--meta", str(meta), "--db", str(db)]) == 4
    assert capsys.readouterr().out == first
    assert counts(db)["scans"] == 1


# ------------------------------------------------------------------------------------------------ location


def test_default_db_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    apk = tmp_path / "cam.apk"
    apk.write_bytes(build_apk({"native_libs": ["libCNamaSDK.so", "libfuai.so"]}, "com.example.cam"))
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("SYNTHREVIEW_DB", raising=False)
    assert main(["scan", str(apk), "--format", "json"]) == 0
    assert (work / "synthreview.db").exists()  # ./synthreview.db
    env_db = tmp_path / "env.db"
    monkeypatch.setenv("SYNTHREVIEW_DB", str(env_db))
    assert main(["scan", str(apk), "--format", "json"]) == 0
    assert counts(env_db)["scans"] == 1
    capsys.readouterr()
    assert main(["triage", "list", "--format", "json"]) == 0  # $SYNTHREVIEW_DB again
    assert capsys.readouterr().out.strip().startswith("[")
    flag_db = tmp_path / "flag.db"
    assert main(["scan", str(apk), "--format", "json", "--db", str(flag_db)]) == 0  # --db wins
    assert counts(flag_db)["scans"] == 1 and counts(env_db)["scans"] == 1

"""The review store: one SQLite file (sqlite-utils, WAL, foreign keys on) holding what was scanned, under which
rules / policy / registry, what was decided and by whom.

Why it exists: Art. 10 and 16 of the Provisions require records and logs, and re-scans must reach every listed
app without re-reading a single artifact — so every scan keeps its Inventory (zlib JSON, tagged with the
extractor version) and its full result, and every reviewer decision lands in an append-only, hash-chained
audit log (``synthreview audit verify`` detects an edited or deleted row).

Schema changes are named migrations (sqlite-utils ``Migrations``, recorded in ``_migrations``), each applied
once. The ``registry_*`` tables belong to :mod:`filings.registry`; a migration only asks it to create them.

Writes of one scan happen in one ``BEGIN IMMEDIATE`` transaction, and a scan is idempotent by
artifact sha256 + extractor version + rules sha256 + policy sha256 + registry snapshot + submission-metadata
hash: recording the same thing twice returns the first scan id and writes nothing new, so a batch killed
mid-run can simply be run again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from filings.meta import Channel, SubmissionMeta
from reports.model import ScanResult
from rules.model import Capability
from rules.policy import Action, Reason
from scanner.model import EXTRACTOR_VERSION, Inventory
from scanner.serialize import from_data, to_data

if TYPE_CHECKING:
    from synthreview.pipeline import Context

__all__ = [
    "StoreError",
    "Store",
    "PreparedScan",
    "ScanRow",
    "DecisionRow",
    "HistoryEntry",
    "QueueEntry",
    "AuditEntry",
    "AuditReport",
    "prepare",
    "scan_key",
    "meta_json",
    "GENESIS_HASH",
]

#: ``prev_hash`` of the first audit-log row.
GENESIS_HASH = "0" * 64
#: Confidences that count as "the app has this function" for version comparisons (low = a hint only).
STRONG = ("high", "medium")
_DS = frozenset(c.value for c in Capability if c.is_deep_synthesis)
_ZLEVEL = 6


class StoreError(RuntimeError):
    """The store cannot be opened or does not hold what was asked for (message is bilingual)."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _canon(obj: Any) -> str:
    """Canonical JSON: the one spelling that is hashed (sorted keys, no spaces, UTF-8 kept)."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _pack(obj: Any) -> bytes:
    return zlib.compress(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), _ZLEVEL)


def _unpack(blob: bytes) -> Any:
    return json.loads(zlib.decompress(blob))


# ------------------------------------------------------------------------------------------------ migrations


class _Migrations(Migrations):
    """sqlite-utils migrations, recorded in ``_migrations`` (the name the design uses)."""

    migrations_table = "_migrations"


MIGRATIONS = _Migrations("synthreview")


@MIGRATIONS(name="0001_registry_tables")
def _m0001_registry_tables(db: sqlite_utils.Database) -> None:
    """The registry tables are owned by filings.registry; create them so foreign keys and joins always work."""
    from filings.registry import ensure_schema

    ensure_schema(db)


_M0002 = (
    """CREATE TABLE apps (
        app_id TEXT PRIMARY KEY,
        kind TEXT,
        name TEXT,
        first_seen TEXT NOT NULL)""",
    """CREATE TABLE artifacts (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        app_id TEXT NOT NULL REFERENCES apps(app_id),
        version TEXT,
        version_code TEXT,
        name TEXT,
        path TEXT,
        size INTEGER,
        kind TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        latest_scan_id INTEGER)""",
    "CREATE INDEX artifacts_app ON artifacts(app_id)",
    """CREATE TABLE inventories (
        artifact_sha256 TEXT NOT NULL REFERENCES artifacts(sha256),
        extractor_version TEXT NOT NULL,
        created_at TEXT NOT NULL,
        json_size INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (artifact_sha256, extractor_version))""",
    """CREATE TABLE scans (
        id INTEGER PRIMARY KEY,
        scan_key TEXT NOT NULL UNIQUE,
        artifact_sha256 TEXT NOT NULL REFERENCES artifacts(sha256),
        extractor_version TEXT NOT NULL,
        rules_sha256 TEXT NOT NULL,
        policy_sha256 TEXT NOT NULL,
        policy_id TEXT,
        registry_snapshot TEXT NOT NULL,
        registry_demo INTEGER NOT NULL DEFAULT 0,
        tool_version TEXT NOT NULL,
        channel TEXT NOT NULL,
        meta TEXT NOT NULL,
        meta_sha256 TEXT NOT NULL,
        origin TEXT NOT NULL DEFAULT 'scan',
        created_at TEXT NOT NULL,
        action TEXT NOT NULL,
        filing_status TEXT,
        error_count INTEGER NOT NULL DEFAULT 0,
        result BLOB NOT NULL,
        FOREIGN KEY (artifact_sha256, extractor_version)
            REFERENCES inventories(artifact_sha256, extractor_version))""",
    "CREATE INDEX scans_artifact ON scans(artifact_sha256)",
    """CREATE TABLE findings (
        id INTEGER PRIMARY KEY,
        scan_id INTEGER NOT NULL REFERENCES scans(id),
        rule_id TEXT NOT NULL,
        capability TEXT NOT NULL,
        duty TEXT,
        sdk TEXT,
        confidence TEXT NOT NULL,
        score INTEGER,
        deep_synthesis INTEGER NOT NULL,
        ambiguous INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX findings_scan ON findings(scan_id)",
    """CREATE TABLE filing_checks (
        scan_id INTEGER PRIMARY KEY REFERENCES scans(id),
        status TEXT NOT NULL,
        codes TEXT NOT NULL,
        declared TEXT NOT NULL,
        found_in_app TEXT NOT NULL,
        registry_snapshot TEXT)""",
    """CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        reviewer TEXT NOT NULL,
        scan_id INTEGER REFERENCES scans(id),
        app_id TEXT,
        action TEXT NOT NULL,
        note TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE)""",
    # Guard rails against accidental edits; the hash chain is what detects deliberate ones.
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    """CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        scan_id INTEGER NOT NULL REFERENCES scans(id),
        action TEXT NOT NULL,
        reasons TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('policy', 'reviewer')),
        reviewer TEXT,
        note TEXT,
        audit_id INTEGER REFERENCES audit_log(id),
        created_at TEXT NOT NULL)""",
    "CREATE INDEX decisions_scan ON decisions(scan_id)",
    """CREATE TABLE review_queue (
        scan_id INTEGER NOT NULL REFERENCES scans(id),
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        queued_at TEXT NOT NULL,
        PRIMARY KEY (scan_id, reason))""",
)


@MIGRATIONS(name="0002_review_store")
def _m0002_review_store(db: sqlite_utils.Database) -> None:
    """Apps, artifacts, inventories, scans, findings, filing checks, decisions, audit log, review queue."""
    for stmt in _M0002:
        db.execute(stmt)


# ------------------------------------------------------------------------------------------------ values


@dataclass(frozen=True)
class PreparedScan:
    """Every value one scan writes, computed away from the DB (re-scan workers do this CPU part in parallel)."""

    key: str
    app_id: str
    app_kind: str
    app_name: str | None
    sha256: str
    version: str | None
    version_code: str | None
    path: str
    size: int
    kind: str
    extractor_version: str
    inventory_blob: bytes | None  # None: the inventory is already stored (re-scan)
    inventory_json_size: int
    rules_sha256: str
    policy_sha256: str
    policy_id: str
    registry_snapshot: str
    registry_demo: bool
    tool_version: str
    channel: str
    meta_json: str
    meta_sha256: str
    action: str
    filing_status: str | None
    error_count: int
    result_blob: bytes
    reasons_json: str
    # (rule_id, capability, duty, sdk, confidence, score, deep_synthesis, ambiguous)
    findings: tuple[tuple[str, str, str | None, str, str, int, bool, bool], ...]
    # (status, codes JSON, declared JSON, found JSON, registry snapshot) or None when the check failed
    filing: tuple[str, str, str, str, str] | None


@dataclass(frozen=True)
class ScanRow:
    """One ``scans`` row joined with its artifact and app (no blobs)."""

    id: int
    app_id: str
    app_name: str | None
    artifact_sha256: str
    artifact_id: int
    version: str | None
    version_code: str | None
    path: str | None
    kind: str
    extractor_version: str
    rules_sha256: str
    policy_sha256: str
    policy_id: str | None
    registry_snapshot: str
    registry_demo: bool
    tool_version: str
    channel: str
    meta: SubmissionMeta
    origin: str
    created_at: str
    action: Action  # the policy's
    filing_status: str | None
    error_count: int


@dataclass(frozen=True)
class DecisionRow:
    """A decision on a scan: the policy's (recorded with the scan) or a reviewer's override."""

    id: int
    scan_id: int
    action: Action
    reasons: tuple[Reason, ...]
    source: str  # policy | reviewer
    reviewer: str | None
    note: str | None
    audit_id: int | None
    created_at: str


@dataclass(frozen=True)
class HistoryEntry:
    """One scan of one version of an app, for the version history a reviewer reads."""

    scan_id: int
    artifact_id: int
    artifact_sha256: str
    version: str | None
    version_code: str | None
    first_seen: str
    created_at: str
    origin: str
    channel: str
    policy_action: Action
    action: Action  # effective: the last reviewer decision, else the policy's
    reviewer: str | None
    registry_snapshot: str
    rules_sha256: str
    capabilities: tuple[str, ...]  # deep-synthesis capabilities at high/medium confidence
    latest_of_artifact: bool


@dataclass(frozen=True)
class QueueEntry:
    """Why a scan was put in the triage queue (a re-scan changed its decision, Art. 20, …)."""

    scan_id: int
    reason: str
    detail: dict[str, Any]
    queued_at: str


@dataclass(frozen=True)
class AuditEntry:
    """One row of the append-only reviewer audit log."""

    id: int
    at: str
    reviewer: str
    scan_id: int | None
    app_id: str | None
    action: str
    note: str
    prev_hash: str
    hash: str

    def payload(self) -> dict[str, Any]:
        """The fields the hash covers (everything but the hashes themselves)."""
        return {"id": self.id, "at": self.at, "reviewer": self.reviewer, "scan_id": self.scan_id,
                "app_id": self.app_id, "action": self.action, "note": self.note}


def audit_hash(prev_hash: str, payload: dict[str, Any]) -> str:
    """``sha256(prev_hash + canonical JSON of the row)``: each row seals the one before it."""
    return hashlib.sha256((prev_hash + _canon(payload)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuditProblem:
    """The first row where the chain breaks, and how."""

    row_id: int | None
    problem: str  # edited | deleted | link_broken | truncated | decision_mismatch
    en: str
    zh: str


@dataclass(frozen=True)
class AuditReport:
    """Result of :meth:`Store.verify_audit`."""

    ok: bool
    entries: int
    head: str
    problem: AuditProblem | None = None


# ------------------------------------------------------------------------------------------------ keys


def meta_json(meta: SubmissionMeta | None) -> str:
    """Canonical JSON of the submission metadata (no metadata = the empty declaration, as the pipeline reads it)."""
    return _canon(to_data(meta or SubmissionMeta()))


def scan_key(sha256: str, extractor_version: str, rules_sha256: str, policy_sha256: str, registry_snapshot: str,
             meta_sha256: str) -> str:
    """The idempotency key: the same artifact evaluated under the same rules, policy, registry and metadata."""
    parts = (sha256, extractor_version, rules_sha256, policy_sha256, registry_snapshot, meta_sha256)
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _artifact_sha(inv: Inventory) -> str:
    """The artifact's sha256; a file that could not even be opened gets a path-derived stand-in."""
    a = inv.artifact
    return a.sha256 or "unreadable:" + _sha(f"{a.path}\0{a.size}")[:48]


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def prepare(result: ScanResult, *, with_inventory: bool = True) -> PreparedScan:
    """Turn a ScanResult into the rows it will write (pure: no DB; safe to run in worker processes)."""
    inv = result.inventory
    art = inv.artifact
    meta = result.meta or SubmissionMeta()
    mj = meta_json(meta)
    msha = _sha(mj)
    prov = result.provenance
    sha = _artifact_sha(inv)
    # The inventory is stored once per artifact in ``inventories``: never serialize it into the result.
    data = {f.name: to_data(getattr(result, f.name)) for f in dataclasses.fields(result) if f.name != "inventory"}
    inv_blob: bytes | None = None
    inv_size = 0
    if with_inventory:
        raw = json.dumps(to_data(inv), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        inv_size = len(raw)
        inv_blob = zlib.compress(raw, _ZLEVEL)
    findings = tuple(
        (f.rule_id, f.capability, f.duty, f.sdk, f.confidence.value, int(f.score),
         f.capability in _DS and f.duty is None, bool(f.ambiguous))
        for f in (*result.findings, *result.duty_findings)
    )
    filing = None
    if result.filings is not None:
        fc = result.filings
        problems = [i.code for i in fc.checks if i.status.value in ("error", "warning")]
        filing = (fc.status.value, _canon(problems), _canon(list(fc.declared)), _canon(list(fc.found_in_app)),
                  fc.registry_snapshot)
    manifest = inv.manifest
    return PreparedScan(
        key=scan_key(sha, inv.extractor_version, prov.rules_sha256, prov.policy_sha256, prov.registry_snapshot, msha),
        app_id=art.app_id or meta.app_id or f"sha256:{sha[:16]}",
        app_kind=art.kind.value,
        app_name=art.name or meta.app_name,
        sha256=sha,
        version=art.version or (manifest.version_name if manifest else None),
        version_code=manifest.version_code if manifest else None,
        path=art.path,
        size=int(art.size),
        kind=art.kind.value,
        extractor_version=inv.extractor_version,
        inventory_blob=inv_blob,
        inventory_json_size=inv_size,
        rules_sha256=prov.rules_sha256,
        policy_sha256=prov.policy_sha256,
        policy_id=prov.policy_id,
        registry_snapshot=prov.registry_snapshot,
        registry_demo=bool(prov.registry_demo),
        tool_version=prov.tool_version,
        channel=meta.channel.value if meta.channel is not None else Channel.SUBMISSION.value,
        meta_json=mj,
        meta_sha256=msha,
        action=result.decision.action.value,
        filing_status=result.filings.status.value if result.filings else None,
        error_count=len(result.errors),
        result_blob=_pack(data),
        reasons_json=_canon(to_data(result.decision.reasons)),
        findings=findings,
        filing=filing,
    )


@contextmanager
def _immediate(db: sqlite_utils.Database) -> Iterator[None]:
    """A write transaction that takes the write lock up front (no lost race between check and insert)."""
    if db.conn.in_transaction:
        with db.atomic():  # nested: a savepoint
            yield
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    else:
        db.conn.execute("COMMIT")


_SCAN_COLS = """s.id, a.app_id, ap.name AS app_name, s.artifact_sha256, a.id AS artifact_id, a.version,
    a.version_code, a.path, a.kind, s.extractor_version, s.rules_sha256, s.policy_sha256, s.policy_id,
    s.registry_snapshot, s.registry_demo, s.tool_version, s.channel, s.meta, s.origin, s.created_at, s.action,
    s.filing_status, s.error_count"""
_SCAN_FROM = """scans s JOIN artifacts a ON a.sha256 = s.artifact_sha256 JOIN apps ap ON ap.app_id = a.app_id"""
_EFFECTIVE = """COALESCE((SELECT d.action FROM decisions d WHERE d.scan_id = s.id AND d.source = 'reviewer'
    ORDER BY d.id DESC LIMIT 1), s.action)"""


def _scan_row(r: Sequence[Any]) -> ScanRow:
    return ScanRow(
        id=r[0], app_id=r[1], app_name=r[2], artifact_sha256=r[3], artifact_id=r[4], version=r[5],
        version_code=r[6], path=r[7], kind=r[8], extractor_version=r[9], rules_sha256=r[10], policy_sha256=r[11],
        policy_id=r[12], registry_snapshot=r[13], registry_demo=bool(r[14]), tool_version=r[15], channel=r[16],
        meta=from_data(SubmissionMeta, json.loads(r[17])), origin=r[18], created_at=r[19], action=Action(r[20]),
        filing_status=r[21], error_count=r[22],
    )


# ------------------------------------------------------------------------------------------------ the store


class Store:
    """The open store. ``Store.open(path)`` is a context manager; closing it closes the connection."""

    def __init__(self, db: sqlite_utils.Database, path: str) -> None:
        self.db = db
        self.path = path

    # -- lifecycle ------------------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: bool = True) -> Store:
        """Open (and migrate) the store at ``path``; ``create=False`` refuses to create a missing file."""
        p = Path(path)
        if not create and not p.exists():
            raise StoreError(f"no store at {p} (scan something first, or pass --db) / 未找到数据库 {p}")
        try:
            db = sqlite_utils.Database(str(p))
            db.conn.execute("PRAGMA busy_timeout = 30000")
            db.conn.execute("PRAGMA foreign_keys = ON")
            db.enable_wal()
            if MIGRATIONS.pending(db):
                with _immediate(db):  # two processes opening a new file must not both migrate
                    MIGRATIONS.apply(db)
        except Exception as exc:  # sqlite3.DatabaseError on a non-DB file, OSError on a bad dir
            raise StoreError(f"cannot open store {p}: {exc} / 无法打开数据库") from exc
        return cls(db, str(p))

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (WAL content stays durable; SQLite checkpoints on its own)."""
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (``BEGIN IMMEDIATE``) for several operations."""
        with _immediate(self.db):
            yield

    def applied_migrations(self) -> tuple[str, ...]:
        """Names of the migrations applied to this file, in order."""
        return tuple(m.name for m in MIGRATIONS.applied(self.db))

    # -- writing scans --------------------------------------------------------------------------------------

    def record(self, result: ScanResult, *, origin: str = "scan") -> int:
        """Record one scan (artifact, inventory, scan, findings, filing check, policy decision) atomically.

        Idempotent: the same artifact + extractor + rules + policy + registry + metadata returns the existing
        scan id and writes nothing but the artifact's "latest scan" pointer.
        """
        return self.record_prepared(prepare(result), origin=origin)[0]

    def record_prepared(self, p: PreparedScan, *, origin: str = "scan") -> tuple[int, bool]:
        """Record a :func:`prepare`-d scan; returns ``(scan id, created)``."""
        with _immediate(self.db):
            return self.write(p, origin)

    def write(self, p: PreparedScan, origin: str) -> tuple[int, bool]:
        """The writes of one scan; the caller holds the transaction (:meth:`transaction`)."""
        c = self.db.conn
        row = c.execute("SELECT id FROM scans WHERE scan_key = ?", (p.key,)).fetchone()
        if row is not None:
            c.execute("UPDATE artifacts SET latest_scan_id = ? WHERE sha256 = ?", (row[0], p.sha256))
            return int(row[0]), False
        now = _now()
        c.execute("INSERT OR IGNORE INTO apps (app_id, kind, name, first_seen) VALUES (?, ?, ?, ?)",
                  (p.app_id, p.app_kind, p.app_name, now))
        if p.app_name:
            c.execute("UPDATE apps SET name = ? WHERE app_id = ? AND name IS NULL", (p.app_name, p.app_id))
        c.execute(
            "INSERT OR IGNORE INTO artifacts (sha256, app_id, version, version_code, name, path, size, kind,"
            " first_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (p.sha256, p.app_id, p.version, p.version_code, p.app_name, p.path, p.size, p.kind, now),
        )
        if p.inventory_blob is not None:
            c.execute(
                "INSERT OR IGNORE INTO inventories (artifact_sha256, extractor_version, created_at, json_size, data)"
                " VALUES (?, ?, ?, ?, ?)",
                (p.sha256, p.extractor_version, now, p.inventory_json_size, p.inventory_blob),
            )
        cur = c.execute(
            "INSERT INTO scans (scan_key, artifact_sha256, extractor_version, rules_sha256, policy_sha256, policy_id,"
            " registry_snapshot, registry_demo, tool_version, channel, meta, meta_sha256, origin, created_at, action,"
            " filing_status, error_count, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (p.key, p.sha256, p.extractor_version, p.rules_sha256, p.policy_sha256, p.policy_id, p.registry_snapshot,
             int(p.registry_demo), p.tool_version, p.channel, p.meta_json, p.meta_sha256, origin, now, p.action,
             p.filing_status, p.error_count, p.result_blob),
        )
        sid = int(cur.lastrowid or 0)
        if p.findings:
            c.executemany(
                "INSERT INTO findings (scan_id, rule_id, capability, duty, sdk, confidence, score, deep_synthesis,"
                " ambiguous) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(sid, *f[:6], int(f[6]), int(f[7])) for f in p.findings],
            )
        if p.filing is not None:
            c.execute("INSERT INTO filing_checks (scan_id, status, codes, declared, found_in_app, registry_snapshot)"
                      " VALUES (?, ?, ?, ?, ?, ?)", (sid, *p.filing))
        c.execute("INSERT INTO decisions (scan_id, action, reasons, source, created_at) VALUES (?, ?, ?, 'policy', ?)",
                  (sid, p.action, p.reasons_json, now))
        c.execute("UPDATE artifacts SET latest_scan_id = ? WHERE sha256 = ?", (sid, p.sha256))
        return sid, True

    # -- reading scans --------------------------------------------------------------------------------------

    def cached_result(self, path: str | os.PathLike[str], meta: SubmissionMeta | None,
                      ctx: Context) -> ScanResult | None:
        """The stored result for this file under this context and metadata, without parsing the file (else None).

        Only the file's sha256 is computed; folders (mini-program source trees) are never cached.
        """
        p = Path(path)
        if not p.is_file():
            return None
        try:
            sha = _file_sha256(p)
        except OSError:
            return None
        key = scan_key(sha, EXTRACTOR_VERSION, ctx.pack.sha256, ctx.policy.sha256, ctx.registry.snapshot_id,
                       _sha(meta_json(meta)))
        row = self.db.conn.execute("SELECT id FROM scans WHERE scan_key = ?", (key,)).fetchone()
        return self.load_result(int(row[0])) if row else None

    def find_scan(self, key: str) -> int | None:
        """Scan id for an idempotency key, if recorded."""
        row = self.db.conn.execute("SELECT id FROM scans WHERE scan_key = ?", (key,)).fetchone()
        return int(row[0]) if row else None

    def load_inventory(self, sha256: str, extractor_version: str | None = None) -> Inventory | None:
        """The stored Inventory of an artifact (the given extractor version, else the newest stored)."""
        if extractor_version is None:
            row = self.db.conn.execute(
                "SELECT data FROM inventories WHERE artifact_sha256 = ? ORDER BY created_at DESC LIMIT 1", (sha256,)
            ).fetchone()
        else:
            row = self.db.conn.execute(
                "SELECT data FROM inventories WHERE artifact_sha256 = ? AND extractor_version = ?",
                (sha256, extractor_version),
            ).fetchone()
        return from_data(Inventory, _unpack(row[0])) if row else None

    def load_result(self, scan_id: int) -> ScanResult:
        """The full stored ScanResult of a scan (inventory re-attached)."""
        row = self.db.conn.execute(
            "SELECT s.result, i.data FROM scans s JOIN inventories i ON i.artifact_sha256 = s.artifact_sha256"
            " AND i.extractor_version = s.extractor_version WHERE s.id = ?", (scan_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"no scan {scan_id} / 未找到扫描记录 {scan_id}")
        data = _unpack(row[0])
        data["inventory"] = _unpack(row[1])
        return from_data(ScanResult, data)

    def scan(self, scan_id: int) -> ScanRow | None:
        """One scan's row (with its artifact and app)."""
        r = self.db.conn.execute(f"SELECT {_SCAN_COLS} FROM {_SCAN_FROM} WHERE s.id = ?", (scan_id,)).fetchone()
        return _scan_row(r) if r else None

    def latest_scan_of_app(self, app_id: str) -> int | None:
        """The latest scan of the newest version of an app."""
        r = self.db.conn.execute(
            "SELECT latest_scan_id FROM artifacts WHERE app_id = ? AND latest_scan_id IS NOT NULL"
            " ORDER BY id DESC LIMIT 1", (app_id,)
        ).fetchone()
        return int(r[0]) if r else None

    def current_scans(self) -> list[tuple[ScanRow, Action, str | None]]:
        """For every app: the latest scan of its newest version, its effective action and last reviewer."""
        rows = self.db.conn.execute(
            f"""WITH cur AS (SELECT app_id, MAX(id) AS art_id FROM artifacts
                             WHERE latest_scan_id IS NOT NULL GROUP BY app_id)
                SELECT {_SCAN_COLS}, {_EFFECTIVE} AS effective,
                  (SELECT d.reviewer FROM decisions d WHERE d.scan_id = s.id AND d.source = 'reviewer'
                   ORDER BY d.id DESC LIMIT 1) AS reviewer
                FROM cur JOIN artifacts a ON a.id = cur.art_id JOIN scans s ON s.id = a.latest_scan_id
                JOIN apps ap ON ap.app_id = a.app_id"""
        ).fetchall()
        return [(_scan_row(r), Action(r[23]), r[24]) for r in rows]

    def effective_action(self, scan_id: int) -> Action:
        """The last reviewer decision on a scan, else the policy's."""
        r = self.db.conn.execute(f"SELECT {_EFFECTIVE} FROM scans s WHERE s.id = ?", (scan_id,)).fetchone()
        if r is None:
            raise StoreError(f"no scan {scan_id} / 未找到扫描记录 {scan_id}")
        return Action(r[0])

    def decisions(self, scan_id: int) -> tuple[DecisionRow, ...]:
        """Every decision on a scan, oldest first (the policy's, then reviewer overrides)."""
        rows = self.db.conn.execute(
            "SELECT id, scan_id, action, reasons, source, reviewer, note, audit_id, created_at FROM decisions"
            " WHERE scan_id = ? ORDER BY id", (scan_id,)
        ).fetchall()
        return tuple(
            DecisionRow(r[0], r[1], Action(r[2]), tuple(from_data(Reason, x) for x in json.loads(r[3])), r[4], r[5],
                        r[6], r[7], r[8])
            for r in rows
        )

    def strong_capabilities(self, scan_ids: Sequence[int]) -> dict[int, frozenset[str]]:
        """Deep-synthesis capabilities found at high/medium confidence, per scan."""
        out: dict[int, set[str]] = {i: set() for i in scan_ids}
        for chunk in _chunks(list(scan_ids), 500):
            marks = ",".join("?" * len(chunk))
            for sid, cap in self.db.conn.execute(
                f"SELECT scan_id, capability FROM findings WHERE scan_id IN ({marks}) AND deep_synthesis = 1"
                f" AND confidence IN ('high', 'medium')", chunk
            ):
                out[sid].add(cap)
        return {k: frozenset(v) for k, v in out.items()}

    def history(self, app_id: str) -> tuple[HistoryEntry, ...]:
        """Every scan of every version of an app, oldest version first."""
        rows = self.db.conn.execute(
            f"""SELECT s.id, a.id, a.sha256, a.version, a.version_code, a.first_seen, s.created_at, s.origin,
                       s.channel, s.action, {_EFFECTIVE},
                       (SELECT d.reviewer FROM decisions d WHERE d.scan_id = s.id AND d.source = 'reviewer'
                        ORDER BY d.id DESC LIMIT 1),
                       s.registry_snapshot, s.rules_sha256, a.latest_scan_id
                FROM artifacts a JOIN scans s ON s.artifact_sha256 = a.sha256
                WHERE a.app_id = ? ORDER BY a.id, s.id""", (app_id,)
        ).fetchall()
        caps = self.strong_capabilities([r[0] for r in rows])
        return tuple(
            HistoryEntry(scan_id=r[0], artifact_id=r[1], artifact_sha256=r[2], version=r[3], version_code=r[4],
                         first_seen=r[5], created_at=r[6], origin=r[7], channel=r[8], policy_action=Action(r[9]),
                         action=Action(r[10]), reviewer=r[11], registry_snapshot=r[12], rules_sha256=r[13],
                         capabilities=tuple(sorted(caps[r[0]])), latest_of_artifact=r[14] == r[0])
            for r in rows
        )

    def counts(self) -> dict[str, int]:
        """Row counts of the review tables (for summaries and tests)."""
        names = ("apps", "artifacts", "inventories", "scans", "findings", "filing_checks", "decisions", "audit_log",
                 "review_queue")
        return {n: int(self.db.conn.execute(f"SELECT count(*) FROM {n}").fetchone()[0]) for n in names}

    # -- the triage queue -----------------------------------------------------------------------------------

    def enqueue(self, scan_id: int, reason: str, detail: dict[str, Any]) -> None:
        """Put a scan in the triage queue for a reason (the same reason again replaces the detail)."""
        with _immediate(self.db):
            self.db.conn.execute(
                "INSERT OR REPLACE INTO review_queue (scan_id, reason, detail, queued_at) VALUES (?, ?, ?, ?)",
                (scan_id, reason, _canon(detail), _now()),
            )

    def queue_entries(self, scan_ids: Sequence[int] | None = None) -> dict[int, tuple[QueueEntry, ...]]:
        """Queue reasons, per scan."""
        out: dict[int, list[QueueEntry]] = {}
        if scan_ids is None:
            rows = self.db.conn.execute("SELECT scan_id, reason, detail, queued_at FROM review_queue").fetchall()
        else:
            rows = []
            for chunk in _chunks(list(scan_ids), 500):
                marks = ",".join("?" * len(chunk))
                rows += self.db.conn.execute(
                    f"SELECT scan_id, reason, detail, queued_at FROM review_queue WHERE scan_id IN ({marks})", chunk
                ).fetchall()
        for r in rows:
            out.setdefault(r[0], []).append(QueueEntry(r[0], r[1], json.loads(r[2]), r[3]))
        return {k: tuple(sorted(v, key=lambda e: e.queued_at)) for k, v in out.items()}

    # -- reviewer decisions and the audit log ---------------------------------------------------------------

    def add_review(self, scan_id: int, action: Action, note: str, reviewer: str, reasons: tuple[Reason, ...]) -> int:
        """Record a reviewer decision and its audit-log row in one transaction; returns the audit row id."""
        with _immediate(self.db):
            scan = self.scan(scan_id)
            if scan is None:
                raise StoreError(f"no scan {scan_id} / 未找到扫描记录 {scan_id}")
            at = _now()
            audit_id = self._append_audit(at, reviewer, scan_id, scan.app_id, action.value, note)
            self.db.conn.execute(
                "INSERT INTO decisions (scan_id, action, reasons, source, reviewer, note, audit_id, created_at)"
                " VALUES (?, ?, ?, 'reviewer', ?, ?, ?, ?)",
                (scan_id, action.value, _canon(to_data(reasons)), reviewer, note, audit_id, at),
            )
        return audit_id

    def _append_audit(self, at: str, reviewer: str, scan_id: int | None, app_id: str | None, action: str,
                      note: str) -> int:
        c = self.db.conn
        last = c.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
        prev = last[0] if last else GENESIS_HASH
        seq = c.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
        new_id = (int(seq[0]) if seq else 0) + 1
        entry = AuditEntry(new_id, at, reviewer, scan_id, app_id, action, note, prev, "")
        h = audit_hash(prev, entry.payload())
        c.execute(
            "INSERT INTO audit_log (id, at, reviewer, scan_id, app_id, action, note, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (new_id, at, reviewer, scan_id, app_id, action, note, prev, h),
        )
        return new_id

    def audit_entries(self) -> tuple[AuditEntry, ...]:
        """The audit log, in order."""
        rows = self.db.conn.execute(
            "SELECT id, at, reviewer, scan_id, app_id, action, note, prev_hash, hash FROM audit_log ORDER BY id"
        ).fetchall()
        return tuple(AuditEntry(*r) for r in rows)

    def verify_audit(self) -> AuditReport:
        """Recompute the hash chain; report the first row that was edited, deleted or re-ordered."""
        entries = self.audit_entries()
        prev = GENESIS_HASH
        expected_id = 1
        for e in entries:
            if e.id != expected_id:
                return AuditReport(False, len(entries), prev, AuditProblem(
                    e.id, "deleted",
                    f"entry #{e.id} follows #{expected_id - 1}: entries {expected_id}..{e.id - 1} were deleted",
                    f"第 {e.id} 条之前的记录（{expected_id}..{e.id - 1}）已被删除"))
            if e.prev_hash != prev:
                return AuditReport(False, len(entries), prev, AuditProblem(
                    e.id, "link_broken",
                    f"entry #{e.id}: prev_hash does not match the hash of entry #{e.id - 1} (one of them was edited"
                    " and re-hashed, or rows were re-ordered)",
                    f"第 {e.id} 条：prev_hash 与第 {e.id - 1} 条的哈希不一致（记录被修改后重新计算哈希，或顺序被调换）"))
            if audit_hash(prev, e.payload()) != e.hash:
                return AuditReport(False, len(entries), prev, AuditProblem(
                    e.id, "edited", f"entry #{e.id}: content does not match its hash (the row was edited)",
                    f"第 {e.id} 条：内容与哈希不符（记录被修改）"))
            prev = e.hash
            expected_id += 1
        seq = self.db.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
        issued = int(seq[0]) if seq else 0
        if issued > len(entries):
            return AuditReport(False, len(entries), prev, AuditProblem(
                len(entries) + 1, "truncated",
                f"{issued} entries were written but only {len(entries)} remain: the newest were deleted",
                f"共写入 {issued} 条，现仅余 {len(entries)} 条：最新的记录已被删除"))
        by_id = {e.id: e for e in entries}
        for r in self.db.conn.execute(
            "SELECT id, scan_id, action, reviewer, note, audit_id FROM decisions WHERE source = 'reviewer' ORDER BY id"
        ):
            e = by_id.get(r[5]) if r[5] is not None else None
            if e is None or (e.scan_id, e.action, e.reviewer, e.note) != (r[1], r[2], r[3], r[4]):
                return AuditReport(False, len(entries), prev, AuditProblem(
                    r[5], "decision_mismatch",
                    f"reviewer decision #{r[0]} on scan {r[1]} does not match its audit entry #{r[5]}",
                    f"审核决定 #{r[0]}（扫描 {r[1]}）与审计记录 #{r[5]} 不一致"))
        return AuditReport(True, len(entries), prev)


def _chunks(seq: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]

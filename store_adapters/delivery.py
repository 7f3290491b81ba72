"""What adapters remember in the store's SQLite file: synced versions, sync events, and the delivery log.

Why a log of our own: the review store (``synthreview.store``) knows scans and decisions, not which store
backend a version came from nor which decisions already reached that backend. These ``adapter_*`` tables sit
in the same file (created here, outside the store's migrations, so the two can evolve separately):

- ``adapter_versions``: one row per (adapter, source, artifact sha256, backend key) that was scanned — "skip
  what was already scanned" and "which decisions belong to this backend" both read it. Two submissions of
  the same bytes (two keys) share one scan, and each gets its decision.
- ``adapter_events``: every sync outcome (scanned, skipped, refused, failed), so a refused artifact stays on
  record after the run that reported it.
- ``adapter_deliveries``: keyed by a delivery id derived from (scan id, action, adapter, target, and the
  backend's key of the version — the decision's address on that target). A row is
  marked ``sending`` before the request and ``delivered`` after it; anything not ``delivered`` is pending. A
  crash between the two resends with the *same* delivery id, which the receiver uses to recognise a repeat
  (at-least-once delivery; never a second "new" decision).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from store_adapters.base import DecisionReason, DecisionRecord, ListedVersion

if TYPE_CHECKING:
    from synthreview.store import Store

__all__ = ["DeliveryLog", "SyncEvent", "Delivery", "delivery_id", "SCHEMA"]

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS adapter_versions (
        id INTEGER PRIMARY KEY,
        adapter TEXT NOT NULL,
        source TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        app_id TEXT NOT NULL,
        version TEXT,
        version_code INTEGER,
        key TEXT NOT NULL DEFAULT '',
        artifact TEXT,
        channel TEXT NOT NULL,
        scan_id INTEGER NOT NULL,
        first_synced TEXT NOT NULL,
        last_synced TEXT NOT NULL,
        UNIQUE (adapter, source, sha256, key))""",
    """CREATE TABLE IF NOT EXISTS adapter_events (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        adapter TEXT NOT NULL,
        source TEXT NOT NULL,
        app_id TEXT,
        version TEXT,
        sha256 TEXT,
        key TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('scanned', 'skipped', 'refused', 'deferred', 'failed')),
        scan_id INTEGER,
        message TEXT NOT NULL DEFAULT '')""",
    "CREATE INDEX IF NOT EXISTS adapter_events_at ON adapter_events(adapter, source, at)",
    """CREATE TABLE IF NOT EXISTS adapter_deliveries (
        delivery_id TEXT PRIMARY KEY,
        adapter TEXT NOT NULL,
        target TEXT NOT NULL,
        scan_id INTEGER NOT NULL,
        action TEXT NOT NULL,
        app_id TEXT,
        version TEXT,
        sha256 TEXT,
        status TEXT NOT NULL CHECK (status IN ('sending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        first_attempt TEXT NOT NULL,
        last_attempt TEXT NOT NULL,
        delivered_at TEXT,
        last_error TEXT,
        payload TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS adapter_deliveries_scan ON adapter_deliveries(scan_id)",
)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def delivery_id(scan_id: int | str, action: str, adapter: str, target: str, key: str = "") -> str:
    """The idempotency key of one decision for one target: the same inputs always give the same id.

    ``key`` is the backend's id of the version (REST item id, inbox file name): part of where the decision goes.
    """
    raw = json.dumps([str(scan_id), action, adapter, target, key], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class SyncEvent:
    """One row of ``adapter_events``."""

    at: str
    adapter: str
    source: str
    app_id: str | None
    version: str | None
    sha256: str | None
    outcome: str
    scan_id: int | None
    message: str


@dataclass(frozen=True)
class Delivery:
    """One row of ``adapter_deliveries``."""

    delivery_id: str
    adapter: str
    target: str
    scan_id: int
    action: str
    status: str
    attempts: int
    last_error: str | None
    delivered_at: str | None


class DeliveryLog:
    """The adapter tables, on the open store's connection (one connection: no lock fights with the store)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn: sqlite3.Connection = store.db.conn
        with self._tx():
            for stmt in SCHEMA:
                self.conn.execute(stmt)

    @contextmanager
    def _tx(self) -> Iterator[None]:
        with self.store.transaction():
            yield

    # -- sync state -----------------------------------------------------------------------------------------

    def scanned(self, adapter: str, source: str, sha256: str) -> int | None:
        """Scan id of this artifact from this backend, if it was already scanned (else None)."""
        row = self.conn.execute(
            "SELECT scan_id FROM adapter_versions WHERE adapter = ? AND source = ? AND sha256 = ? ORDER BY id DESC",
            (adapter, source, sha256.lower()),
        ).fetchone()
        return int(row[0]) if row else None

    def known(self, adapter: str, source: str, sha256: str, key: str) -> bool:
        """Whether this very listing (bytes and backend key) is already on record."""
        row = self.conn.execute(
            "SELECT 1 FROM adapter_versions WHERE adapter = ? AND source = ? AND sha256 = ? AND key = ?",
            (adapter, source, sha256.lower(), key),
        ).fetchone()
        return row is not None

    def record_version(self, lv: ListedVersion, source: str, sha256: str, scan_id: int, *,
                       outcome: str = "scanned", message: str = "") -> None:
        """Remember a version and its scan (and the sync event) in one transaction."""
        now = _now()
        with self._tx():
            self.conn.execute(
                "INSERT INTO adapter_versions (adapter, source, sha256, app_id, version, version_code, key, artifact,"
                " channel, scan_id, first_synced, last_synced) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (adapter, source, sha256, key) DO UPDATE SET scan_id = excluded.scan_id,"
                " last_synced = excluded.last_synced, artifact = excluded.artifact",
                (lv.adapter, source, sha256.lower(), lv.app_id, lv.version, lv.version_code, lv.key, lv.artifact,
                 lv.channel.value, scan_id, now, now),
            )
            self._event(now, lv, source, sha256, outcome, scan_id, message)

    def event(self, lv: ListedVersion, source: str, outcome: str, message: str = "", *,
              sha256: str | None = None, scan_id: int | None = None) -> None:
        """Record a sync outcome other than a fresh scan (skipped, refused, deferred, failed)."""
        with self._tx():
            self._event(_now(), lv, source, sha256 or lv.sha256, outcome, scan_id, message)

    def _event(self, at: str, lv: ListedVersion, source: str, sha256: str | None, outcome: str,
               scan_id: int | None, message: str) -> None:
        self.conn.execute(
            "INSERT INTO adapter_events (at, adapter, source, app_id, version, sha256, key, outcome, scan_id, message)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (at, lv.adapter, source, lv.app_id, lv.version, sha256, lv.key, outcome, scan_id, message),
        )

    def events(self, adapter: str | None = None) -> tuple[SyncEvent, ...]:
        """Sync events, oldest first."""
        sql = "SELECT at, adapter, source, app_id, version, sha256, outcome, scan_id, message FROM adapter_events"
        args: tuple[str, ...] = ()
        if adapter:
            sql += " WHERE adapter = ?"
            args = (adapter,)
        return tuple(SyncEvent(*r) for r in self.conn.execute(sql + " ORDER BY id", args))

    # -- pending decisions and the delivery log -------------------------------------------------------------

    def pending(self, adapter: str, source: str, target: str) -> list[DecisionRecord]:
        """Decisions on versions synced from ``source`` that ``target`` has not confirmed yet.

        The decision is the artifact's *current* one: its latest scan (a re-scan under new rules or registry
        makes a new scan) and, on that scan, the last reviewer override, else the policy's action.
        """
        rows = self.conn.execute(
            "SELECT app_id, version, sha256, key, channel, scan_id FROM adapter_versions"
            " WHERE adapter = ? AND source = ? ORDER BY id", (adapter, source)
        ).fetchall()
        out: list[DecisionRecord] = []
        for app_id, version, sha, key, channel, synced_scan in rows:
            scan_id = self._latest_scan(int(synced_scan), sha)
            rec = self._record(adapter, target, scan_id, app_id, version, sha, key, channel)
            if rec is not None and not self.is_delivered(rec.delivery_id):
                out.append(rec)
        return out

    def _latest_scan(self, synced_scan: int, sha256: str) -> int:
        """The artifact's latest scan (re-scans add scans), found through the store's public history."""
        row = self.store.scan(synced_scan)
        if row is None:
            return synced_scan
        for h in self.store.history(row.app_id):
            if h.artifact_sha256 == sha256 and h.latest_of_artifact:
                return h.scan_id
        return synced_scan

    def _record(self, adapter: str, target: str, scan_id: int, app_id: str, version: str | None, sha256: str,
                key: str, channel: str) -> DecisionRecord | None:
        decisions = self.store.decisions(scan_id)
        if not decisions:
            return None
        reviewer = [d for d in decisions if d.source == "reviewer"]
        current = reviewer[-1] if reviewer else decisions[0]
        scan = self.store.scan(scan_id)
        action = current.action
        return DecisionRecord(
            delivery_id=delivery_id(scan_id, action.value, adapter, target, key),
            scan_id=str(scan_id),
            app_id=app_id,
            version=version,
            sha256=sha256,
            action=action.value,
            action_zh=action.zh,
            channel=scan.channel if scan else channel,
            reasons=tuple(DecisionReason(r.code, r.article, r.zh, r.en) for r in current.reasons),
            key=key,
            decided_at=current.created_at,
            tool_version=scan.tool_version if scan else "",
            scanned_app_id=scan.app_id if scan else None,
        )

    def is_delivered(self, delivery: str) -> bool:
        """Whether the target confirmed this delivery id."""
        row = self.conn.execute("SELECT status FROM adapter_deliveries WHERE delivery_id = ?", (delivery,)).fetchone()
        return bool(row and row[0] == "delivered")

    def begin(self, rec: DecisionRecord, adapter: str, target: str) -> None:
        """Mark a delivery as being sent (committed before the request, so a crash leaves it pending)."""
        now = _now()
        with self._tx():
            self.conn.execute(
                "INSERT INTO adapter_deliveries (delivery_id, adapter, target, scan_id, action, app_id, version,"
                " sha256, status, attempts, first_attempt, last_attempt, payload)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'sending', 1, ?, ?, ?)"
                " ON CONFLICT (delivery_id) DO UPDATE SET status = 'sending', attempts = attempts + 1,"
                " last_attempt = excluded.last_attempt, payload = excluded.payload",
                (rec.delivery_id, adapter, target, int(rec.scan_id), rec.action, rec.app_id, rec.version,
                 rec.sha256, now, now, json.dumps(rec.to_json(), ensure_ascii=False, sort_keys=True)),
            )

    def delivered(self, rec: DecisionRecord) -> None:
        """The target confirmed the decision."""
        with self._tx():
            self.conn.execute(
                "UPDATE adapter_deliveries SET status = 'delivered', delivered_at = ?, last_error = NULL"
                " WHERE delivery_id = ?", (_now(), rec.delivery_id),
            )

    def failed(self, rec: DecisionRecord, error: str) -> None:
        """The send failed; the decision stays pending."""
        with self._tx():
            self.conn.execute(
                "UPDATE adapter_deliveries SET status = 'failed', last_error = ? WHERE delivery_id = ?",
                (error, rec.delivery_id),
            )

    def deliveries(self, adapter: str | None = None) -> tuple[Delivery, ...]:
        """The delivery log, oldest first."""
        sql = ("SELECT delivery_id, adapter, target, scan_id, action, status, attempts, last_error, delivered_at"
               " FROM adapter_deliveries")
        args: tuple[str, ...] = ()
        if adapter:
            sql += " WHERE adapter = ?"
            args = (adapter,)
        return tuple(Delivery(*r) for r in self.conn.execute(sql + " ORDER BY first_attempt, delivery_id", args))

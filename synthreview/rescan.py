"""Re-scan: re-evaluate stored Inventories under the current rules, policy and registry — no artifact is read.

Why: a new rule pack, or a registry batch that cancels filings, must reach every listed app in minutes. The
store keeps every artifact's Inventory, so a re-scan is rules + filings + policy over data already in the DB.

How: the latest scan of every stored artifact (``--changed``: only those whose provenance differs from the
current rules / policy / registry) is split into chunks over a process pool (2 workers by default: both
cores). Each worker builds the rule pack, policy and registry once, reads its chunks from the DB (WAL: readers
never block the writer), evaluates and serializes; the parent is the only writer, one transaction per chunk,
so a killed re-scan leaves whole scans or nothing. Re-recording is idempotent, so running it again finishes
the job. Decision changes are returned (old → new, with the new reasons) and put in the triage queue, and
apps are checked for deep-synthesis functions added since their last assessment (Art. 20).
"""

from __future__ import annotations

import gc
import json
import math
import multiprocessing
import sqlite3
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from filings.meta import SubmissionMeta
from filings.registry import load_snapshot
from rules.loader import default_pack
from rules.policy import Action, Reason, default_policy, load_policy
from scanner.model import Inventory
from scanner.serialize import from_data
from synthreview.pipeline import Context, evaluate_inventory
from synthreview.store import PreparedScan, Store, prepare
from synthreview.triage import Art20Flag, art20_flags

__all__ = ["RescanError", "Target", "Change", "RescanReport", "build_context", "targets", "rescan"]


class RescanError(RuntimeError):
    """The re-scan could not run (e.g. a worker failed, or the registry changed under it)."""


@dataclass(frozen=True)
class Target:
    """A stored scan to re-evaluate: the latest scan of one artifact, with its current effective action."""

    scan_id: int
    action: Action
    app_id: str
    app_name: str | None
    version: str | None
    artifact_sha256: str


@dataclass(frozen=True)
class Change:
    """A decision that moved: old effective action → new action, and why (new reasons, filing problems)."""

    app_id: str
    app_name: str | None
    version: str | None
    artifact_sha256: str
    old_scan_id: int
    new_scan_id: int
    old_action: Action
    new_action: Action
    reasons: tuple[Reason, ...]
    filing_status: str | None
    filing_problems: tuple[tuple[str, str, str], ...]  # (code, en, zh) of filing-check errors

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``rescan --format json``)."""
        return {"app_id": self.app_id, "name": self.app_name, "version": self.version,
                "artifact_sha256": self.artifact_sha256, "old_scan_id": self.old_scan_id,
                "new_scan_id": self.new_scan_id, "old_action": self.old_action.value,
                "new_action": self.new_action.value, "new_action_zh": self.new_action.zh,
                "reasons": [{"code": r.code, "article": r.article, "en": r.en, "zh": r.zh} for r in self.reasons],
                "filing_status": self.filing_status,
                "filing_problems": [{"code": c, "en": en, "zh": zh} for c, en, zh in self.filing_problems]}


@dataclass(frozen=True)
class RescanReport:
    """What a re-scan did."""

    mode: str
    targets: int
    new_scans: int
    reused: int  # evaluations that matched an already-recorded scan (idempotent)
    changes: tuple[Change, ...]
    art20: tuple[Art20Flag, ...]
    rules_sha256: str
    policy_sha256: str
    registry_snapshot: str
    registry_demo: bool
    workers: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"mode": self.mode, "targets": self.targets, "new_scans": self.new_scans, "reused": self.reused,
                "changes": [c.to_dict() for c in self.changes], "art20": [f.to_dict() for f in self.art20],
                "provenance": {"rules_sha256": self.rules_sha256, "policy_sha256": self.policy_sha256,
                               "registry_snapshot": self.registry_snapshot, "registry_demo": self.registry_demo},
                "workers": self.workers, "seconds": round(self.seconds, 3)}


def build_context(db: sqlite_utils.Database, policy_path: str | None = None) -> Context:
    """Shipped rule pack, the given (else default) policy, and the registry in the DB (else the demo seed)."""
    policy = load_policy(Path(policy_path)) if policy_path else default_policy()
    # Not Context.default(registry=...): it tests the snapshot for truth, and a registry holding only
    # cancellation batches has no rows (len 0), so it would silently fall back to the demo seed.
    return Context(default_pack(), policy, load_snapshot(db))


def _provenance(ctx: Context) -> tuple[str, str, str]:
    return (ctx.pack.sha256, ctx.policy.sha256, ctx.registry.snapshot_id)


def targets(store: Store, mode: str, ctx: Context) -> list[Target]:
    """The latest scan of every artifact (``changed``: only those evaluated under other rules/policy/registry)."""
    rules, policy, registry = _provenance(ctx)
    rows = store.db.conn.execute(
        """SELECT s.id, COALESCE((SELECT d.action FROM decisions d WHERE d.scan_id = s.id AND d.source = 'reviewer'
                                  ORDER BY d.id DESC LIMIT 1), s.action),
                  a.app_id, ap.name, a.version, a.sha256
           FROM artifacts a JOIN scans s ON s.id = a.latest_scan_id JOIN apps ap ON ap.app_id = a.app_id
           JOIN inventories i ON i.artifact_sha256 = s.artifact_sha256 AND i.extractor_version = s.extractor_version
           WHERE ? = 'all' OR s.rules_sha256 != ? OR s.policy_sha256 != ? OR s.registry_snapshot != ?
           ORDER BY s.id""",
        (mode, rules, policy, registry),
    ).fetchall()
    return [Target(r[0], Action(r[1]), r[2], r[3], r[4], r[5]) for r in rows]


# ------------------------------------------------------------------------------------------------ workers


class _Evaluator:
    """Reads stored inventories and evaluates them under one Context (one per worker process)."""

    def __init__(self, db_path: str, ctx: Context) -> None:
        self.ctx = ctx
        self.conn = sqlite3.connect(_ro_uri(db_path), uri=True, timeout=30)

    def run(self, scan_ids: Sequence[int]) -> list[tuple[int, PreparedScan]]:
        marks = ",".join("?" * len(scan_ids))
        rows = self.conn.execute(
            f"""SELECT s.id, s.meta, i.data FROM scans s JOIN inventories i
                ON i.artifact_sha256 = s.artifact_sha256 AND i.extractor_version = s.extractor_version
                WHERE s.id IN ({marks})""", list(scan_ids)
        ).fetchall()
        out = []
        for sid, meta, data in rows:
            inv = from_data(Inventory, json.loads(zlib.decompress(data)))
            result = evaluate_inventory(inv, from_data(SubmissionMeta, json.loads(meta)), self.ctx)
            out.append((sid, prepare(result, with_inventory=False)))
        return out


def _ro_uri(db_path: str) -> str:
    return Path(db_path).resolve().as_uri() + "?mode=ro"


_WORKER: _Evaluator | None = None


def _init_worker(db_path: str, policy_path: str | None, expected: tuple[str, str, str]) -> None:
    """Load the rule pack, policy and registry once per worker; refuse if they differ from the parent's."""
    global _WORKER
    db = sqlite_utils.Database(sqlite3.connect(_ro_uri(db_path), uri=True, timeout=30))
    ctx = build_context(db, policy_path)
    db.close()
    if _provenance(ctx) != expected:
        raise RescanError("rules, policy or registry changed while the re-scan started / 重新扫描启动时规则、策略或备案库已变化")
    _WORKER = _Evaluator(db_path, ctx)
    # What exists now (rule pack, registry, the parent's heap inherited by fork) lives as long as the worker:
    # keep it out of every GC pass (and out of copy-on-write page faults).
    gc.freeze()


def _run_chunk(scan_ids: list[int]) -> list[tuple[int, PreparedScan]]:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.run(scan_ids)


# ------------------------------------------------------------------------------------------------ driver


def _filing_problems(p: PreparedScan) -> tuple[tuple[str, str, str], ...]:
    data = json.loads(zlib.decompress(p.result_blob))
    checks = (data.get("filings") or {}).get("checks") or []
    return tuple((c["code"], c["en"], c["zh"]) for c in checks if c.get("status") == "error")


def rescan(store: Store, *, mode: str = "changed", workers: int = 2, policy_path: str | None = None,
           chunk_size: int | None = None, progress: bool = True) -> RescanReport:
    """Re-evaluate stored inventories, record the new scans, queue changed decisions and Art. 20 flags."""
    if mode not in ("all", "changed"):
        raise ValueError(f"mode must be 'all' or 'changed', not {mode!r}")
    started = time.perf_counter()
    ctx = build_context(store.db, policy_path)
    todo = targets(store, mode, ctx)
    by_id = {t.scan_id: t for t in todo}
    ids = [t.scan_id for t in todo]
    workers = max(1, workers)
    size = chunk_size or max(1, min(200, math.ceil(len(ids) / (workers * 4)) if ids else 1))
    chunks = [ids[i:i + size] for i in range(0, len(ids), size)]
    workers = min(workers, len(chunks)) or 1
    new_scans = reused = 0
    changes: list[Change] = []

    def absorb(results: list[tuple[int, PreparedScan]]) -> None:
        nonlocal new_scans, reused
        with store.transaction():
            for old_id, prep in results:
                new_id, created = store.write(prep, "rescan")
                if created:
                    new_scans += 1
                else:
                    reused += 1
                if new_id == old_id:
                    continue
                t = by_id[old_id]
                new_action = Action(prep.action) if created else store.effective_action(new_id)
                if new_action is t.action:
                    continue
                reasons = tuple(from_data(Reason, r) for r in json.loads(prep.reasons_json))
                change = Change(t.app_id, t.app_name, t.version, t.artifact_sha256, old_id, new_id, t.action,
                                new_action, reasons, prep.filing_status, _filing_problems(prep))
                changes.append(change)
                store.enqueue(new_id, "decision_changed", {"old_scan_id": old_id, "old_action": t.action.value,
                                                           "new_action": new_action.value,
                                                           "reasons": [r.code for r in reasons]})

    console = Console(stderr=True)
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    if workers <= 1:
        evaluator = _Evaluator(store.path, ctx)
        with Progress(*columns, console=console, disable=not progress or not ids, transient=True) as bar:
            task = bar.add_task("re-scanning 重新扫描", total=len(ids))
            for chunk in chunks:
                absorb(evaluator.run(chunk))
                bar.advance(task, len(chunk))
        evaluator.conn.close()
    else:
        methods = multiprocessing.get_all_start_methods()
        mp = multiprocessing.get_context("fork" if "fork" in methods else None)
        # The pool forks before the progress bar starts its refresh thread.
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp, initializer=_init_worker,
                                 initargs=(store.path, policy_path, _provenance(ctx))) as pool:
            futures = {pool.submit(_run_chunk, c): len(c) for c in chunks}
            with Progress(*columns, console=console, disable=not progress, transient=True) as bar:
                task = bar.add_task(f"re-scanning 重新扫描 ({workers} workers)", total=len(ids))
                try:
                    for fut in as_completed(futures):
                        absorb(fut.result())
                        bar.advance(task, futures.pop(fut))  # drop the future: its result is written
                except BrokenProcessPool as exc:
                    raise RescanError(f"a re-scan worker died / 重新扫描子进程异常退出: {exc}") from exc
                except RescanError:
                    raise
                except Exception as exc:  # a worker raised: stop, keep what was committed (re-runs finish it)
                    raise RescanError(f"re-scan failed / 重新扫描失败: {type(exc).__name__}: {exc}") from exc

    flags = art20_flags(store, {t.app_id for t in todo}) if todo else {}
    for app_flags in flags.values():
        store.enqueue(app_flags[0].current_scan_id, "art20", {"flags": [f.to_dict() for f in app_flags]})
    changes.sort(key=lambda c: (-c.new_action.severity, c.app_id, c.version or "", c.new_scan_id))
    rules, policy, registry = _provenance(ctx)
    return RescanReport(
        mode=mode, targets=len(todo), new_scans=new_scans, reused=reused, changes=tuple(changes),
        art20=tuple(f for app in sorted(flags) for f in flags[app]), rules_sha256=rules, policy_sha256=policy,
        registry_snapshot=registry, registry_demo=ctx.registry.demo, workers=workers,
        seconds=time.perf_counter() - started,
    )

"""``synthreview store sync|push --adapter NAME``: pull artifacts from a store backend, push decisions back.

``sync`` lists the backend's versions, skips those whose sha256 this backend already had scanned, fetches
each new or changed one into a private temp dir (sha256-verified by the adapter: a mismatch or a truncated
download is refused and reported, never scanned), scans it, records it in the store, and only then lets the
adapter settle it (the inbox moves the file to ``done/``). A scan that crashes leaves the artifact where it was.

``push`` sends every decision the backend has not confirmed: at-least-once, with a delivery log keyed by
(scan id, action, target), so a retry resends the same delivery id and never a second "new" decision; a
failed send stays pending. Exit codes: 0 all well, 1 something was refused / failed / not delivered,
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from store_adapters import ADAPTERS, load_config, open_adapter
from store_adapters.base import (
    AdapterError,
    AuthError,
    ConfigError,
    DecisionRecord,
    FetchError,
    ListedVersion,
    Outcome,
    StoreAdapter,
    remove_tree,
    sha256_file,
)
from synthreview.isolation import scan_isolated
from synthreview.commands.common import add_db, db_path, err

__all__ = ["add_parser", "run", "sync", "push", "parse_since", "SyncItem", "PushItem"]

_REL = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_STYLE = {"scanned": "green", "skipped": "dim", "deferred": "yellow", "refused": "red", "failed": "bold red",
          "delivered": "green", "pending": "yellow", "error": "red"}


@dataclass(frozen=True)
class SyncItem:
    """What sync did with one listed version."""

    app_id: str
    version: str | None
    sha256: str | None
    outcome: str  # scanned | skipped | deferred | refused | failed
    scan_id: int | None = None
    action: str | None = None
    message: str = ""


@dataclass(frozen=True)
class PushItem:
    """What push did with one pending decision."""

    app_id: str
    version: str | None
    scan_id: str
    action: str
    delivery_id: str
    outcome: str  # delivered | failed | pending (dry run)
    message: str = ""


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``--since``: ISO 8601 (date or date-time; UTC when no zone) or a look-back like ``7d``, ``12h``, ``30m``."""
    now = now or datetime.now(timezone.utc)
    m = _REL.match(text)
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected an ISO date/time (2025-05-01, 2025-05-01T08:00Z) or 7d / 12h / 30m "
            "/ 时间格式应为 ISO 日期或 7d、12h、30m"
        ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


# ---------------------------------------------------------------------------------------------- library


def sync(adapter: StoreAdapter, store: Any, ctx: Any, since: datetime | None = None) -> tuple[list[SyncItem], str]:
    """Scan the backend's new or changed versions; returns the items and a listing error ('' when none).

    ``store`` is an open :class:`synthreview.store.Store`; ``ctx`` the pipeline Context.
    """
    from store_adapters.delivery import DeliveryLog

    log = DeliveryLog(store)
    items: list[SyncItem] = []
    listing_error = ""
    try:
        for lv in adapter.list_apps(since):
            items.append(_sync_one(adapter, store, log, ctx, lv))
    except AdapterError as exc:  # a page failing after retries, a refused token: keep what was done, report
        listing_error = str(exc)
    return items, listing_error


def _sync_one(adapter: StoreAdapter, store: Any, log: Any, ctx: Any, lv: ListedVersion) -> SyncItem:
    src = adapter.source
    if lv.sha256 and (sid := log.scanned(adapter.name, src, lv.sha256)) is not None:
        return _skip(adapter, log, lv, lv.sha256, sid)
    tmp = Path(tempfile.mkdtemp(prefix="synthreview-sync-"))
    try:
        try:
            path = adapter.fetch(lv, tmp)
        except FetchError as exc:
            outcome = Outcome.DEFERRED if exc.transient else Outcome.REFUSED
            note = _settle(adapter, lv, outcome, str(exc))
            log.event(lv, src, outcome.value, str(exc) + note)
            return SyncItem(lv.app_id, lv.version, lv.sha256, outcome.value, message=str(exc) + note)
        sha = lv.sha256 or sha256_file(path)
        if lv.sha256 is None and (sid := log.scanned(adapter.name, src, sha)) is not None:
            return _skip(adapter, log, lv, sha, sid)
        meta = lv.meta if lv.meta.channel is not None else replace(lv.meta, channel=lv.channel)
        try:
            result = scan_isolated(path, meta, ctx)  # store artifacts are untrusted: confined reader
        except Exception as exc:  # a scanner bug: report it, leave the artifact where it is for the next run
            msg = f"scan crashed: {type(exc).__name__}: {exc}; left in place / 扫描异常，文件保留待重试"
            log.event(lv, src, "failed", msg, sha256=sha)
            return SyncItem(lv.app_id, lv.version, sha, "failed", message=msg)
        scan_id = int(store.record(result, origin=f"store:{adapter.name}"))
        log.record_version(lv, src, sha, scan_id)
        note = _settle(adapter, lv, Outcome.SCANNED)
        return SyncItem(lv.app_id, lv.version, sha, "scanned", scan_id, result.decision.action.value, note.strip())
    finally:
        remove_tree(tmp)


def _skip(adapter: StoreAdapter, log: Any, lv: ListedVersion, sha: str, scan_id: int) -> SyncItem:
    """Bytes already scanned from this backend: reuse the scan (a second listing of them gets its own row)."""
    msg = "already scanned / 已扫描" + _settle(adapter, lv, Outcome.SCANNED)  # e.g. crashed before the inbox moved it
    if log.known(adapter.name, adapter.source, sha, lv.key):
        log.event(lv, adapter.source, "skipped", msg, sha256=sha, scan_id=scan_id)
    else:
        log.record_version(lv, adapter.source, sha, scan_id, outcome="skipped", message=msg)
    return SyncItem(lv.app_id, lv.version, sha, "skipped", scan_id, message=msg)


def _settle(adapter: StoreAdapter, lv: ListedVersion, outcome: Outcome, message: str = "") -> str:
    """Let the adapter settle a version; a failure there (a full disk, permissions) is reported, not fatal.

    The scan is already recorded, so the next sync skips the scan and simply tries to settle again.
    """
    try:
        adapter.finish(lv, outcome, message)
    except OSError as exc:
        return f" (could not settle the file: {exc.strerror or exc} / 文件未能移动)"
    return ""


def push(adapter: StoreAdapter, store: Any, *, dry_run: bool = False) -> tuple[list[PushItem], str]:
    """Deliver pending decisions; returns the items and an error that stopped the run ('' when none)."""
    from store_adapters.base import PushError
    from store_adapters.delivery import DeliveryLog

    log = DeliveryLog(store)
    items: list[PushItem] = []
    for rec in log.pending(adapter.name, adapter.source, adapter.target):
        def item(outcome: str, message: str = "", rec: DecisionRecord = rec) -> PushItem:
            return PushItem(rec.app_id, rec.version, rec.scan_id, rec.action, rec.delivery_id, outcome, message)

        if dry_run:
            items.append(item("pending"))
            continue
        log.begin(rec, adapter.name, adapter.target)
        try:
            adapter.push(rec)
        except AuthError as exc:
            log.failed(rec, str(exc))
            items.append(item("failed", str(exc)))
            return items, str(exc)  # every further push would be refused too
        except (PushError, AdapterError, OSError) as exc:
            log.failed(rec, str(exc))
            items.append(item("failed", str(exc)))
            continue
        log.delivered(rec)
        items.append(item("delivered"))
    return items, ""


# ---------------------------------------------------------------------------------------------- CLI


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``store sync`` and ``store push``."""
    p = sub.add_parser(
        "store", help="pull apps from a store backend and push decisions back (商店对接)",
        description="Store adapters: inbox (a drop folder), fdroid (an F-Droid repository), rest (a JSON API "
                    "described in YAML). sync scans new or changed versions; push delivers pending decisions.",
    )
    ssub = p.add_subparsers(dest="store_command", metavar="ACTION", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--adapter", required=True, choices=sorted(ADAPTERS), help="store backend")
        sp.add_argument("--url", help="inbox folder, F-Droid repository URL/path, or REST base URL")
        sp.add_argument("--config", metavar="FILE", help="adapter settings (YAML)")
        sp.add_argument("--format", choices=["table", "json"], default="table")
        add_db(sp)
        sp.set_defaults(run=run)

    s = ssub.add_parser("sync", help="scan new or changed versions from the backend (同步并扫描)")
    common(s)
    s.add_argument("--since", help="only versions changed since: ISO date/time, or 7d / 12h / 30m")
    s.add_argument("--policy", help="a store policy YAML instead of the shipped default")
    pu = ssub.add_parser("push", help="send pending decisions to the backend (推送处置决定)")
    common(pu)
    pu.add_argument("--dry-run", action="store_true", help="list what would be sent; send nothing")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch ``store sync`` / ``store push``."""
    from synthreview.store import Store, StoreError

    since = None
    if getattr(args, "since", None):
        try:
            since = parse_since(args.since)
        except ValueError as exc:
            err.print(f"[red]{exc}[/red]")
            return 2
    try:
        adapter = open_adapter(args.adapter, url=args.url, config=load_config(args.config, args.adapter))
    except ConfigError as exc:
        err.print(f"[red]adapter configuration refused 适配器配置无效[/red]: {exc}")
        return 2
    try:
        with adapter, Store.open(db_path(args)) as store:
            if args.store_command == "sync":
                return _run_sync(args, adapter, store, since)
            return _run_push(args, adapter, store)
    except StoreError as exc:
        err.print(f"[red]{exc}[/red]")
        return 1
    except AuthError as exc:
        err.print(f"[red]authentication failed 认证失败[/red]: {exc}")
        return 1


def _run_sync(args: argparse.Namespace, adapter: StoreAdapter, store: Any, since: datetime | None) -> int:
    from synthreview.commands.scan import build_context

    ctx = build_context(args)
    items, listing_error = sync(adapter, store, ctx, since)
    bad = [i for i in items if i.outcome in ("refused", "failed")]
    if args.format == "json":
        print(json.dumps({"adapter": adapter.name, "source": adapter.source, "items": [asdict(i) for i in items],
                          "error": listing_error or None}, ensure_ascii=False, indent=2))
    else:
        t = Table(title=f"store sync · {adapter.name} · {adapter.source}")
        for col in ("app", "version", "sha256", "outcome 结果", "scan", "action 决定", "message"):
            t.add_column(col, overflow="fold")
        for i in items:
            t.add_row(i.app_id, i.version or "-", (i.sha256 or "-")[:12], f"[{_STYLE[i.outcome]}]{i.outcome}[/]",
                      str(i.scan_id or "-"), i.action or "-", i.message)
        Console(highlight=False).print(t)
    counts = {k: sum(1 for i in items if i.outcome == k) for k in _STYLE if k in
              ("scanned", "skipped", "deferred", "refused", "failed")}
    err.print("sync 同步: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for i in bad:
        err.print(f"[red]{i.outcome}[/red] {i.app_id} {i.version or ''}: {i.message}")
    if listing_error:
        err.print(f"[red]listing stopped 列表读取中断[/red]: {listing_error}")
    return 1 if bad or listing_error else 0


def _run_push(args: argparse.Namespace, adapter: StoreAdapter, store: Any) -> int:
    items, stop = push(adapter, store, dry_run=args.dry_run)
    if args.format == "json":
        print(json.dumps({"adapter": adapter.name, "target": adapter.target, "items": [asdict(i) for i in items],
                          "error": stop or None}, ensure_ascii=False, indent=2))
    elif items:
        t = Table(title=f"store push · {adapter.name} · {adapter.target}")
        for col in ("app", "version", "scan", "action 决定", "delivery", "outcome 结果", "message"):
            t.add_column(col, overflow="fold")
        for i in items:
            t.add_row(i.app_id, i.version or "-", i.scan_id, i.action, i.delivery_id[:12],
                      f"[{_STYLE[i.outcome]}]{i.outcome}[/]", i.message)
        Console(highlight=False).print(t)
    failed = [i for i in items if i.outcome == "failed"]
    delivered = sum(1 for i in items if i.outcome == "delivered")
    if not items:
        err.print("nothing pending 无待推送决定")
    else:
        err.print(f"push 推送: delivered {delivered}, failed {len(failed)}"
                  + (f", pending {len(items)}" if args.dry_run else ""))
    if stop:
        err.print(f"[red]push stopped 推送中断[/red]: {stop}")
    return 1 if failed or stop else 0

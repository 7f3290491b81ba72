"""``synthreview rescan [--all | --changed]``: re-evaluate stored inventories (no artifact is read).

Prints the decision changes (old → new, with the reasons) and Art. 20 notes on stdout; progress and the
summary go to stderr. Changed decisions and Art. 20 flags are put in the triage queue.
"""

from __future__ import annotations

import argparse
import io
import json
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from synthreview.commands.common import add_db, db_path, err, write_out

if TYPE_CHECKING:
    from synthreview.rescan import RescanReport

_STYLE = {"list": "green", "warn": "yellow", "needs_review": "magenta", "reject": "red", "suspend": "red",
          "takedown": "bold red"}


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the command."""
    p = sub.add_parser(
        "rescan",
        help="re-evaluate stored inventories under the current rules, registry and policy (重新扫描, no artifact read)",
        description="Re-evaluate the stored Inventory of every scanned artifact under the current rule pack, "
                    "registry (imported batches) and policy, without reading any artifact. Prints decision "
                    "changes and queues them for triage; flags deep-synthesis functions added since the last "
                    "security assessment (Art. 20).",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--all", dest="mode", action="store_const", const="all",
                      help="every artifact's latest scan")
    mode.add_argument("--changed", dest="mode", action="store_const", const="changed",
                      help="only scans made under other rules, policy or registry (default)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--policy", help="a store policy YAML instead of the shipped default")
    p.add_argument("--workers", type=int, default=2, metavar="N", help="worker processes (default 2: both cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_db(p)
    p.set_defaults(run=run, mode="changed")


def render_table(report: RescanReport) -> str:
    """The human report: changes, then Art. 20 notes."""
    buf = io.StringIO()
    con = Console(file=buf, width=140, color_system=None, highlight=False)
    if report.changes:
        t = Table(title=f"decision changes 处置变化 ({len(report.changes)})", expand=True, show_lines=True)
        for col in ("app", "version", "scan", "old → new", "why 原因"):
            t.add_column(col, overflow="fold")
        for c in report.changes:
            move = Text(f"{c.old_action.value} → ")
            move.append(f"{c.new_action.value}", style=_STYLE[c.new_action.value])
            move.append(f"\n{c.old_action.zh} → {c.new_action.zh}")
            why = [f"[{r.article}] {r.en}\n{r.zh}" for r in c.reasons]
            why += [f"filing check 备案核验 ({c.filing_status}): {code}: {en}\n{zh}" for code, en, zh in c.filing_problems]
            t.add_row(f"{c.app_id}\n{c.app_name or ''}", c.version or "-", f"#{c.old_scan_id} → #{c.new_scan_id}",
                      move, "\n".join(why))
        con.print(t)
    else:
        con.print("no decision changed 处置无变化")
    if report.art20:
        con.print()
        con.print("notes 提示 (Art. 20):")
        for f in report.art20:
            con.print(f"  • {f.app_id} scan #{f.current_scan_id}: {f.en}\n    {f.zh}")
    return buf.getvalue()


def run(args: argparse.Namespace) -> int:
    """Re-scan and print the changes."""
    from rules.policy import PolicyError
    from synthreview.rescan import RescanError, rescan
    from synthreview.store import Store, StoreError

    try:
        store = Store.open(db_path(args), create=False)
    except StoreError as exc:
        err.print(f"[red]{exc}[/red]")
        return 1
    with store:
        try:
            report = rescan(store, mode=args.mode, workers=args.workers, policy_path=args.policy,
                            progress=not args.no_progress)
        except (PolicyError, OSError) as exc:
            err.print(f"[red]policy refused 策略文件无效[/red]:\n{exc}")
            return 2
        except RescanError as exc:
            err.print(f"[red]{exc}[/red]")
            return 1
    if args.format == "json":
        write_out(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n", None)
    else:
        write_out(render_table(report), None)
    demo = " (demo registry 演示备案库)" if report.registry_demo else ""
    err.print(
        f"re-scanned {report.targets} stored inventories in {report.seconds:.1f}s with {report.workers} worker(s): "
        f"{report.new_scans} new scans, {report.reused} already recorded; {len(report.changes)} decision changes and "
        f"{len(report.art20)} Art. 20 notes queued for triage{demo}\n"
        f"已重新评估 {report.targets} 个存量清单，处置变化 {len(report.changes)} 项已加入审核队列"
    )
    return 0

"""``synthreview audit verify | list``: check and read the hash-chained reviewer audit log.

``verify`` recomputes every row's hash from the one before it and exits 1 at the first row that was edited,
deleted or re-ordered (and when a reviewer decision does not match its audit row); 0 when the chain holds.
"""

from __future__ import annotations

import argparse
import io
import json

from rich.console import Console
from rich.table import Table

from synthreview.commands.common import add_db, db_path, err, write_out


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the command (``audit`` alone = ``audit verify``)."""
    p = sub.add_parser("audit", help="verify or list the reviewer audit log (审计日志校验)",
                       description="The append-only reviewer audit log: each row hashes the row before it.")
    add_db(p)
    p.add_argument("--format", choices=["table", "json"], default="table")
    asub = p.add_subparsers(dest="audit_command", metavar="SUBCOMMAND")
    for name, help_ in (("verify", "recompute the hash chain; exit 1 at the first bad row"),
                        ("list", "print the audit log")):
        sp = asub.add_parser(name, help=help_)
        sp.add_argument("--db", metavar="DB", default=argparse.SUPPRESS,
                        help="SQLite store (default: $SYNTHREVIEW_DB, else ./synthreview.db)")
        sp.add_argument("--format", choices=["table", "json"], default=argparse.SUPPRESS)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Verify (default) or list."""
    from synthreview.store import Store, StoreError

    try:
        store = Store.open(db_path(args), create=False)
    except StoreError as exc:
        err.print(f"[red]{exc}[/red]")
        return 1
    with store:
        if (args.audit_command or "verify") == "list":
            entries = store.audit_entries()
            if args.format == "json":
                write_out(json.dumps([e.__dict__ for e in entries], ensure_ascii=False, indent=2) + "\n", None)
                return 0
            buf = io.StringIO()
            t = Table(title=f"audit log 审计日志 ({len(entries)})", expand=True)
            for col in ("#", "at", "reviewer", "scan", "app", "action", "note", "hash"):
                t.add_column(col, overflow="fold")
            for e in entries:
                t.add_row(str(e.id), e.at, e.reviewer, str(e.scan_id or "-"), e.app_id or "-", e.action, e.note,
                          e.hash[:16])
            Console(file=buf, width=150, color_system=None).print(t)
            write_out(buf.getvalue(), None)
            return 0
        report = store.verify_audit()
    if args.format == "json":
        out = {"ok": report.ok, "entries": report.entries, "head": report.head,
               "problem": report.problem.__dict__ if report.problem else None}
        write_out(json.dumps(out, ensure_ascii=False, indent=2) + "\n", None)
    elif report.ok:
        write_out(f"audit log OK 审计日志完整: {report.entries} entries, head {report.head}\n", None)
    else:
        pr = report.problem
        assert pr is not None
        write_out(f"audit log BROKEN 审计日志被篡改: first bad row #{pr.row_id} ({pr.problem})\n"
                  f"  {pr.en}\n  {pr.zh}\n", None)
    return 0 if report.ok else 1

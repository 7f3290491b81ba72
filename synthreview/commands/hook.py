"""``synthreview hook PATH --meta FILE``: pipeline mode — JSON report on stdout, exit code = decision."""

from __future__ import annotations

import argparse
from pathlib import Path

from reports.json_report import render_json
from synthreview.commands.common import add_db, db_path, read_meta, write_out


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the command."""
    p = sub.add_parser(
        "hook",
        help="submission-pipeline mode: JSON on stdout, exit 0 list / 1 warn / 3 needs_review / 4 reject·suspend·takedown",
    )
    p.add_argument("path", metavar="PATH")
    p.add_argument("--meta", help="submission metadata (YAML or JSON)")
    p.add_argument("--policy", help="a store policy YAML instead of the shipped default")
    add_db(p)
    p.add_argument("--no-db", action="store_true", help="do not record the scan in the store")
    from synthreview.commands.scan import _add_isolation_args

    _add_isolation_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Scan one artifact and exit with the decision's code (DESIGN.md)."""
    from synthreview.commands.scan import build_context
    from synthreview.isolation import IsolationLimits, scan_isolated

    try:
        iso = IsolationLimits.from_env(memory_mib=args.max_memory, timeout=args.timeout)
    except ValueError as exc:
        from synthreview.commands.common import err

        err.print(f"[red]invalid resource limit 资源限制无效[/red]: {exc}")
        return 2
    meta = read_meta(args.meta)
    ctx = build_context(args)
    try:
        from synthreview.store import Store
    except ImportError:
        Store = None  # noqa: N806
    result = None
    if Store is not None and not args.no_db:
        with Store.open(db_path(args)) as store:
            result = store.cached_result(Path(args.path), meta, ctx)
            if result is None:
                result = scan_isolated(args.path, meta, ctx, iso)
                store.record(result)
    else:
        result = scan_isolated(args.path, meta, ctx, iso)
    write_out(render_json([result]), None)
    return result.decision.action.exit_code

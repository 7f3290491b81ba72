"""``synthreview hook PATH --meta FILE``: pipeline mode — JSON report on stdout, exit code = decision."""

from __future__ import annotations

import argparse
from pathlib import Path

from reports.json_report import render_json
from synthreview.commands.common import add_db, write_out


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
    """Scan one artifact (confined, recorded, idempotent) and exit with the decision's code (DESIGN.md)."""
    from synthreview.commands.scan import scan_and_record

    results = scan_and_record(args, [Path(args.path)])
    if isinstance(results, int):
        return results
    write_out(render_json(results), None)
    return results[0].decision.action.exit_code

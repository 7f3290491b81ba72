"""Helpers shared by commands: DB path, submission metadata, console on stderr."""

from __future__ import annotations

import argparse
import os
import sys

from rich.console import Console

from filings.meta import MetaError, SubmissionMeta, load_meta

err = Console(stderr=True, highlight=False)


def db_path(args: argparse.Namespace) -> str:
    """``--db``, else ``$SYNTHREVIEW_DB``, else ``./synthreview.db`` (DESIGN.md)."""
    return getattr(args, "db", None) or os.environ.get("SYNTHREVIEW_DB") or "synthreview.db"


def add_db(parser: argparse.ArgumentParser) -> None:
    """The ``--db`` option every store-touching command takes."""
    parser.add_argument("--db", metavar="DB", help="SQLite store (default: $SYNTHREVIEW_DB, else ./synthreview.db)")


def read_meta(path: str | None) -> SubmissionMeta | None:
    """Load ``--meta`` or exit with a clear bilingual message."""
    if not path:
        return None
    try:
        return load_meta(path)
    except (MetaError, OSError) as exc:
        err.print(f"[red]submission metadata unreadable 提交元数据无法读取[/red]: {path}: {exc}")
        raise SystemExit(2) from exc


def write_out(text: str, out: str | None) -> None:
    """Write a report to ``-o FILE`` or stdout."""
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
        err.print(f"report written to {out}")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()

"""``synthreview registry import FILE`` / ``registry lookup NUMBER``: load CAC lists, look a number up.

Reviewers paste numbers from screenshots and submission forms, so ``lookup`` says precisely what is wrong with
a number it cannot find (wrong length, bad check digit, placeholder) instead of a bare "not found". With no
registry imported yet, lookups use the shipped demo rows (filings.md §5) and say so.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from filings.numbers import FilingKind, FilingNumber, NumberStatus, parse_filing
from filings.registry import (
    Cancellation,
    ImportKind,
    RegistryImportError,
    RegistryRow,
    RegistrySnapshot,
    load_snapshot,
    open_db,
    parse_registry_file,
    store_batch,
)
from scanner.serialize import to_data

log = logging.getLogger(__name__)


def db_path(args: argparse.Namespace) -> Path:
    """``--db``, else ``$SYNTHREVIEW_DB``, else ``./synthreview.db`` (CONTRIBUTING.md)."""
    return Path(args.db or os.environ.get("SYNTHREVIEW_DB") or "synthreview.db")


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "registry",
        help="import CAC filing lists; look a filing number up (备案清单导入与查询)",
        description="Import CAC published lists (deep-synthesis .docx/.xlsx/.csv/.json, GenAI 备案/登记 lists, "
                    "cancellation notices) as versioned batches, and look filing numbers up.",
    )
    sub = p.add_subparsers(dest="registry_command", metavar="SUBCOMMAND", required=True)

    imp = sub.add_parser("import", help="import one list file as a batch (same file twice = no change)")
    imp.add_argument("file", metavar="FILE", type=Path)
    imp.add_argument("--db", help="synthreview DB (default: $SYNTHREVIEW_DB or ./synthreview.db)")
    imp.add_argument("--kind", choices=[k.value for k in ImportKind], default=ImportKind.AUTO.value,
                     help="layout of FILE (default: detect from the table header)")
    imp.set_defaults(run=run)

    look = sub.add_parser("lookup", help="look a 网信算备 / GenAI 备案/登记 number up")
    look.add_argument("number", metavar="NUMBER")
    look.add_argument("--db", help="synthreview DB (default: $SYNTHREVIEW_DB or ./synthreview.db)")
    look.add_argument("--format", choices=("table", "json"), default="table")
    look.set_defaults(run=run)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.registry_command == "import":
        return _import(args)
    return _lookup(args)


def _err(zh: str, en: str) -> None:
    print(f"{zh}\n{en}", file=sys.stderr)


def _import(args: argparse.Namespace) -> int:
    path = db_path(args)
    try:
        parsed = parse_registry_file(args.file, ImportKind(args.kind))  # before touching the DB
        result = store_batch(open_db(path), parsed)
    except RegistryImportError as exc:
        _err(f"导入失败：{exc}", f"import failed: {exc}")
        return 1
    except sqlite3.Error as exc:
        _err(f"无法写入数据库 {path}：{exc}", f"cannot write the registry DB {path}: {exc}")
        return 1
    for w in result.warnings:
        log.warning("%s", w)
    b = result.batch
    if result.created:
        print(f"imported batch #{b.id}: {b.row_count} {b.kind.value} row(s) from {b.source} "
              f"(sha256 {b.sha256[:16]}…) into {path} / 已导入第 {b.id} 批，{b.row_count} 条")
    else:
        print(f"already imported as batch #{b.id} ({b.source}, sha256 {b.sha256[:16]}…): nothing changed "
              f"/ 该文件已导入（第 {b.id} 批），未做更改")
    return 0


def _snapshot(path: Path) -> RegistrySnapshot:
    """The DB's registry, or the demo registry when the DB is absent or has no batches (never creates a DB)."""
    if not path.exists():
        return load_snapshot(None)
    import sqlite_utils

    return load_snapshot(sqlite_utils.Database(str(path)))


def _row_data(r: RegistryRow, c: Cancellation | None) -> dict[str, Any]:
    d = to_data(r)
    d["role_kind"] = r.role_kind.value
    d["cancelled"] = to_data(c) if c else None
    return d


def _lookup(args: argparse.Namespace) -> int:
    fn = parse_filing(args.number)
    if fn.kind in (FilingKind.ICP, FilingKind.APP_BEIAN):
        _err("ICP/App 备案号不在网信办算法备案清单中，请在工信部备案系统（beian.miit.gov.cn）查询",
             f"{fn.normalized} is an ICP/App 备案 number; look it up at beian.miit.gov.cn, not in the CAC lists")
        return 1
    if fn.status in (NumberStatus.MALFORMED, NumberStatus.PLACEHOLDER):
        _err(f"编号格式错误：{fn.raw.strip()} —— {fn.problem_zh}", f"malformed number: {fn.raw.strip()}: {fn.problem_en}")
        return 1
    try:
        snap = _snapshot(db_path(args))
    except Exception as exc:  # a broken or foreign DB file: report it, do not crash
        _err(f"无法读取数据库：{exc}", f"cannot read the registry DB: {exc}")
        return 1
    rows = snap.lookup(fn)
    cancel = snap.cancellation(fn)
    source = "demo registry (filings.md §5 excerpt) / 演示备案库（节选）" if snap.demo else f"DB {snap.source}"
    if not rows and cancel is None:
        extra_zh = extra_en = ""
        if fn.status is NumberStatus.BAD_CHECK_DIGIT:
            extra_zh, extra_en = f"；{fn.problem_zh}", f"; {fn.problem_en}"
        if snap.demo:
            extra_zh += "；演示库仅含部分数据，请导入完整清单（synthreview registry import）"
            extra_en += "; the demo registry is an excerpt: import the full lists (synthreview registry import)"
        _err(f"未在备案清单中找到 {fn.normalized}（{source}）{extra_zh}",
             f"not found in the registry: {fn.normalized} ({source}){extra_en}")
        return 1
    if fn.status is NumberStatus.BAD_CHECK_DIGIT:
        log.warning("%s", fn.problem_en)

    if args.format == "json":
        out = {
            "query": args.number,
            "number": fn.normalized,
            "kind": fn.kind.value,
            "validity": fn.status.value,
            "problem": fn.problem_en or None,
            "rows": [_row_data(r, cancel) for r in rows],
            "cancelled": to_data(cancel) if cancel else None,
            "registry": {"snapshot": snap.snapshot_id, "source": snap.source, "demo": snap.demo},
        }
        json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    _print_table(fn, rows, cancel, snap, source)
    return 0


def _print_table(fn: FilingNumber, rows: tuple[RegistryRow, ...], cancel: Cancellation | None,
                 snap: RegistrySnapshot, source: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    console = Console(file=sys.stdout, width=max(100, Console(file=sys.stdout).width), highlight=False)
    for r in rows:
        t = Table(title=Text(fn.normalized), show_header=False, title_justify="left")
        t.add_column("field", style="bold", no_wrap=True)
        t.add_column("value", overflow="fold")
        if r.list_kind.value == "deep_synthesis":
            fields = [("算法名称 algorithm", r.algorithm), ("角色 role", f"{r.role} ({r.role_kind.value})"),
                      ("主体名称 entity", r.entity), ("应用产品 products", r.products),
                      ("主要用途 purpose", r.purpose), ("备注 note", r.note)]
        else:
            fields = [("模型名称 model", r.algorithm), ("备案单位 entity", r.entity), ("属地 region", r.region),
                      ("备案时间 filed", r.filed),
                      ("类型 kind", "登记 registration" if r.list_kind.value == "genai_dengji" else "备案 filing")]
        fields += [("批次 batch", r.batch_source)]
        for k, v in fields:
            if v:
                t.add_row(k, Text(v))  # Text: cell values like "[seed excerpt]" are not markup
        t.add_row("状态 status", Text("已注销 CANCELLED" if cancel else "有效 listed"))
        console.print(t)
    if cancel is not None:
        console.print("[bold red]已注销 cancelled[/]: " + escape(
            f"{cancel.number} {cancel.algorithm} {cancel.entity} {cancel.cancelled} ({cancel.batch_source})"))
    console.print(escape(f"registry: {source}, snapshot {snap.snapshot_id[:16]}"))

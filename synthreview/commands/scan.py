"""``synthreview scan PATH...``: scan artifacts, record them in the store, print the report."""

from __future__ import annotations

import argparse
import contextlib
from importlib import resources
from pathlib import Path

from rich.progress import Progress

from reports import Format, render
from reports.model import ScanResult
from synthreview.commands.common import add_db, db_path, err, read_meta, write_out


def demo_apk() -> Path:
    """The embedded demo app (built by tests/fixtures/build_fixtures.sh) used when no PATH is given."""
    return Path(str(resources.files("synthreview") / "data" / "demo.apk"))


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the command."""
    p = sub.add_parser("scan", help="scan artifacts and print the report (no PATH: the embedded demo app)",
                       description="Scan APKs / mini-program packages; print findings, filing checks and a proposed decision.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="artifact files or folders (default: embedded demo app)")
    p.add_argument("--meta", help="submission metadata (YAML or JSON)")
    p.add_argument("--format", choices=[f.value for f in Format], default="table")
    p.add_argument("-o", "--output", help="write the report to a file instead of stdout")
    p.add_argument("--policy", help="a store policy YAML instead of the shipped default")
    add_db(p)
    p.add_argument("--no-db", action="store_true", help="do not record the scan in the store")
    _add_isolation_args(p)
    p.set_defaults(run=run)


def _add_isolation_args(p: argparse.ArgumentParser) -> None:
    """Per-artifact worker limits (synthreview.isolation); flags override $SYNTHREVIEW_MAX_MEMORY / _TIMEOUT."""
    from synthreview.isolation import DEFAULT_MEMORY_MIB, DEFAULT_TIMEOUT, mib_arg, seconds_arg

    p.add_argument("--max-memory", type=mib_arg, metavar="MIB",
                   help=f"memory limit of each artifact's reader process in MiB, or e.g. 2G "
                        f"(default: $SYNTHREVIEW_MAX_MEMORY, else {DEFAULT_MEMORY_MIB})")
    p.add_argument("--timeout", type=seconds_arg, metavar="S",
                   help=f"wall-clock seconds per artifact before its reader is killed "
                        f"(default: $SYNTHREVIEW_TIMEOUT, else {DEFAULT_TIMEOUT:g})")


def build_context(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Rule pack, policy and registry for this run (registry: the store's, else the demo seed rows)."""
    from rules.policy import PolicyError, load_policy
    from synthreview.pipeline import Context

    policy = None
    if getattr(args, "policy", None):
        try:
            policy = load_policy(Path(args.policy))
        except (PolicyError, OSError) as exc:
            err.print(f"[red]policy refused 策略文件无效[/red]:\n{exc}")
            raise SystemExit(2) from exc
    registry = None
    if not getattr(args, "no_db", False) and Path(db_path(args)).exists():
        from filings.registry import load_snapshot, open_db

        registry = load_snapshot(open_db(db_path(args)))
    return Context.default(registry=registry, policy=policy)


def scan_and_record(args: argparse.Namespace, paths: list[Path]) -> list[ScanResult] | int:
    """Scan ``paths`` under ``args`` (meta, policy, limits, db): each artifact read in a confined worker and
    recorded as soon as it is scanned (a killed batch keeps what it finished); an artifact already recorded
    under the same rules, policy, registry and meta is answered from the store. Returns 2 on bad limits."""
    from synthreview.isolation import IsolationLimits, scan_isolated
    from synthreview.store import Store

    try:
        iso = IsolationLimits.from_env(memory_mib=args.max_memory, timeout=args.timeout)
    except ValueError as exc:
        err.print(f"[red]invalid resource limit 资源限制无效[/red]: {exc}")
        return 2
    meta = read_meta(args.meta)
    ctx = build_context(args)
    results: list[ScanResult] = []
    store_cm = contextlib.nullcontext(None) if args.no_db else Store.open(db_path(args))
    with store_cm as store, Progress(console=err, transient=True, disable=len(paths) < 2) as progress:
        task = progress.add_task("scanning", total=len(paths))
        for p in paths:
            r = store.cached_result(p, meta, ctx) if store is not None else None
            if r is None:
                r = scan_isolated(p, meta, ctx, iso)
                if store is not None:
                    store.record(r)
            results.append(r)
            progress.advance(task)
    return results


def run(args: argparse.Namespace) -> int:
    """Scan every path and print one report."""
    paths = [Path(p) for p in args.paths] or [demo_apk()]
    if not args.paths:
        err.print(f"no PATH given: scanning the embedded demo app 未指定文件，扫描内置示例应用 ({paths[0].name})")
    results = scan_and_record(args, paths)
    if isinstance(results, int):
        return results
    write_out(render(Format(args.format), results), args.output)
    return 0

"""The ``synthreview`` command: a thin argparse shell over the library.

Each command lives in ``synthreview/commands/<name>.py`` with ``add_parser(subparsers)`` and
``run(args) -> int``. Reports go to stdout; logs and progress go to stderr (rich). Exit code 2 stays
argparse's usage error; the ``hook`` command maps decisions to the codes in DESIGN.md.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from synthreview import __version__

#: Command modules, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "scan",
    "inventory",
    "hook",
    "serve",
    "triage",
    "rescan",
    "registry",
    "rules",
    "store",
    "audit",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser from whichever command modules are present."""
    parser = argparse.ArgumentParser(
        prog="synthreview",
        description=(
            "Review apps and mini-programs for deep synthesis (深度合成) under the CAC Provisions: "
            "find capabilities with evidence, check filings (算法备案), propose a store decision."
        ),
    )
    parser.add_argument("--version", action="version", version=f"synthreview {__version__} ({_core_note()})")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"synthreview.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"synthreview.commands.{name}":
                continue  # command not built yet
            raise
        mod.add_parser(sub)
    return parser


def setup_logging(verbose: bool) -> None:
    """Send logs to stderr through rich, never to stdout (stdout carries the report)."""
    from rich.console import Console
    from rich.logging import RichHandler

    handler = RichHandler(console=Console(stderr=True), show_path=False, show_time=False)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, handlers=[handler], force=True,
                        format="%(name)s: %(message)s")
    # androguard logs through loguru at DEBUG/INFO; keep it quiet unless asked.
    try:
        from loguru import logger as _loguru

        _loguru.remove()
        if verbose:
            _loguru.add(sys.stderr, level="WARNING")
    except ImportError:  # pragma: no cover - androguard always brings loguru
        pass


def _core_note() -> str:
    """Whether the compiled inventory core is in use: without it the same code runs several times slower."""
    try:
        import scanner._speedups as sp
    except ImportError:
        return "compiled core: missing, pure-Python inventory"
    return "compiled core: yes" + (", ISA-L inflate" if getattr(sp, "HAVE_ISAL", 0) else ", zlib inflate")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv`` and run one command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    setup_logging(getattr(args, "verbose", False))
    if not getattr(args, "command", None):
        parser.print_help(sys.stdout)
        return 0
    return int(args.run(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

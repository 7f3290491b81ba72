"""``synthreview inventory PATH``: print the full Inventory (exactly what the rules see)."""

from __future__ import annotations

import argparse

from synthreview.commands.common import write_out


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the command."""
    p = sub.add_parser("inventory", help="print an artifact's full Inventory (what the rules see)")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--format", choices=["json", "table"], default="json")
    p.add_argument("--wxapkg-appid", help="appid for a PC-encrypted wxapkg")
    p.add_argument("-o", "--output")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Read and print; exit 1 when the reader recorded errors (the Inventory is printed anyway)."""
    from reports.json_report import inventory_summary, render_inventory_json
    from scanner.reader import read_artifact

    inv = read_artifact(args.path, wxapkg_appid=args.wxapkg_appid)
    if args.format == "json":
        text = render_inventory_json(inv)
    else:
        import json

        summary = inventory_summary(inv)
        summary["errors"] = [f"{e.stage}: {e.locator}: {e.message}" for e in inv.errors]
        text = json.dumps({"artifact": inv.artifact.path, "kind": inv.artifact.kind.value, **summary},
                          ensure_ascii=False, indent=2) + "\n"
    write_out(text, args.output)
    return 1 if inv.errors else 0

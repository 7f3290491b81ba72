"""``synthreview rules list|lint|test|explain``: inspect and test the rule packs."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from synthreview.commands.common import err, write_out


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the command and its sub-commands."""
    p = sub.add_parser("rules", help="list, lint, test and explain rule packs")
    rs = p.add_subparsers(dest="rules_cmd", metavar="SUBCOMMAND", required=True)
    ls = rs.add_parser("list", help="list rules (filter by capability or duty)")
    ls.add_argument("--capability", help="only rules for this capability (e.g. face_manipulation)")
    ls.add_argument("--duty", help="only compliance-evidence rules for this duty (e.g. moderation)")
    ls.add_argument("--format", choices=["table", "json", "md"], default="table")
    ls.add_argument("-o", "--output")
    lint = rs.add_parser("lint", help="validate packs; exit 1 with file:key messages on any problem")
    lint.add_argument("paths", nargs="*", help="pack folders or rule files (default: the shipped packs)")
    test = rs.add_parser("test", help="build each rule's positive and benign fixture, scan it, check fire/silent")
    test.add_argument("ids", nargs="*", help="rule ids (default: all)")
    ex = rs.add_parser("explain", help="show one rule: signals, weights, thresholds, references")
    ex.add_argument("id")
    for q in (ls, lint, test, ex):
        q.add_argument("--packs", action="append", help="use these pack folders instead of the shipped ones")
    p.set_defaults(run=run)


def _pack(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from rules.loader import RulePackError, load_pack

    roots = [Path(x) for x in (getattr(args, "paths", None) or args.packs or [])] or None
    try:
        return load_pack(roots)
    except RulePackError as exc:
        for problem in exc.problems:
            err.print(f"[red]{problem}[/red]", soft_wrap=True)
        err.print(f"{len(exc.problems)} problem(s): the rule pack refuses to load 规则包校验失败")
        return None


def rules_markdown(pack) -> str:  # type: ignore[no-untyped-def]
    """RULES.md: every rule, grouped by capability or duty (generated; a test keeps it fresh)."""
    lines = [
        "# Rules",
        "",
        "Generated from `rules/packs/` by `synthreview rules list --format md -o RULES.md` — do not edit by hand.",
        "",
        f"{len(pack.rules)} rules; pack sha256 `{pack.sha256}`.",
        "",
    ]
    counts = Counter(r.category for r in pack.rules)
    lines += ["| category | rules |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in sorted(counts.items())] + [""]
    for cat in sorted(counts):
        lines += [f"## {cat}", "", "| id | SDK / service | vendor | signals | reference |", "|---|---|---|---|---|"]
        for r in pack.rules:
            if r.category != cat:
                continue
            sig = "<br>".join(
                f"`{s.kind.value}` {s.value.replace('|', '&#124;')} ({s.weight}{', supporting' if s.supporting else ''})"
                for s in r.signals
            )
            ref = r.references[0].replace("|", "&#124;") if r.references else ""
            lines.append(f"| `{r.id}` | {r.name} | {r.vendor} | {sig} | {ref} |")
        lines.append("")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Dispatch the sub-command."""
    pack = _pack(args)
    if pack is None:
        return 1
    cmd = args.rules_cmd
    if cmd == "lint":
        by = Counter(r.category for r in pack.rules)
        print(f"ok: {len(pack.rules)} rules, sha256 {pack.sha256}")
        for k, v in sorted(by.items()):
            print(f"  {k}: {v}")
        return 0
    if cmd == "list":
        rules = [r for r in pack.rules
                 if (not args.capability or r.category == args.capability) and (not args.duty or r.category == args.duty)]
        if args.format == "md":
            write_out(rules_markdown(pack) + "\n", args.output)
        elif args.format == "json":
            data = [{"id": r.id, "name": r.name, "vendor": r.vendor, "category": r.category,
                     "signals": [{"kind": s.kind.value, "value": s.value, "weight": s.weight, "supporting": s.supporting}
                                 for s in r.signals], "references": list(r.references)} for r in rules]
            write_out(json.dumps(data, ensure_ascii=False, indent=2) + "\n", args.output)
        else:
            from rich.console import Console
            from rich.table import Table

            t = Table(title=f"{len(rules)} rules")
            for col in ("id", "category", "SDK / service", "vendor", "signals"):
                t.add_column(col, overflow="fold")
            for r in rules:
                t.add_row(r.id, r.category, r.name, r.vendor, str(len(r.signals)))
            Console(width=160).print(t)
        return 0
    if cmd == "explain":
        r = pack.get(args.id)
        if r is None:
            err.print(f"[red]no rule {args.id!r}[/red] 未找到该规则")
            return 1
        out = [f"{r.id} — {r.name}", f"vendor: {r.vendor}", f"category: {r.category}", f"file: rules/packs/{r.source}",
               "", r.description, "", f"thresholds: high ≥ {r.thresholds.high}, medium ≥ {r.thresholds.medium}, "
               f"low ≥ {r.thresholds.low}" + (f"; requires one of {[k.value for k in r.require_any]}" if r.require_any else ""),
               "signals:"]
        out += [f"  {s.weight:>3}  {s.kind.value:<16} {s.value}{'  (supporting)' if s.supporting else ''}" for s in r.signals]
        if r.ambiguous_with:
            out.append(f"ambiguous with: {', '.join(r.ambiguous_with)} — {r.ambiguous_note}")
        out += ["references:"] + [f"  {x}" for x in r.references]
        print("\n".join(out))
        return 0
    if cmd == "test":
        from rules.fixtures import build_fixture
        from rules.matcher import evaluate
        from scanner.reader import read_bytes

        wanted = set(args.ids)
        failures = 0
        ran = 0
        for r in pack.rules:
            if wanted and r.id not in wanted:
                continue
            ran += 1
            for part, should in (("positive", True), ("benign", False)):
                name, data = build_fixture(r.fixtures[part])
                inv = read_bytes(name, data)
                fired = r.id in {f.rule_id for f in evaluate(inv, pack)}
                if fired != should or inv.errors:
                    failures += 1
                    print(f"FAIL {r.id} {part}: {'fired' if fired else 'silent'}"
                          + (f" (scan errors: {inv.errors})" if inv.errors else ""))
        print(f"{ran * 2 - failures} passed, {failures} failed")
        return 1 if failures or (wanted and ran != len(wanted)) else 0
    return 2

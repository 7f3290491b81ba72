"""The rich terminal view of a ScanResult (a pure function returning the rendered text)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from reports.model import ScanResult

_ACTION_STYLE = {"list": "bold green", "warn": "bold yellow", "needs_review": "bold magenta", "reject": "bold red",
                 "suspend": "bold red", "takedown": "bold red"}


def _one(r: ScanResult) -> Group:
    inv, d = r.inventory, r.decision
    a = inv.artifact
    head = Text()
    head.append(f"{d.action.value} · {d.action.zh}", style=_ACTION_STYLE[d.action.value])
    head.append(f"   {a.path}  [{a.kind.value}]  {a.app_id or '-'} {a.version or ''}  {a.name or ''}\n")
    for reason in d.reasons:
        head.append(f"  • [{reason.article}] {reason.en}\n    {reason.zh}\n")
    parts: list = [Panel(head, title="decision 决定", expand=True)]  # type: ignore[type-arg]
    if r.findings:
        t = Table(title="findings 发现", expand=True, show_lines=False)
        for col in ("capability", "SDK / service", "confidence", "evidence"):
            t.add_column(col, overflow="fold")
        for f in r.findings:
            ev = "\n".join(f"{e.kind}: {e.locator}" + (f" = {e.value}" if e.value not in e.locator else "") for e in f.evidence[:4])
            conf = f.confidence.value + (" (ambiguous)" if f.ambiguous else "")
            t.add_row(f.capability, f"{f.sdk}\n{f.vendor}", conf, ev)
        parts.append(t)
    else:
        parts.append(Text("findings 发现: none"))
    if r.filings:
        ft = Table(title=f"filings 备案: {r.filings.status.value}", expand=True)
        ft.add_column("status")
        ft.add_column("article")
        ft.add_column("check", overflow="fold")
        for c in r.filings.checks:
            ft.add_row(c.status.value, str(c.article.value if hasattr(c.article, "value") else c.article), f"{c.en}\n{c.zh}")
        parts.append(ft)
    if r.compliance:
        ct = Table(title="compliance 义务", expand=True)
        for col in ("duty", "article", "status", "evidence / note"):
            ct.add_column(col, overflow="fold")
        for c in r.compliance:
            note = "\n".join(f"{e.locator} = {e.value}" for e in c.evidence[:3]) or c.en
            ct.add_row(c.duty, c.article, c.status.value, note)
        parts.append(ct)
    if r.errors:
        et = Table(title="errors 错误 (scan incomplete)", expand=True)
        for col in ("stage", "locator", "message"):
            et.add_column(col, overflow="fold")
        for e in r.errors:
            et.add_row(e.stage, e.locator, e.message)
        parts.append(et)
    p = r.provenance
    parts.append(Text(f"synthreview {p.tool_version} · rules {p.rules_sha256[:12]} · policy {p.policy_id} "
                      f"{p.policy_sha256[:12]} · registry {p.registry_snapshot[:12]}"
                      f"{' (demo)' if p.registry_demo else ''}", style="dim"))
    return Group(*parts)


def render_terminal(results: Sequence[ScanResult], width: int = 120, color: bool = False) -> str:
    """Render results for a terminal (``color`` keeps ANSI styles)."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, color_system="standard" if color else None)
    for r in results:
        console.print(_one(r))
    return buf.getvalue()

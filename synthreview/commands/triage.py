"""``synthreview triage [list | show ID | decide ID --action A --note T]``: the reviewer queue.

``list`` (the default) shows the current version of every app that needs a reviewer, most severe first, then
oldest; ``show`` is the evidence drill-down; ``decide`` records an override in the decisions table and the
hash-chained audit log. ID is a scan id (or an app id: its newest version's latest scan).
"""

from __future__ import annotations

import argparse
import getpass
import io
import json
import os
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rules.policy import Action
from synthreview.commands.common import add_db, db_path, err, write_out

if TYPE_CHECKING:
    from synthreview.store import QueueEntry, Store
    from synthreview.triage import ScanDetail

_STYLE = {"list": "green", "warn": "yellow", "needs_review": "magenta", "reject": "red", "suspend": "red",
          "takedown": "bold red"}
_SUPPLEMENTARY = ("ml_runtime", "biometric_recognition")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the command (``triage`` alone = ``triage list``)."""
    p = sub.add_parser("triage", help="reviewer queue: list, show evidence, decide (人工审核队列)",
                       description="The reviewer queue: apps whose current version needs a human decision.")
    add_db(p)
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--pending", action="store_true", help="hide items a reviewer already decided")
    tsub = p.add_subparsers(dest="triage_command", metavar="SUBCOMMAND")

    def common(sp: argparse.ArgumentParser) -> None:
        # SUPPRESS: a subcommand must not reset an option given before it (``triage --db X list``).
        sp.add_argument("--db", metavar="DB", default=argparse.SUPPRESS,
                        help="SQLite store (default: $SYNTHREVIEW_DB, else ./synthreview.db)")

    ls = tsub.add_parser("list", help="the queue, most severe first, then oldest (队列)")
    common(ls)
    ls.add_argument("--format", choices=["table", "json"], default=argparse.SUPPRESS)
    ls.add_argument("--pending", action="store_true", default=argparse.SUPPRESS,
                    help="hide items a reviewer already decided")
    show = tsub.add_parser("show", help="evidence, filing checks and version history of a scan (详情)")
    show.add_argument("id", metavar="ID", help="scan id, or an app id (its newest version's latest scan)")
    common(show)
    show.add_argument("--format", choices=["table", "json"], default=argparse.SUPPRESS)
    dec = tsub.add_parser("decide", help="record a reviewer decision (audit-logged) (人工处置)")
    dec.add_argument("id", metavar="ID", help="scan id, or an app id")
    dec.add_argument("--action", required=True, choices=[a.value for a in Action],
                     help="list | warn | needs_review | reject (submission) | suspend | takedown (listed)")
    dec.add_argument("--note", required=True, help="why (kept in the audit log)")
    dec.add_argument("--reviewer", help="who decides (default: $SYNTHREVIEW_REVIEWER, else the login name)")
    common(dec)
    p.set_defaults(run=run)


def _reviewer(args: argparse.Namespace) -> str | None:
    if args.reviewer:
        return str(args.reviewer)
    env = os.environ.get("SYNTHREVIEW_REVIEWER")
    if env:
        return env
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


def run(args: argparse.Namespace) -> int:
    """Dispatch to list / show / decide."""
    from synthreview.store import Store, StoreError
    from synthreview.triage import TriageError

    try:
        store = Store.open(db_path(args), create=False)
    except StoreError as exc:
        err.print(f"[red]{exc}[/red]")
        return 1
    cmd = args.triage_command or "list"
    try:
        with store:
            if cmd == "list":
                return _list(store, args)
            if cmd == "show":
                return _show(store, args)
            return _decide(store, args)
    except TriageError as exc:
        err.print(f"[red]{exc.en}[/red]\n{exc.zh}")
        return 2 if exc.usage else 1


# ------------------------------------------------------------------------------------------------ list


def _age(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def _queue_note(q: QueueEntry) -> str:
    if q.reason == "decision_changed":
        return f"re-scan: {q.detail.get('old_action')} → {q.detail.get('new_action')}"
    if q.reason == "art20":
        caps = ", ".join(f["capability"] for f in q.detail.get("flags", []))
        return f"Art. 20: new {caps}"
    return q.reason


def _list(store: Store, args: argparse.Namespace) -> int:
    from synthreview.triage import queue

    items = queue(store, pending_only=bool(args.pending))
    if args.format == "json":
        write_out(json.dumps([i.to_dict() for i in items], ensure_ascii=False, indent=2) + "\n", None)
        return 0
    buf = io.StringIO()
    con = Console(file=buf, width=150, color_system=None, highlight=False)
    t = Table(title=f"triage queue 审核队列 ({len(items)})", expand=True)
    for col in ("ID", "action 处置", "app 应用", "version", "channel", "age", "reasons 原因", "queued 入队", "reviewed 已审"):
        t.add_column(col, overflow="fold")
    for i in items:
        s = i.scan
        act = Text(i.action.value, style=_STYLE[i.action.value])
        act.append(f"\n{i.action.zh}")
        reviewed = f"{i.reviewer} (policy: {s.action.value})" if i.reviewer else "-"
        t.add_row(str(s.id), act, f"{s.app_id}\n{s.app_name or ''}", s.version or "-", s.channel,
                  _age(i.age_seconds), ", ".join(i.reason_codes) or "-",
                  "\n".join(_queue_note(q) for q in i.queue) or "-", reviewed)
    con.print(t if items else "queue empty 队列为空")
    write_out(buf.getvalue(), None)
    return 0


# ------------------------------------------------------------------------------------------------ show


def _show(store: Store, args: argparse.Namespace) -> int:
    from synthreview.triage import detail, resolve_id

    d = detail(store, resolve_id(store, args.id))
    if args.format == "json":
        write_out(json.dumps(_detail_dict(d), ensure_ascii=False, indent=2) + "\n", None)
    else:
        buf = io.StringIO()
        Console(file=buf, width=150, color_system=None, highlight=False).print(_detail_view(d))
        write_out(buf.getvalue(), None)
    return 0


def _detail_dict(d: ScanDetail) -> dict[str, Any]:
    from reports.json_report import result_dict
    from scanner.serialize import to_data

    s = d.scan
    return {
        "id": s.id, "app_id": s.app_id, "name": s.app_name, "version": s.version, "channel": s.channel,
        "action": d.action.value, "action_zh": d.action.zh, "policy_action": s.action.value,
        "created_at": s.created_at, "origin": s.origin,
        "decisions": [to_data(x) for x in d.decisions],
        "queued": [{"reason": q.reason, "detail": q.detail, "queued_at": q.queued_at} for q in d.queue],
        "notes": [f.to_dict() for f in d.art20],
        "history": [to_data(h) for h in d.history],
        "report": result_dict(d.result),
    }


def _detail_view(d: ScanDetail) -> Group:
    s, r = d.scan, d.result
    head = Text()
    head.append(f"{d.action.value} · {d.action.zh}", style=_STYLE[d.action.value])
    if d.action is not s.action:
        head.append(f"   (policy 策略: {s.action.value} · {s.action.zh})")
    head.append(f"\nscan #{s.id}  {s.app_id}  {s.app_name or ''}  version {s.version or '-'}"
                f" (code {s.version_code or '-'})  channel {s.channel}  [{s.kind}]\n")
    head.append(f"artifact {s.artifact_sha256}  {s.path or ''}\n")
    head.append(f"scanned {s.created_at} ({s.origin})  tool {s.tool_version}  rules {s.rules_sha256[:12]}  "
                f"policy {s.policy_id or '-'} {s.policy_sha256[:12]}  registry {s.registry_snapshot[:12]}"
                f"{' (demo)' if s.registry_demo else ''}  extractor {s.extractor_version}\n")
    for reason in r.decision.reasons:
        head.append(f"  • [{reason.article}] {reason.en}\n    {reason.zh}\n")
    parts: list[Any] = [Panel(head, title="decision 处置", expand=True)]

    reviews = [x for x in d.decisions if x.source == "reviewer"]
    if reviews:
        t = Table(title="reviewer decisions 人工处置", expand=True)
        for col in ("at", "reviewer", "action", "note", "audit"):
            t.add_column(col, overflow="fold")
        for x in reviews:
            t.add_row(x.created_at, x.reviewer or "-", f"{x.action.value} {x.action.zh}", x.note or "",
                      f"#{x.audit_id}")
        parts.append(t)

    notes = [f"re-scan changed the decision 重新扫描处置变化: {q.detail.get('old_action')} → "
             f"{q.detail.get('new_action')} (was scan #{q.detail.get('old_scan_id')})"
             for q in d.queue if q.reason == "decision_changed"]
    notes += [f"{f.en}\n  {f.zh}" for f in d.art20]
    if notes:
        parts.append(Panel("\n".join(f"• {n}" for n in notes), title="notes 提示", expand=True))

    groups: dict[str, list[Any]] = {}
    for f in r.findings:
        groups.setdefault(f.capability, []).append(f)
    order = sorted(groups, key=lambda c: (c in _SUPPLEMENTARY, c))
    if not order:
        parts.append(Text("evidence 证据: no capability found 未发现相关能力"))
    for cap in order:
        label = "supporting 辅助" if cap in _SUPPLEMENTARY else "deep synthesis 深度合成"
        t = Table(title=f"{cap} — {label}", expand=True, show_lines=True)
        for col in ("SDK / service", "confidence", "evidence (kind · locator · value)"):
            t.add_column(col, overflow="fold")
        for f in groups[cap]:
            ev = "\n".join(f"{e.kind} · {e.locator}" + (f" · {e.value}" if e.value and e.value not in e.locator else "")
                           for e in f.evidence)
            conf = f"{f.confidence.value} ({f.score})" + (" ambiguous 存疑" if f.ambiguous else "")
            notes_f = "".join(f"\n{n}" for n in f.notes)
            t.add_row(f"{f.sdk}\n{f.vendor}{notes_f}", conf, ev or "-")
        parts.append(t)

    if r.filings:
        fc = r.filings
        ft = Table(title=f"filings 备案: {fc.status.value}" + (" (demo registry 演示备案库)" if fc.registry_demo else ""),
                   expand=True)
        for col in ("status", "article", "check", "number"):
            ft.add_column(col, overflow="fold")
        for c in fc.checks:
            ft.add_row(c.status.value, c.article.value, f"{c.en}\n{c.zh}", c.number or "")
        parts.append(ft)
        if fc.numbers:
            nt = Table(title="filing numbers 备案编号", expand=True)
            for col in ("number", "declared", "in app", "registry", "entity / algorithm / role"):
                nt.add_column(col, overflow="fold")
            for n in fc.numbers:
                nt.add_row(n.number, "yes" if n.declared else "no", "\n".join(n.locators) or "-", n.registry.value,
                           " / ".join(x for x in (n.entity, n.algorithm, n.role) if x) or "-")
            parts.append(nt)
    else:
        parts.append(Text("filings 备案: the filing check failed (see errors) 备案核验失败"))

    if r.compliance:
        ct = Table(title="compliance 义务", expand=True)
        for col in ("duty", "article", "status", "evidence / note"):
            ct.add_column(col, overflow="fold")
        for c in r.compliance:
            note = "\n".join(f"{e.locator} = {e.value}" for e in c.evidence[:5]) or f"{c.en}\n{c.zh}"
            ct.add_row(c.duty, c.article, c.status.value, note)
        parts.append(ct)

    if r.errors:
        et = Table(title="errors 错误 (scan incomplete 扫描不完整)", expand=True)
        for col in ("stage", "locator", "message"):
            et.add_column(col, overflow="fold")
        for e in r.errors:
            et.add_row(e.stage, e.locator, e.message)
        parts.append(et)

    ht = Table(title=f"version history 版本历史 — {s.app_id}", expand=True)
    for col in ("scan", "version", "artifact", "scanned", "channel", "deep synthesis", "policy", "effective",
                "registry"):
        ht.add_column(col, overflow="fold")
    for h in d.history:
        mark = " ◀" if h.scan_id == s.id else ""
        eff = h.action.value + (f" ({h.reviewer})" if h.reviewer else "")
        ht.add_row(f"#{h.scan_id}{mark}", h.version or "-", h.artifact_sha256[:12], f"{h.created_at[:19]} {h.origin}",
                   h.channel, ", ".join(h.capabilities) or "-", h.policy_action.value, eff, h.registry_snapshot[:8])
    parts.append(ht)
    return Group(*parts)


# ------------------------------------------------------------------------------------------------ decide


def _decide(store: Store, args: argparse.Namespace) -> int:
    from synthreview.triage import TriageError, decide, resolve_id

    reviewer = _reviewer(args)
    if not reviewer:
        raise TriageError("no reviewer name: pass --reviewer or set $SYNTHREVIEW_REVIEWER",
                          "无审核员姓名：请使用 --reviewer 或设置 $SYNTHREVIEW_REVIEWER", usage=True)
    sid = resolve_id(store, args.id)
    row = decide(store, sid, args.action, args.note, reviewer)
    scan = store.scan(sid)
    assert scan is not None
    write_out(
        f"recorded 已记录: scan #{sid} {scan.app_id} {scan.version or ''}: policy {scan.action.value} → "
        f"reviewer {row.reviewer}: {row.action.value} ({row.action.zh}); audit #{row.audit_id}\n", None)
    return 0

"""Triage: the reviewer queue, the evidence drill-down, reviewer overrides, and the Art. 20 version check.

Why: reviewers cannot read every app; the queue shows only the apps whose current version needs a human
(most severe first, oldest first), ``show`` puts the evidence, filing checks and version history on one page,
and ``decide`` records the reviewer's action next to the policy's, in the hash-chained audit log.

Art. 20 of the Provisions asks for a new security assessment when a deep-synthesis provider launches a new
function. The store knows which version an assessment was declared with, so a deep-synthesis capability
present in the current version but absent from that version is flagged for the reviewer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from filings.meta import Assessment, SubmissionMeta
from reports.model import ScanResult
from rules.policy import CHANNEL_ACTIONS, Action, Reason
from scanner.serialize import from_data
from synthreview.store import DecisionRow, HistoryEntry, QueueEntry, ScanRow, Store, StoreError

__all__ = [
    "QUEUE_ACTIONS",
    "ART20_CODE",
    "QueueItem",
    "ScanDetail",
    "Art20Flag",
    "TriageError",
    "queue",
    "detail",
    "decide",
    "art20_flags",
    "resolve_id",
]

#: Effective actions that put an app in the reviewer queue.
QUEUE_ACTIONS = frozenset({Action.NEEDS_REVIEW, Action.WARN, Action.REJECT, Action.SUSPEND, Action.TAKEDOWN})
ART20_CODE = "new_capability_since_assessment"
ART20_EN = "new deep-synthesis function since last assessment (Art. 20)"
ART20_ZH = "自上次安全评估以来新增深度合成功能（第二十条）"


class TriageError(ValueError):
    """A triage request that cannot be carried out (unknown id, action not allowed on the channel, …)."""

    def __init__(self, en: str, zh: str, *, usage: bool = False) -> None:
        super().__init__(f"{en} / {zh}")
        self.en, self.zh, self.usage = en, zh, usage


@dataclass(frozen=True)
class Art20Flag:
    """A deep-synthesis capability in the current version that the last assessed version did not have."""

    app_id: str
    capability: str
    assessment_id: str | None
    assessment_date: str | None
    assessed_scan_id: int
    assessed_version: str | None
    assessed_sha256: str
    introduced_version: str | None
    introduced_sha256: str
    current_scan_id: int
    current_version: str | None

    @property
    def en(self) -> str:
        """Reviewer text (English)."""
        a = self.assessment_id or "?"
        return (f"{ART20_EN}: {self.capability} appears in version {self.introduced_version or '?'}"
                f" ({self.introduced_sha256[:12]}), absent from version {self.assessed_version or '?'}"
                f" covered by assessment {a} ({self.assessment_date or 'undated'})")

    @property
    def zh(self) -> str:
        """Reviewer text (Chinese)."""
        a = self.assessment_id or "?"
        return (f"{ART20_ZH}：{self.capability} 出现于版本 {self.introduced_version or '?'}，"
                f"安全评估 {a}（{self.assessment_date or '无日期'}）所覆盖的版本 {self.assessed_version or '?'} 中没有该功能")

    def to_dict(self) -> dict[str, object]:
        """JSON-able form (CLI ``--format json``, queue detail)."""
        return {"code": ART20_CODE, "article": "Art. 20", "app_id": self.app_id, "capability": self.capability,
                "assessment_id": self.assessment_id, "assessment_date": self.assessment_date,
                "assessed_scan_id": self.assessed_scan_id, "assessed_version": self.assessed_version,
                "introduced_version": self.introduced_version, "introduced_sha256": self.introduced_sha256,
                "current_scan_id": self.current_scan_id, "current_version": self.current_version,
                "en": self.en, "zh": self.zh}


@dataclass(frozen=True)
class QueueItem:
    """One row of ``triage list``: the current scan of an app that needs a reviewer."""

    scan: ScanRow
    action: Action  # effective
    reviewer: str | None  # last reviewer who decided on this scan
    reason_codes: tuple[str, ...]
    queue: tuple[QueueEntry, ...]

    @property
    def age_seconds(self) -> float:
        """How long the scan has waited."""
        return (datetime.now(timezone.utc) - datetime.fromisoformat(self.scan.created_at)).total_seconds()

    def to_dict(self) -> dict[str, object]:
        """JSON-able form (``triage list --format json``)."""
        s = self.scan
        return {"id": s.id, "app_id": s.app_id, "name": s.app_name, "version": s.version, "channel": s.channel,
                "action": self.action.value, "action_zh": self.action.zh, "severity": self.action.severity,
                "policy_action": s.action.value, "reviewed_by": self.reviewer, "created_at": s.created_at,
                "age_seconds": round(self.age_seconds), "reasons": list(self.reason_codes),
                "queued": [{"reason": q.reason, "detail": q.detail, "queued_at": q.queued_at} for q in self.queue],
                "artifact_sha256": s.artifact_sha256, "registry_snapshot": s.registry_snapshot}


@dataclass(frozen=True)
class ScanDetail:
    """Everything ``triage show`` prints about one scan."""

    scan: ScanRow
    result: ScanResult
    action: Action  # effective
    decisions: tuple[DecisionRow, ...]
    queue: tuple[QueueEntry, ...]
    history: tuple[HistoryEntry, ...]
    art20: tuple[Art20Flag, ...]


def resolve_id(store: Store, ident: str) -> int:
    """A scan id, or an app id meaning "the latest scan of its newest version"."""
    if ident.isdigit():
        if store.scan(int(ident)) is None:
            raise TriageError(f"no scan {ident}", f"未找到扫描记录 {ident}")
        return int(ident)
    sid = store.latest_scan_of_app(ident)
    if sid is None:
        raise TriageError(f"no scan id or app {ident!r}", f"未找到扫描记录或应用 {ident!r}")
    return sid


def _policy_codes(store: Store, scan_ids: list[int]) -> dict[int, tuple[str, ...]]:
    out: dict[int, tuple[str, ...]] = {}
    for sid in scan_ids:
        r = store.db.conn.execute(
            "SELECT reasons FROM decisions WHERE scan_id = ? AND source = 'policy' ORDER BY id LIMIT 1", (sid,)
        ).fetchone()
        out[sid] = tuple(x["code"] for x in json.loads(r[0])) if r else ()
    return out


def queue(store: Store, *, pending_only: bool = False) -> list[QueueItem]:
    """The reviewer queue: current scans whose effective action needs a reviewer, or that a re-scan queued
    (changed decision, Art. 20) and no reviewer has decided yet; most severe first, then oldest first."""
    current = store.current_scans()
    queued = store.queue_entries([s.id for s, _, _ in current])
    picked = []
    for scan, action, reviewer in current:
        q = queued.get(scan.id, ())
        if action in QUEUE_ACTIONS or (q and reviewer is None):
            if pending_only and reviewer is not None:
                continue
            picked.append((scan, action, reviewer, q))
    codes = _policy_codes(store, [p[0].id for p in picked])
    items = [QueueItem(s, a, r, codes.get(s.id, ()), q) for s, a, r, q in picked]
    items.sort(key=lambda i: (-i.action.severity, i.scan.created_at, i.scan.id))
    return items


def detail(store: Store, scan_id: int) -> ScanDetail:
    """The drill-down of one scan (evidence, filings, decisions, version history, Art. 20 flags)."""
    scan = store.scan(scan_id)
    if scan is None:
        raise TriageError(f"no scan {scan_id}", f"未找到扫描记录 {scan_id}")
    flags = art20_flags(store, [scan.app_id]).get(scan.app_id, ())
    return ScanDetail(
        scan=scan, result=store.load_result(scan_id), action=store.effective_action(scan_id),
        decisions=store.decisions(scan_id), queue=store.queue_entries([scan_id]).get(scan_id, ()),
        history=store.history(scan.app_id), art20=tuple(flags),
    )


def decide(store: Store, scan_id: int, action: str, note: str, reviewer: str) -> DecisionRow:
    """Record a reviewer override (decisions, source reviewer) and its audit-log row, after validating it."""
    scan = store.scan(scan_id)
    if scan is None:
        raise TriageError(f"no scan {scan_id}", f"未找到扫描记录 {scan_id}")
    try:
        act = Action(action)
    except ValueError:
        raise TriageError(f"unknown action {action!r}", f"未知的处置 {action!r}", usage=True) from None
    allowed = CHANNEL_ACTIONS.get(scan.channel, CHANNEL_ACTIONS["submission"])
    if act not in allowed:
        names = ", ".join(a.value for a in Action if a in allowed)
        raise TriageError(
            f"{act.value} is not an action of the {scan.channel} channel (allowed: {names})",
            f"{act.zh}（{act.value}）不适用于 {scan.channel} 渠道（可选：{names}）", usage=True)
    note = note.strip()
    if not note:
        raise TriageError("a note is required (why this decision)", "必须填写处置理由", usage=True)
    if not reviewer.strip():
        raise TriageError("a reviewer name is required", "必须填写审核员", usage=True)
    reason = Reason("reviewer_decision", "Art. 13", f"审核员 {reviewer} 人工处置为「{act.zh}」：{note}",
                    f"Reviewer {reviewer} decided {act.value}: {note}")
    try:
        store.add_review(scan_id, act, note, reviewer.strip(), (reason,))
    except StoreError as exc:
        raise TriageError(str(exc), str(exc)) from exc
    return store.decisions(scan_id)[-1]


# ------------------------------------------------------------------------------------------------ Art. 20


def _assessment_key(a: Assessment) -> tuple[str, str, str]:
    return (a.id or "", a.issuer or "", a.date.isoformat() if a.date else "")


def art20_flags(store: Store, app_ids: Iterable[str] | None = None) -> dict[str, tuple[Art20Flag, ...]]:
    """Per app: deep-synthesis capabilities in the newest version that the last assessed version lacked.

    "The last assessment" is the latest-dated one any scan of the app declared (``assessments`` in the
    submission metadata); the version it covers is the one whose scan first declared it. Capabilities are
    compared on each version's latest scan, high/medium confidence only, so both sides use the same rules.
    """
    wanted = set(app_ids) if app_ids is not None else None
    c = store.db.conn
    # Only apps that ever declared an assessment can be flagged: find them in SQL, not in Python.
    apps = [r[0] for r in c.execute(
        """SELECT DISTINCT a.app_id FROM scans s JOIN artifacts a ON a.sha256 = s.artifact_sha256
           WHERE json_array_length(json_extract(s.meta, '$.assessments')) > 0""")]
    out: dict[str, tuple[Art20Flag, ...]] = {}
    for app_id in apps:
        if wanted is not None and app_id not in wanted:
            continue
        flags = _app_art20(store, app_id)
        if flags:
            out[app_id] = flags
    return out


def _app_art20(store: Store, app_id: str) -> tuple[Art20Flag, ...]:
    c = store.db.conn
    arts = c.execute(
        "SELECT id, sha256, version, latest_scan_id FROM artifacts WHERE app_id = ? AND latest_scan_id IS NOT NULL"
        " ORDER BY id", (app_id,)
    ).fetchall()
    if len(arts) < 2:
        return ()
    order = {r[1]: i for i, r in enumerate(arts)}
    scans = c.execute(
        "SELECT s.id, s.artifact_sha256, s.meta FROM scans s JOIN artifacts a ON a.sha256 = s.artifact_sha256"
        " WHERE a.app_id = ? ORDER BY a.id, s.id", (app_id,)
    ).fetchall()
    first_declared: dict[tuple[str, str, str], tuple[int, int, str, Assessment]] = {}
    for n, (sid, sha, meta) in enumerate(scans):
        for a in from_data(SubmissionMeta, json.loads(meta)).assessments:
            first_declared.setdefault(_assessment_key(a), (n, sid, sha, a))
    if not first_declared:
        return ()
    # latest date wins; undated ones only when nothing is dated; ties: the later declaration
    _, assessed_sid, assessed_sha, assessment = max(
        first_declared.values(), key=lambda v: (v[3].date is not None, v[3].date or "", v[0]))
    a_idx = order.get(assessed_sha)
    if a_idx is None or a_idx == len(arts) - 1:
        return ()
    caps = store.strong_capabilities([r[3] for r in arts])
    baseline = caps[arts[a_idx][3]]
    cur = arts[-1]
    flags = []
    for cap in sorted(caps[cur[3]] - baseline):
        intro = len(arts) - 1
        while intro - 1 > a_idx and cap in caps[arts[intro - 1][3]]:
            intro -= 1
        flags.append(Art20Flag(
            app_id=app_id, capability=cap, assessment_id=assessment.id,
            assessment_date=assessment.date.isoformat() if assessment.date else None,
            assessed_scan_id=assessed_sid, assessed_version=arts[a_idx][2], assessed_sha256=assessed_sha,
            introduced_version=arts[intro][2], introduced_sha256=arts[intro][1], current_scan_id=cur[3],
            current_version=cur[2],
        ))
    return tuple(flags)

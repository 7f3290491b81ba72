"""Policy packs: Findings × FilingCheck × compliance × channel → Decision, citing the articles.

A policy is YAML with two lists. ``decision`` rules are tried in order and the first match wins (the last one
must be the unconditional default); ``duties`` rules all apply (provider duties beyond filings). The final
action is the most severe of the matches and every matched reason is kept. Loading fails closed on any
unknown key, action or condition, like the rule loader. ``decide`` is pure.
"""

from __future__ import annotations

import functools

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from rules.compliance import ComplianceItem
from rules.loader import MAX_YAML_NODES, yaml_too_big
from rules.model import Capability, Finding

POLICIES_DIR = Path(__file__).resolve().parent / "policies"


class Action(str, Enum):
    """Store actions (DESIGN.md), with their Chinese names, hook exit codes and severity."""

    LIST = "list"
    WARN = "warn"
    NEEDS_REVIEW = "needs_review"
    REJECT = "reject"
    SUSPEND = "suspend"
    TAKEDOWN = "takedown"

    @property
    def zh(self) -> str:
        """The Art. 13 wording."""
        return {"list": "通过", "warn": "警示", "needs_review": "人工复核", "reject": "不予上架",
                "suspend": "暂停服务", "takedown": "下架"}[self.value]

    @property
    def exit_code(self) -> int:
        """``synthreview hook`` exit code."""
        return {"list": 0, "warn": 1, "needs_review": 3, "reject": 4, "suspend": 4, "takedown": 4}[self.value]

    @property
    def severity(self) -> int:
        """Ordering for "the most severe action wins"."""
        return {"list": 0, "warn": 1, "needs_review": 2, "suspend": 3, "reject": 4, "takedown": 4}[self.value]


CHANNEL_ACTIONS = {
    "submission": {Action.LIST, Action.WARN, Action.NEEDS_REVIEW, Action.REJECT},
    "listed": {Action.LIST, Action.WARN, Action.NEEDS_REVIEW, Action.SUSPEND, Action.TAKEDOWN},
}


@dataclass(frozen=True)
class Reason:
    """Why: a stable code, the article(s), and reviewer/developer text in both languages."""

    code: str
    article: str
    zh: str
    en: str


@dataclass(frozen=True)
class Decision:
    """The proposed store action and every reason behind it."""

    action: Action
    reasons: tuple[Reason, ...]
    matched: tuple[str, ...] = ()  # policy rule ids that matched, decision rule first
    policy: str = ""
    policy_sha256: str = ""


@dataclass(frozen=True)
class PolicyInput:
    """Everything a decision may depend on (already computed by earlier stages)."""

    channel: str = "submission"
    findings: tuple[Finding, ...] = ()
    filing_status: str | None = None
    filing_codes: frozenset[str] = frozenset()  # codes of filing-check items with status error or warning
    scan_errors: int = 0
    declares_aigc: bool | None = None
    compliance: tuple[ComplianceItem, ...] = ()


_CONDITIONS = {
    "scan_errors", "max_confidence", "capability_any", "ambiguous", "filing_status", "filing_codes_any",
    "channel", "declares_aigc", "duty_status",
}
_RULE_KEYS = {"id", "when", "action", "reasons", "default", "description"}
_LIST_CONDITIONS = {"max_confidence", "capability_any", "filing_status", "filing_codes_any"}
_REASON_KEYS = {"code", "article", "zh", "en"}
_DS = {c.value for c in Capability if c.is_deep_synthesis}


@dataclass(frozen=True)
class PolicyRule:
    """One policy rule."""

    id: str
    when: Mapping[str, Any]
    actions: Mapping[str, Action]  # channel → action
    reasons: tuple[Reason, ...]
    default: bool = False


@dataclass(frozen=True)
class Policy:
    """A loaded policy pack."""

    id: str
    decision: tuple[PolicyRule, ...]
    duties: tuple[PolicyRule, ...]
    sha256: str
    source: str = ""


class PolicyError(Exception):
    """A policy file failed validation; ``problems`` lists ``file:key: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _parse_rule(raw: Any, where: str, problems: list[str]) -> PolicyRule | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping")
        return None
    n = len(problems)
    for k in raw:
        if k not in _RULE_KEYS:
            problems.append(f"{where}.{k}: unknown key")
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid:
        problems.append(f"{where}.id: missing")
    when = raw.get("when") or {}
    if not isinstance(when, dict):
        problems.append(f"{where}.when: must be a mapping")
        when = {}
    for k in when:
        if k not in _CONDITIONS:
            problems.append(f"{where}.when.{k}: unknown condition")
        elif not _condition_ok(k, when[k]):
            problems.append(f"{where}.when.{k}: value has the wrong type ({type(when[k]).__name__})")
    act = raw.get("action")
    actions: dict[str, Action] = {}
    try:
        if isinstance(act, str):
            actions = {ch: Action(act) for ch in CHANNEL_ACTIONS}
        elif isinstance(act, dict):
            actions = {str(ch): Action(a) for ch, a in act.items()}
        else:
            problems.append(f"{where}.action: missing")
    except ValueError as exc:
        problems.append(f"{where}.action: {exc}")
    for ch, a in actions.items():
        if ch not in CHANNEL_ACTIONS:
            problems.append(f"{where}.action: unknown channel {ch!r}")
        elif a not in CHANNEL_ACTIONS[ch]:
            problems.append(f"{where}.action: {a.value!r} is not an action of the {ch} channel")
    if isinstance(act, dict) and set(actions) != set(CHANNEL_ACTIONS) and not problems[n:]:
        problems.append(f"{where}.action: give an action for both channels (submission, listed)")
    reasons: list[Reason] = []
    raw_reasons = raw.get("reasons") or []
    if not isinstance(raw_reasons, list):
        problems.append(f"{where}.reasons: must be a list")
        raw_reasons = []
    if not isinstance(raw.get("default", False), bool):
        problems.append(f"{where}.default: must be true or false")
    for i, r in enumerate(raw_reasons):
        if not isinstance(r, dict) or set(r) != _REASON_KEYS:
            problems.append(f"{where}.reasons[{i}]: needs exactly code, article, zh, en")
            continue
        reason = Reason(str(r["code"]), str(r["article"]), str(r["zh"]), str(r["en"]))
        try:  # a template that cannot be filled would crash every decision that matches this rule
            _render((reason,), PolicyInput())
        except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
            problems.append(f"{where}.reasons[{i}]: placeholder cannot be filled: {type(exc).__name__}: {exc}")
            continue
        reasons.append(reason)
    if not reasons and raw.get("action") not in ("list", None):
        problems.append(f"{where}.reasons: an action other than list needs a reason citing an article")
    if len(problems) > n:
        return None
    return PolicyRule(str(rid), dict(when), actions, tuple(reasons), bool(raw.get("default", False)))


def load_policy(path: Path | None = None) -> Policy:
    """Load and validate a policy file (default: the shipped ``default.yaml``)."""
    path = path or POLICIES_DIR / "default.yaml"
    raw = path.read_bytes()
    src = path.name
    problems: list[str] = []
    try:
        doc = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PolicyError([f"{src}: not valid YAML: {exc}"]) from exc
    except RecursionError:
        raise PolicyError([f"{src}: not valid YAML: nested too deeply"]) from None
    if yaml_too_big(doc):
        raise PolicyError([f"{src}: more than {MAX_YAML_NODES} YAML nodes (aliases expanded): refused"])
    if not isinstance(doc, dict):
        raise PolicyError([f"{src}: must be a mapping with id, decision, duties"])
    for part in ("decision", "duties"):
        if not isinstance(doc.get(part) or [], list):
            raise PolicyError([f"{src}:{part}: must be a list of rules"])
    for k in doc:
        if k not in {"id", "version", "description", "decision", "duties"}:
            problems.append(f"{src}:{k}: unknown key")
    decision = [
        r for i, x in enumerate(doc.get("decision") or []) if (r := _parse_rule(x, f"{src}:decision[{i}]", problems))
    ]
    duties = [r for i, x in enumerate(doc.get("duties") or []) if (r := _parse_rule(x, f"{src}:duties[{i}]", problems))]
    if not decision or not decision[-1].default or decision[-1].when:
        problems.append(f"{src}:decision: the last rule must be `default: true` with no conditions")
    if any(r.default for r in decision[:-1]):
        problems.append(f"{src}:decision: only the last rule may be the default")
    ids = [r.id for r in decision + duties]
    for dup in {i for i in ids if ids.count(i) > 1}:
        problems.append(f"{src}: duplicate policy rule id {dup!r}")
    if problems:
        raise PolicyError(problems)
    return Policy(str(doc.get("id", path.stem)), tuple(decision), tuple(duties), hashlib.sha256(raw).hexdigest(), src)


def _condition_ok(key: str, want: Any) -> bool:
    """The value types ``_matches`` can evaluate (anything else would raise at decision time, not load time)."""
    if key in _LIST_CONDITIONS:
        return isinstance(want, list) and all(isinstance(x, str) for x in want)
    if key in ("scan_errors", "ambiguous"):
        return isinstance(want, bool)
    if key == "channel":
        return isinstance(want, str)
    if key == "declares_aigc":
        return all(x is None or isinstance(x, bool) for x in (want if isinstance(want, list) else [want]))
    if key == "duty_status":
        return isinstance(want, dict) and all(
            isinstance(d, str) and (isinstance(s, str) or isinstance(s, list) and all(isinstance(x, str) for x in s))
            for d, s in want.items()
        )
    return True


def _max_conf(findings: tuple[Finding, ...]) -> str:
    """Highest confidence of the unambiguous deep-synthesis findings ("none" if there are none)."""
    ds = [f for f in findings if f.capability in _DS and f.duty is None and not f.ambiguous]
    if not ds:
        return "none"
    return max(ds, key=lambda f: f.confidence.rank).confidence.value


def _matches(when: Mapping[str, Any], inp: PolicyInput) -> bool:
    ds = [f for f in inp.findings if f.capability in _DS and f.duty is None]
    for key, want in when.items():
        if key == "scan_errors" and bool(inp.scan_errors) != bool(want):
            return False
        if key == "max_confidence" and _max_conf(inp.findings) not in want:
            return False
        if key == "capability_any" and not any(f.capability in want for f in ds):
            return False
        if key == "ambiguous" and any(f.ambiguous for f in ds) != bool(want):
            return False
        if key == "filing_status" and (inp.filing_status or "none") not in want:
            return False
        if key == "filing_codes_any" and not (inp.filing_codes & set(want)):
            return False
        if key == "channel" and inp.channel != want:
            return False
        if key == "declares_aigc" and inp.declares_aigc not in (want if isinstance(want, list) else [want]):
            return False
        if key == "duty_status":
            status = {c.duty: c.status.value for c in inp.compliance}
            if not all(status.get(d) in (s if isinstance(s, list) else [s]) for d, s in want.items()):
                return False
    return True


class _Fmt(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _render(reasons: tuple[Reason, ...], inp: PolicyInput) -> list[Reason]:
    ds = [f for f in inp.findings if f.capability in _DS and f.duty is None]
    caps = ", ".join(sorted({f.capability for f in ds})) or "-"
    sdks = ", ".join(sorted({f.sdk for f in ds})[:6]) or "-"
    ctx = _Fmt(capabilities=caps, sdks=sdks, filing_status=inp.filing_status or "-", channel=inp.channel)
    return [Reason(r.code, r.article, r.zh.format_map(ctx), r.en.format_map(ctx)) for r in reasons]


def decide(inp: PolicyInput, policy: Policy) -> Decision:
    """Apply a policy: first matching decision rule, plus every matching duty rule; most severe wins."""
    channel = inp.channel if inp.channel in CHANNEL_ACTIONS else "submission"
    first = next(r for r in policy.decision if _matches(r.when, inp))
    action = first.actions[channel]
    reasons = _render(first.reasons, inp)
    matched = [first.id]
    for r in policy.duties:
        if _matches(r.when, inp):
            matched.append(r.id)
            a = r.actions[channel]
            if a.severity > action.severity:
                action = a
            reasons += _render(r.reasons, inp)
    if inp.scan_errors and action is Action.LIST:  # belt and braces: a failed stage never yields list
        action = Action.NEEDS_REVIEW
    if action is Action.LIST:
        reasons = [r for r in reasons if r.code != "nothing_found"] or reasons
    return Decision(action, tuple(dict.fromkeys(reasons)), tuple(matched), policy.id, policy.sha256)


@functools.cache
def default_policy() -> Policy:
    """The shipped default policy, loaded once per process."""
    return load_policy()

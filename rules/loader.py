"""Load and validate rule packs; refuse to run on any error (checkov-style silent skips are the anti-pattern).

Every problem is reported as ``file:key: message`` and the whole load fails: a mis-typed prefix or a missing
reference would otherwise quietly stop detecting an SDK.
"""

from __future__ import annotations

import functools

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from rules.model import Capability, Duty, Rule, RulePack, Signal, SignalKind, Thresholds

PACKS_DIR = Path(__file__).resolve().parent / "packs"

_TOP_KEYS = {
    "id", "name", "vendor", "description", "capability", "duty", "references", "signals", "confidence",
    "require_any", "ambiguous_with", "ambiguous_note", "fixtures", "notes",
}
_SIGNAL_KEYS = {"kind", "value", "weight", "supporting", "note"}
_FIXTURE_KEYS = {
    "classes", "strings", "native_libs", "assets", "permissions", "activities", "services", "receivers",
    "providers", "meta_data", "resource_strings", "mp", "label",
}
_ID = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_DOTTED = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)+$")
_HOST = re.compile(r"^\.?([a-z0-9]([a-z0-9\-]*[a-z0-9])?\.)+[a-z]{2,}$")
_APPID = re.compile(r"^(wx[0-9a-f]{16}|tt[0-9a-f]{16,18}|\d{16}|[A-Za-z0-9_.\-]{6,64})$")
MIN_PREFIX = 4
#: Most YAML nodes one document may expand to (aliases counted at every use): a "billion laughs" document
#: is tiny and cheap to load, but any str()/repr()/walk of it would take the process down.
MAX_YAML_NODES = 100_000


def yaml_too_big(doc: Any, limit: int = MAX_YAML_NODES) -> bool:
    """True when walking ``doc`` (following aliases) would visit more than ``limit`` nodes."""
    stack = [doc]
    seen = 0
    while stack:
        x = stack.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
    return False


class RulePackError(Exception):
    """A pack failed validation; ``problems`` lists every ``file:key: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _check_value(kind: SignalKind, value: str, where: str, problems: list[str]) -> None:
    bad = None
    if kind is SignalKind.CLASS_PREFIX:
        if len(value) < MIN_PREFIX:
            bad = f"prefix {value!r} is shorter than {MIN_PREFIX} characters"
        elif not _DOTTED.match(value):
            bad = f"prefix {value!r} has no dotted package boundary (e.g. 'com.vendor')"
    elif kind is SignalKind.CLASS:
        if not _DOTTED.match(value.replace("$", "_")):
            bad = f"class {value!r} is not a dotted class name"
    elif kind is SignalKind.NATIVE_LIB:
        if not re.match(r"^lib[\w.+\-]+\.so$", value):
            bad = f"native library {value!r} should look like lib<name>.so"
    elif kind is SignalKind.NATIVE_LIB_REGEX:
        try:
            re.compile(value)
        except re.error as exc:
            bad = f"invalid regex {value!r}: {exc}"
    elif kind is SignalKind.ELF_SYMBOL:
        if len(value.rstrip("*")) < MIN_PREFIX:
            bad = f"symbol {value!r} is too short"
    elif kind is SignalKind.ASSET_GLOB:
        if not value.strip("*/?") or len(value.strip("*/")) < 3:
            bad = f"glob {value!r} would match almost anything"
    elif kind is SignalKind.HOST:
        if not _HOST.match(value):
            bad = f"host {value!r} is not a host name"
    elif kind is SignalKind.URL:
        if len(value) < 8:
            bad = f"url fragment {value!r} is too short"
    elif kind is SignalKind.STRING:
        if len(value) < MIN_PREFIX:
            bad = f"string {value!r} is too short to be specific"
    elif kind is SignalKind.STRING_CONTAINS:
        if len(value) < 6 and not re.search(r"[^\x00-\x7f]", value):
            bad = f"substring {value!r} is too short to be specific"
    elif kind is SignalKind.MP_PLUGIN:
        if not _APPID.match(value):
            bad = f"plugin provider {value!r} is not an appid"
    elif kind in (SignalKind.MP_API, SignalKind.COMPONENT, SignalKind.META_DATA, SignalKind.PERMISSION):
        if len(value.rstrip("*")) < MIN_PREFIX:
            bad = f"{kind.value} {value!r} is too short"
    if bad:
        problems.append(f"{where}: {bad}")


def _rule_from_doc(doc: Any, src: str, problems: list[str]) -> Rule | None:
    if not isinstance(doc, dict):
        problems.append(f"{src}: the file must hold one mapping (a rule)")
        return None
    start = len(problems)
    for key in doc:
        if key not in _TOP_KEYS:
            problems.append(f"{src}:{key}: unknown key")
    for key in ("id", "name", "vendor", "description", "references", "signals", "fixtures"):
        if key not in doc or doc[key] in (None, "", [], {}):
            problems.append(f"{src}:{key}: missing")
    rid = str(doc.get("id", ""))
    if rid and not _ID.match(rid):
        problems.append(f"{src}:id: {rid!r} must be dotted lowercase (category.name)")
    cap = duty = None
    if ("capability" in doc) == ("duty" in doc):
        problems.append(f"{src}:capability: give exactly one of capability or duty")
    elif "capability" in doc:
        try:
            cap = Capability(doc["capability"])
        except ValueError:
            problems.append(f"{src}:capability: unknown capability {doc['capability']!r}")
    else:
        try:
            duty = Duty(doc["duty"])
        except ValueError:
            problems.append(f"{src}:duty: unknown duty {doc['duty']!r}")
    refs = doc.get("references") or []
    if not isinstance(refs, list) or not all(isinstance(r, str) and r.strip() for r in refs):
        problems.append(f"{src}:references: must be a list of URLs or repo paths")
        refs = []
    signals: list[Signal] = []
    raw_signals = doc.get("signals") or []
    if not isinstance(raw_signals, list):
        problems.append(f"{src}:signals: must be a list")
        raw_signals = []
    seen_sig: set[tuple[str, str]] = set()
    for i, s in enumerate(raw_signals):
        where = f"{src}:signals[{i}]"
        if not isinstance(s, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        for key in s:
            if key not in _SIGNAL_KEYS:
                problems.append(f"{where}.{key}: unknown key")
        try:
            kind = SignalKind(s.get("kind"))
        except ValueError:
            problems.append(f"{where}.kind: unknown signal kind {s.get('kind')!r}")
            continue
        value = s.get("value")
        if not isinstance(value, str) or not value:
            problems.append(f"{where}.value: missing")
            continue
        weight = s.get("weight")
        if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 100:
            problems.append(f"{where}.weight: must be an integer 1..100")
            continue
        if (kind.value, value) in seen_sig:
            problems.append(f"{where}: duplicate signal {kind.value}={value!r}")
        seen_sig.add((kind.value, value))
        _check_value(kind, value, f"{where}.value", problems)
        signals.append(Signal(kind, value, weight, bool(s.get("supporting", False)), str(s.get("note", ""))))
    conf = doc.get("confidence") or {}
    th = Thresholds()
    if conf:
        if not isinstance(conf, dict) or set(conf) - {"high", "medium", "low"} or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in conf.values()
        ):
            problems.append(f"{src}:confidence: must map high/medium/low to integer scores")
        else:
            th = Thresholds(int(conf.get("high", th.high)), int(conf.get("medium", th.medium)), int(conf.get("low", th.low)))
            if not th.high >= th.medium >= th.low > 0:
                problems.append(f"{src}:confidence: thresholds must satisfy high >= medium >= low > 0")
    req: list[SignalKind] = []
    for key in ("require_any", "ambiguous_with"):
        if not isinstance(doc.get(key) or [], list):
            problems.append(f"{src}:{key}: must be a list")
    req_raw = doc.get("require_any") or []
    for k in req_raw if isinstance(req_raw, list) else []:
        try:
            req.append(SignalKind(k))
        except ValueError:
            problems.append(f"{src}:require_any: unknown signal kind {k!r}")
    if signals and max(s.weight for s in signals) and sum(s.weight for s in signals) < th.low:
        problems.append(f"{src}:signals: all weights together ({sum(s.weight for s in signals)}) never reach low ({th.low})")
    fixtures = doc.get("fixtures") or {}
    if isinstance(fixtures, dict):
        for part in ("positive", "benign"):
            fx = fixtures.get(part)
            if not isinstance(fx, dict) or not fx:
                problems.append(f"{src}:fixtures.{part}: missing (every rule needs a positive and a benign fixture)")
                continue
            for key in fx:
                if key not in _FIXTURE_KEYS:
                    problems.append(f"{src}:fixtures.{part}.{key}: unknown fixture key")
    else:
        problems.append(f"{src}:fixtures: must be a mapping with positive and benign")
        fixtures = {}
    if len(problems) > start:
        return None
    return Rule(
        id=rid,
        name=str(doc["name"]),
        vendor=str(doc["vendor"]),
        description=str(doc["description"]).strip(),
        references=tuple(refs),
        signals=tuple(signals),
        capability=cap,
        duty=duty,
        thresholds=th,
        require_any=tuple(req),
        ambiguous_with=tuple(str(x) for x in doc.get("ambiguous_with") or ()),
        ambiguous_note=str(doc.get("ambiguous_note", "")),
        source=src,
        fixtures={k: dict(v) for k, v in fixtures.items() if isinstance(v, dict)},
    )


def rule_files(root: Path) -> list[Path]:
    """Every rule file under a pack folder, in a stable order."""
    return sorted(p for p in root.rglob("*.y*ml") if p.is_file())


def load_pack(roots: Iterable[Path] | None = None) -> RulePack:
    """Load every rule under ``roots`` (default: the shipped packs); raise :class:`RulePackError` on any problem."""
    roots = list(roots) if roots is not None else [PACKS_DIR]
    problems: list[str] = []
    rules: list[Rule] = []
    digest = hashlib.sha256()
    for root in roots:
        files = [root] if root.is_file() else rule_files(root)
        base = root.parent if root.is_file() else root
        for f in files:
            rel = f.relative_to(base).as_posix()
            raw = f.read_bytes()
            digest.update(rel.encode() + b"\0" + raw + b"\0")
            try:
                doc = yaml.safe_load(raw.decode("utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                problems.append(f"{rel}: not valid YAML: {exc}".replace("\n", " "))
                continue
            except RecursionError:
                problems.append(f"{rel}: not valid YAML: nested too deeply")
                continue
            if yaml_too_big(doc):
                problems.append(f"{rel}: more than {MAX_YAML_NODES} YAML nodes (aliases expanded): refused")
                continue
            rule = _rule_from_doc(doc, rel, problems)
            if rule is not None:
                rules.append(rule)
    ids: dict[str, str] = {}
    for r in rules:
        if r.id in ids:
            problems.append(f"{r.source}:id: duplicate id {r.id!r} (also in {ids[r.id]})")
        ids.setdefault(r.id, r.source)
    for r in rules:
        for other in r.ambiguous_with:
            if other not in ids:
                problems.append(f"{r.source}:ambiguous_with: unknown rule id {other!r}")
    if not rules and not problems:
        problems.append("no rules found")
    if problems:
        raise RulePackError(problems)
    return RulePack(rules=tuple(sorted(rules, key=lambda r: r.id)), sha256=digest.hexdigest())


@functools.cache
def default_pack() -> RulePack:
    """The shipped packs, loaded once per process."""
    return load_pack()

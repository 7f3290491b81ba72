"""The default policy against the reviewers' expectation table (tests/policy/grid.yaml), and loader failures."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from rules.compliance import checklist
from rules.model import Capability, Confidence, Duty, Evidence, Finding
from rules.policy import Action, PolicyError, PolicyInput, decide, default_policy, load_policy

GRID = yaml.safe_load((Path(__file__).parent / "policy" / "grid.yaml").read_text(encoding="utf-8"))
POLICY = default_policy()
DS = [c.value for c in Capability if c.is_deep_synthesis]
STATUSES = ["valid", "missing", "invalid", "cancelled", "mismatch", "not_required", "unverifiable"]


def _finding(cap: str, conf: str, ambiguous: bool = False) -> Finding:
    return Finding(f"{cap}.x", cap, "X SDK", "X", Confidence(conf), 90, (Evidence("native_lib", "a.apk!lib/x.so", "x"),),
                   ambiguous=ambiguous)


def _duty_findings(present: list[str]) -> tuple[Finding, ...]:
    return tuple(
        Finding(f"{d}.x", d, "evidence", "X", Confidence.HIGH, 90, (Evidence("string", "a.apk!classes.dex", d),), duty=d)
        for d in present if d != "filing_display"
    )


def _want(case: dict[str, Any]) -> str:
    for row in GRID["grid"]:
        ok = True
        for k, v in row.items():
            if k == "expect":
                continue
            vals = v if isinstance(v, list) else [v]
            if case[k] not in vals:
                ok = False
                break
        if ok:
            return str(row["expect"])
    raise AssertionError(f"grid has no row for {case}")


def _all_present(caps: list[str]) -> tuple:  # type: ignore[type-arg]
    duties = [d.value for d in Duty]
    return checklist(caps, _duty_findings(duties), (Evidence("filing_string", "a.apk!classes.dex", "网信算备…号"),))


CASES = [
    dict(capability=cap, confidence=conf, filing=st, channel=ch, scan_errors=err, ambiguous=amb)
    for cap, conf, st, ch, err, amb in itertools.product(
        DS + ["none"], ["high", "medium", "low"], STATUSES, ["submission", "listed"], [False, True], [False, True]
    )
    if not (cap == "none" and (conf != "high" or amb))
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_grid(case: dict[str, Any]) -> None:
    caps = [] if case["capability"] == "none" else [case["capability"]]
    findings = tuple(_finding(c, case["confidence"], case["ambiguous"]) for c in caps)
    inp = PolicyInput(channel=case["channel"], findings=findings, filing_status=case["filing"],
                      scan_errors=1 if case["scan_errors"] else 0, compliance=_all_present(caps))
    d = decide(inp, POLICY)
    want = _want({**case, "confidence": case["confidence"] if caps else "none"})
    assert d.action.value == want, (case, d.matched)
    if caps:
        assert d.matched[0] != "default", "a deep-synthesis case fell through to the default rule"
    assert all(r.article for r in d.reasons)
    if case["scan_errors"]:
        assert d.action is not Action.LIST


@pytest.mark.parametrize("case", GRID["duties"], ids=lambda c: c["name"])
def test_duties(case: dict[str, Any]) -> None:
    cap = case["capability"]
    comp = checklist([cap], _duty_findings(case["present"]),
                     (Evidence("filing_string", "a", "x"),) if "filing_display" in case["present"] else ())
    inp = PolicyInput(channel=case.get("channel", "submission"), findings=(_finding(cap, "high"),),
                      filing_status=case.get("filing", "valid"), compliance=comp)
    d = decide(inp, POLICY)
    assert d.action.value == case["expect"], d.matched
    cited = " ".join(r.article for r in d.reasons)
    for art in case.get("articles", []):
        assert art in cited


def test_ordinary_app_gets_no_compliance_demands() -> None:
    assert checklist([], (), ()) == ()
    assert checklist(["ml_runtime", "biometric_recognition"], (), ()) == ()
    d = decide(PolicyInput(findings=(_finding("ml_runtime", "high"),), filing_status="not_required"), POLICY)
    assert d.action is Action.LIST and d.reasons[0].code == "nothing_found"


BAD_POLICIES = {
    "unknown key": ("id: x\ndecision:\n  - {id: d, default: true, action: list}\nextra: 1\n", "extra: unknown key"),
    "no default": ("id: x\ndecision:\n  - {id: a, when: {scan_errors: true}, action: needs_review, reasons: "
                   "[{code: c, article: A, zh: z, en: e}]}\n", "last rule must be `default: true`"),
    "bad action": ("id: x\ndecision:\n  - {id: d, default: true, action: banish}\n", "action"),
    "channel action": ("id: x\ndecision:\n  - {id: a, when: {channel: listed}, action: reject, reasons: "
                       "[{code: c, article: A, zh: z, en: e}]}\n  - {id: d, default: true, action: list}\n",
                       "not an action of the listed channel"),
    "unknown condition": ("id: x\ndecision:\n  - {id: a, when: {phase_of_moon: full}, action: warn, reasons: "
                          "[{code: c, article: A, zh: z, en: e}]}\n  - {id: d, default: true, action: list}\n",
                          "unknown condition"),
    "reason without article": ("id: x\ndecision:\n  - {id: a, when: {scan_errors: true}, action: warn}\n"
                               "  - {id: d, default: true, action: list}\n", "needs a reason"),
}


@pytest.mark.parametrize("name", sorted(BAD_POLICIES))
def test_policy_loader_fails_closed(tmp_path: Path, name: str) -> None:
    text, needle = BAD_POLICIES[name]
    p = tmp_path / "p.yaml"
    p.write_text(text)
    with pytest.raises(PolicyError) as e:
        load_policy(p)
    assert any(needle in x for x in e.value.problems), e.value.problems

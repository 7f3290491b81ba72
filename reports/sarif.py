"""SARIF 2.1.0: findings for code-scanning dashboards; a pure function of ScanResults → text.

One run for the whole batch. Rules come from the rule pack (name, description, first URL reference); results
from the capability findings (level by confidence) and, as ``kind: pass``, the compliance-evidence findings.
Locators (``app.apk!lib/arm64-v8a/libX.so``) are not URIs, so each location points at the scanned artifact
(a valid, percent-encoded URI) and carries the ``!``-nested locator as a logical location and a property. The
store decision of each artifact is a run property; scan errors and notes are tool execution notifications.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

from reports.model import ScanResult
from reports.schema import SARIF_SCHEMA_URI
from rules.model import Evidence, Finding, Rule, RulePack
from scanner.serialize import to_data

#: Deep-synthesis confidence → SARIF level (supporting categories are never more than a note).
_LEVEL = {"high": "error", "medium": "warning", "low": "note"}
_SUPPORTING = {"ml_runtime", "biometric_recognition"}
#: Evidence kind → SARIF logicalLocation.kind (an open-ended string; these are the spec's well-known values).
_LOGICAL_KIND = {"class": "type", "class_prefix": "namespace", "elf_symbol": "function", "native_lib": "module",
                 "native_lib_regex": "module", "mp_api": "function"}


def artifact_uri(path: str) -> str:
    """A valid SARIF URI for an artifact path: ``file:`` for absolute paths, a percent-encoded relative
    reference otherwise (webhook uploads and relative CLI paths)."""
    if path.startswith("/"):
        return PurePosixPath(posixpath.normpath(path)).as_uri()
    return quote(path.replace("\\", "/"), safe="/-._~")


def _help_uri(rule: Rule | None) -> str | None:
    """The rule's first http(s) reference, percent-encoded; the others are ``owner/repo:path`` citations,
    which are not URIs (so a rule citing LibChecker first still links to its vendor docs)."""
    for ref in rule.references if rule else ():
        if ref.startswith(("https://", "http://")) and urlsplit(ref).netloc:
            return quote(ref, safe=":/?#[]@!$&'()*+,;=%-._~")
    return None


def _rule_descriptor(rule_id: str, finding: Finding, rule: Rule | None) -> dict[str, Any]:
    category = finding.duty or finding.capability
    name = rule.name if rule else finding.sdk
    vendor = rule.vendor if rule else finding.vendor
    what = f"{category}: {name}" + (f" · {vendor}" if vendor else "")
    d: dict[str, Any] = {"id": rule_id, "name": name, "shortDescription": {"text": what}}
    if rule and rule.description.strip():
        d["fullDescription"] = {"text": " ".join(rule.description.split())}
    uri = _help_uri(rule)
    if uri:
        d["helpUri"] = uri
    if finding.duty:
        level = "none"
    else:
        level = "note" if finding.capability in _SUPPORTING else "warning"
    d["defaultConfiguration"] = {"level": level}
    props: dict[str, Any] = {"capability": finding.capability if not finding.duty else None, "vendor": vendor,
                             "tags": ["deep-synthesis" if finding.capability not in _SUPPORTING else "supporting",
                                      category]}
    if finding.duty:
        props["duty"] = finding.duty
        props["tags"] = ["compliance", finding.duty]
    if rule and rule.references:
        props["references"] = list(rule.references)
    d["properties"] = {k: v for k, v in props.items() if v is not None}
    return d


def _location(e: Evidence, uri: str, index: int, loc_id: int) -> dict[str, Any]:
    name = e.locator.rsplit("!", 1)[-1].rsplit("/", 1)[-1] or e.locator
    return {
        "id": loc_id,
        "physicalLocation": {"artifactLocation": {"uri": uri, "index": index}},
        "logicalLocations": [{"name": name, "fullyQualifiedName": e.locator,
                              "kind": _LOGICAL_KIND.get(e.kind, "resource")}],
        "message": {"text": f"{e.kind}: {e.value}"},
        "properties": {"locator": e.locator, "evidenceKind": e.kind, "value": e.value},
    }


def _message(f: Finding) -> str:
    if f.duty:
        return f"Compliance evidence for {f.duty}: {f.sdk} (合规证据)."
    kind = "supporting evidence" if f.capability in _SUPPORTING else "deep-synthesis capability"
    amb = ", ambiguous" if f.ambiguous else ""
    return (f"{f.capability} ({kind}): {f.sdk}" + (f" by {f.vendor}" if f.vendor else "")
            + f" — confidence {f.confidence.value}{amb}, score {f.score}, {len(f.evidence)} evidence item(s).")


def _result(f: Finding, rule_index: int, uri: str, index: int, sha256: str) -> dict[str, Any]:
    if f.duty:
        level, kind = "none", "pass"
    else:
        level = "note" if f.capability in _SUPPORTING else _LEVEL[f.confidence.value]
        kind = "fail"
    props: dict[str, Any] = {"capability": f.capability, "sdk": f.sdk, "vendor": f.vendor,
                             "confidence": f.confidence.value, "score": f.score, "ambiguous": f.ambiguous,
                             "deepSynthesis": not f.duty and f.capability not in _SUPPORTING,
                             "notes": list(f.notes)}
    if f.duty:
        props = {"duty": f.duty, "sdk": f.sdk, "confidence": f.confidence.value}
    res: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "kind": kind,
        "level": level,
        "message": {"text": _message(f)},
        "locations": [_location(e, uri, index, i) for i, e in enumerate(dict.fromkeys(f.evidence))]
        or [{"physicalLocation": {"artifactLocation": {"uri": uri, "index": index}}}],
        "partialFingerprints": {"synthreview/artifactRule/v1": f"{sha256}:{f.rule_id}"},
        "properties": props,
    }
    return res


def _notification(level: str, stage: str, locator: str, message: str, uri: str, index: int) -> dict[str, Any]:
    return {
        "level": level,
        "message": {"text": f"[{stage}] {message}"},
        "descriptor": {"id": f"scan/{stage}"},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri, "index": index}},
                       "logicalLocations": [{"fullyQualifiedName": locator or uri, "kind": "resource"}]}],
        "properties": {"stage": stage, "locator": locator},
    }


def _decision(r: ScanResult, uri: str, index: int) -> dict[str, Any]:
    d = r.decision
    return {
        "artifact": {"uri": uri, "index": index, "path": r.inventory.artifact.path},
        "action": d.action.value, "actionZh": d.action.zh, "exitCode": d.action.exit_code,
        "reasons": [to_data(x) for x in d.reasons], "matched": list(d.matched), "policy": d.policy,
        "filingStatus": r.filings.status.value if r.filings else "error",
        "compliance": [{"duty": c.duty, "article": c.article, "status": c.status.value} for c in r.compliance],
    }


def sarif_log(results: Sequence[ScanResult], pack: RulePack | None = None) -> dict[str, Any]:
    """The SARIF log as a dict. ``pack`` supplies rule metadata; by default the shipped pack is used when its
    sha256 matches the results' provenance (else rules are described from the findings alone)."""
    if pack is None and results:
        from rules.loader import default_pack

        shipped = default_pack()
        if all(r.provenance.rules_sha256 == shipped.sha256 for r in results):
            pack = shipped
    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}
    artifacts: list[dict[str, Any]] = []
    out_results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    artifact_index: dict[tuple[str, str], int] = {}
    for r in results:
        a = r.inventory.artifact
        uri = artifact_uri(a.path)
        index = artifact_index.get((uri, a.sha256), -1)
        if index < 0:  # the same file scanned twice (e.g. under two metadata files) is one SARIF artifact
            index = artifact_index[(uri, a.sha256)] = len(artifacts)
            props = {"kind": a.kind.value, "appId": a.app_id, "version": a.version, "name": a.name}
            artifacts.append({
                "location": {"uri": uri},
                "length": a.size,
                "roles": ["analysisTarget"],
                "hashes": {"sha-256": a.sha256},
                "properties": {k: v for k, v in props.items() if v is not None},
            })
        for f in (*r.findings, *r.duty_findings):
            if f.rule_id not in rule_index:
                rule_index[f.rule_id] = len(rules)
                rules.append(_rule_descriptor(f.rule_id, f, pack.get(f.rule_id) if pack else None))
            out_results.append(_result(f, rule_index[f.rule_id], uri, index, a.sha256))
        for e in r.errors:
            notifications.append(_notification("error", e.stage, e.locator, e.message, uri, index))
        for n in r.inventory.notes:
            notifications.append(_notification("note", n.stage, n.locator, n.message, uri, index))
        decisions.append(_decision(r, uri, index))
    prov = results[0].provenance if results else None
    driver: dict[str, Any] = {"name": "synthreview", "rules": rules}
    if prov:
        driver["version"] = prov.tool_version
        driver["properties"] = {"rulesSha256": prov.rules_sha256, "policyId": prov.policy_id,
                                "policySha256": prov.policy_sha256}
    else:
        from synthreview import __version__

        driver["version"] = __version__
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "invocations": [{"executionSuccessful": not any(r.errors for r in results),
                         "toolExecutionNotifications": notifications}],
        "artifacts": artifacts,
        "results": out_results,
        "properties": {"decisions": decisions,
                       "provenance": [to_data(r.provenance) for r in results]},
    }
    return {"$schema": SARIF_SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render_sarif(results: Sequence[ScanResult]) -> str:
    """SARIF 2.1.0 text for ``synthreview scan --format sarif``."""
    return json.dumps(sarif_log(results), ensure_ascii=False, indent=2) + "\n"

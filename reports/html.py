"""A self-contained HTML review page (jinja2, autoescaped): a pure function of ScanResults → text.

Reviewers open it offline, often from a ticket attachment, so it carries its own CSS, loads nothing and runs
no script; a Content-Security-Policy says so to the browser too, so text taken from a hostile package (app
names, strings, locators) can never become active content even if escaping were ever bypassed. Chinese and
English sit side by side rather than behind a toggle, because reviewers quote both.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from reports.model import ScanResult
from reports.templates import (
    CAPABILITY_LABELS,
    CONFIDENCE_LABELS,
    DUTY_LABELS,
    DUTY_STATUS_LABELS,
    EVIDENCE_KIND_LABELS,
    FILING_STATUS_LABELS,
    ITEM_STATUS_LABELS,
    art23,
    article_zh,
    is_deep_synthesis,
    label,
    requested_materials,
)
from rules.model import Evidence, Finding

_TEMPLATE = "report.html.j2"


@lru_cache(maxsize=1)
def _env() -> Environment:
    """Autoescape on for everything: every value in the page may come from an untrusted package."""
    env = Environment(loader=PackageLoader("reports", "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["zh"] = lambda key, table: label(table, key, "zh")
    env.filters["en"] = lambda key, table: label(table, key, "en")
    env.filters["article_zh"] = article_zh
    return env


def _evidence(e: Evidence) -> dict[str, str]:
    return {"kind": e.kind, "kind_zh": label(EVIDENCE_KIND_LABELS, e.kind, "zh"), "locator": e.locator,
            "value": e.value}


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "rule_id": f.rule_id, "capability": f.capability, "sdk": f.sdk, "vendor": f.vendor,
        "cap_zh": label(CAPABILITY_LABELS, f.capability, "zh"), "cap_en": label(CAPABILITY_LABELS, f.capability, "en"),
        "art23": art23(f.capability), "confidence": f.confidence.value,
        "confidence_zh": label(CONFIDENCE_LABELS, f.confidence.value, "zh"), "score": f.score,
        "ambiguous": f.ambiguous, "notes": list(f.notes),
        "evidence": [_evidence(e) for e in dict.fromkeys(f.evidence)],  # one row per distinct hit
    }


def _view(r: ScanResult, i: int) -> dict[str, Any]:
    """What the template shows for one artifact (labels resolved here so the template stays declarative)."""
    inv, d = r.inventory, r.decision
    a = inv.artifact
    meta = r.meta
    fc = r.filings
    return {
        "sfx": "" if i == 0 else f"-{i + 1}",
        "n": i + 1,
        "artifact": {"path": a.path, "sha256": a.sha256, "kind": a.kind.value, "size": a.size,
                     "app_id": a.app_id, "version": a.version, "name": a.name},
        "meta": None if meta is None else {
            "channel": meta.channel.value if meta.channel is not None else "submission",
            "developer": meta.developer, "app_name": meta.app_name, "declares_aigc": meta.declares_aigc,
            "filings": list(meta.filings), "icp_filing": meta.icp_filing,
            "assessments": [{"id": x.id, "issuer": x.issuer, "date": x.date.isoformat() if x.date else None,
                             "covers": list(x.covers)} for x in meta.assessments],
        },
        "action": d.action.value, "action_zh": d.action.zh, "exit_code": d.action.exit_code,
        "policy": d.policy, "matched": list(d.matched),
        "reasons": [{"code": x.code, "article": x.article, "article_zh": article_zh(x.article), "zh": x.zh,
                     "en": x.en} for x in d.reasons],
        "findings": [_finding(f) for f in r.findings if is_deep_synthesis(f.capability)],
        "supporting": [_finding(f) for f in r.findings if not is_deep_synthesis(f.capability)],
        "filings": None if fc is None else {
            "status": fc.status.value, "declared": list(fc.declared), "found_in_app": list(fc.found_in_app),
            "registry_snapshot": fc.registry_snapshot, "registry_demo": fc.registry_demo,
            "checks": [{"code": c.code, "status": c.status.value, "article": c.article.value,
                        "article_zh": c.article.zh, "zh": c.zh, "en": c.en, "number": c.number, "detail": c.detail}
                       for c in fc.checks],
            "numbers": [{"number": n.number, "kind": n.kind.value, "validity": n.validity.value,
                         "declared": n.declared, "locators": list(n.locators), "registry": n.registry.value,
                         "entity": n.entity, "algorithm": n.algorithm, "role": n.role, "own": n.own}
                        for n in fc.numbers],
        },
        "compliance": [{"duty": c.duty, "article": c.article, "article_zh": article_zh(c.article),
                        "status": c.status.value, "zh": c.zh, "en": c.en,
                        "evidence": [_evidence(e) for e in c.evidence]} for c in r.compliance],
        "duty_findings": [{"rule_id": f.rule_id, "duty": f.duty or "", "sdk": f.sdk,
                           "confidence": f.confidence.value, "evidence": [_evidence(e) for e in f.evidence]}
                          for f in r.duty_findings],
        "materials": requested_materials(r),
        "errors": [{"stage": e.stage, "locator": e.locator, "message": e.message} for e in r.errors],
        "notes": [{"stage": n.stage, "locator": n.locator, "message": n.message} for n in inv.notes],
        "inventory": {
            "dex_files": len(inv.dex), "classes": sum(len(x.classes) for x in inv.dex),
            "native_libs": len(inv.native_libs), "entries": len(inv.entries),
            "certificates": [{"scheme": c.scheme, "subject": c.subject, "sha256": c.sha256}
                             for c in inv.certificates],
            "permissions": list(inv.manifest.permissions) if inv.manifest else [],
            "miniprogram": None if inv.miniprogram is None else {
                "platform": inv.miniprogram.platform, "appid": inv.miniprogram.appid,
                "plugins": [f"{p.alias} ({p.provider} {p.version or ''})".strip() for p in inv.miniprogram.plugins],
                "encrypted": inv.miniprogram.encrypted,
            },
        },
        "provenance": {"tool_version": r.provenance.tool_version, "rules_sha256": r.provenance.rules_sha256,
                       "policy_id": r.provenance.policy_id, "policy_sha256": r.provenance.policy_sha256,
                       "registry_snapshot": r.provenance.registry_snapshot,
                       "registry_demo": r.provenance.registry_demo,
                       "extractor_version": r.provenance.extractor_version},
    }


def render_html(results: Sequence[ScanResult]) -> str:
    """The review page for one or several artifacts. The first decision banner has ``id="decision"``, the
    others ``decision-2``, ``decision-3`` …; every finding is a ``.finding`` with ``data-rule-id``."""
    views = [_view(r, i) for i, r in enumerate(results)]
    title_bits = [v["artifact"]["name"] or v["artifact"]["app_id"] or v["artifact"]["path"] for v in views]
    return _env().get_template(_TEMPLATE).render(
        results=views,
        title=", ".join(title_bits[:3]) + (" …" if len(title_bits) > 3 else ""),
        tool_version=results[0].provenance.tool_version if results else "",
        labels={"capability": CAPABILITY_LABELS, "duty": DUTY_LABELS, "duty_status": DUTY_STATUS_LABELS,
                "filing_status": FILING_STATUS_LABELS, "item_status": ITEM_STATUS_LABELS,
                "confidence": CONFIDENCE_LABELS},
    )

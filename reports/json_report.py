"""JSON formatters: the report contract (DESIGN.md "JSON report") and the Inventory contract. Pure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from reports.model import SCHEMA_VERSION, ScanResult
from scanner.model import Inventory
from scanner.serialize import to_data


def artifact_dict(inv: Inventory) -> dict[str, Any]:
    """The ``artifact`` object."""
    a = inv.artifact
    return {"path": a.path, "sha256": a.sha256, "kind": a.kind.value, "size": a.size, "app_id": a.app_id,
            "version": a.version, "name": a.name}


def inventory_summary(inv: Inventory) -> dict[str, Any]:
    """Counts a reviewer wants at a glance (the full Inventory is ``synthreview inventory``)."""
    formats: dict[str, int] = {}
    for e in inv.entries:
        formats[e.format] = formats.get(e.format, 0) + 1
    return {
        "extractor_version": inv.extractor_version,
        "dex_files": len(inv.dex),
        "classes": sum(len(d.classes) for d in inv.dex),
        "native_libs": len(inv.native_libs),
        "entries": len(inv.entries),
        "entry_formats": dict(sorted(formats.items())),
        "certificates": [{"scheme": c.scheme, "subject": c.subject, "sha256": c.sha256} for c in inv.certificates],
        "hosts": sorted({h.value for h in inv.strings.hosts})[:200],
        "permissions": list(inv.manifest.permissions) if inv.manifest else [],
        "miniprogram": to_data(inv.miniprogram) if inv.miniprogram else None,
    }


def result_dict(r: ScanResult) -> dict[str, Any]:
    """One artifact's report object, per the DESIGN.md contract (extended, never narrowed)."""
    inv = r.inventory
    d = r.decision
    return {
        "schema_version": SCHEMA_VERSION,
        "artifact": artifact_dict(inv),
        "findings": [
            {
                "rule_id": f.rule_id, "capability": f.capability, "sdk": f.sdk, "vendor": f.vendor,
                "confidence": f.confidence.value, "score": f.score, "ambiguous": f.ambiguous,
                "deep_synthesis": f.capability not in ("ml_runtime", "biometric_recognition"),
                "notes": list(f.notes), "evidence": [to_data(e) for e in f.evidence],
            }
            for f in r.findings
        ],
        "filings": (
            {
                "status": r.filings.status.value,
                "declared": list(r.filings.declared),
                "found_in_app": list(r.filings.found_in_app),
                "checks": [to_data(c) for c in r.filings.checks],
                "numbers": [to_data(n) for n in r.filings.numbers],
                "registry_snapshot": r.filings.registry_snapshot,
                "registry_demo": r.filings.registry_demo,
            }
            if r.filings
            else {"status": "error", "declared": [], "found_in_app": [], "checks": []}
        ),
        "decision": {
            "action": d.action.value, "action_zh": d.action.zh, "exit_code": d.action.exit_code,
            "reasons": [to_data(x) for x in d.reasons], "matched": list(d.matched), "policy": d.policy,
        },
        "compliance": [to_data(c) for c in r.compliance],
        "duty_findings": [
            {"rule_id": f.rule_id, "duty": f.duty, "sdk": f.sdk, "confidence": f.confidence.value,
             "evidence": [to_data(e) for e in f.evidence]}
            for f in r.duty_findings
        ],
        "errors": [to_data(e) for e in r.errors],
        "notes": [to_data(n) for n in inv.notes],
        "inventory": inventory_summary(inv),
        "provenance": to_data(r.provenance),
    }


def render_json(results: Sequence[ScanResult]) -> str:
    """One object for one artifact, a list for several (DESIGN.md)."""
    objs = [result_dict(r) for r in results]
    return json.dumps(objs[0] if len(objs) == 1 else objs, ensure_ascii=False, indent=2) + "\n"


def inventory_dict(inv: Inventory) -> dict[str, Any]:
    """The full Inventory per the DESIGN.md contract: artifact, manifest, classes, native_libs, entries, …"""
    data = to_data(inv)
    data["artifact"] = artifact_dict(inv)
    data["classes"] = list(inv.classes)
    out = {
        "artifact": data.pop("artifact"),
        "extractor_version": data.pop("extractor_version"),
        "manifest": data.pop("manifest"),
        "classes": data.pop("classes"),
        "native_libs": data.pop("native_libs"),
        "entries": data.pop("entries"),
        "strings": data.pop("strings"),
        "certificates": data.pop("certificates"),
        "errors": data.pop("errors"),
    }
    out.update(data)
    return out


def render_inventory_json(inv: Inventory) -> str:
    """``synthreview inventory --format json``."""
    return json.dumps(inventory_dict(inv), ensure_ascii=False, indent=1) + "\n"

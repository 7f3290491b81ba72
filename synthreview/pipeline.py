"""The review pipeline: Inventory → findings → filing check → compliance → decision (→ ScanResult).

``evaluate_inventory`` is the re-scan path too: it never touches the artifact, only its stored Inventory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from filings.check import FilingCheck, ItemStatus, check_filings
from filings.meta import Channel, SubmissionMeta
from filings.registry import RegistrySnapshot, load_seed_registry
from reports.model import Provenance, ScanResult
from rules.compliance import checklist
from rules.loader import default_pack
from rules.matcher import evaluate
from rules.model import Capability, Evidence, RulePack
from rules.policy import Policy, PolicyInput, decide, default_policy
from scanner.model import Inventory, ScanError
from scanner.reader import read_artifact, read_bytes
from scanner.zipread import Limits
from synthreview import __version__

_DS = {c.value for c in Capability if c.is_deep_synthesis}


@dataclass(frozen=True)
class Context:
    """The rule pack, policy and registry a scan runs under (loaded once, shared by a batch)."""

    pack: RulePack
    policy: Policy
    registry: RegistrySnapshot
    limits: Limits = Limits()

    @classmethod
    def default(cls, registry: RegistrySnapshot | None = None, policy: Policy | None = None) -> Context:
        """The shipped packs and policy, and the given registry (else the demo seed registry)."""
        return cls(default_pack(), policy or default_policy(), registry if registry is not None else load_seed_registry())


def capability_map(findings: tuple) -> dict[str, str]:  # type: ignore[type-arg]
    """Detected deep-synthesis capabilities → best confidence (what the filing check needs)."""
    out: dict[str, str] = {}
    rank = {"high": 3, "medium": 2, "low": 1}
    for f in findings:
        if f.capability in _DS and f.duty is None:
            cur = out.get(f.capability)
            if cur is None or rank[f.confidence.value] > rank[cur]:
                out[f.capability] = f.confidence.value
    return out


def _filing_display(inv: Inventory, filings: FilingCheck | None) -> tuple[Evidence, ...]:
    """Art. 19 evidence: the app's OWN filing number shown in the package, with a beian.cac.gov.cn link."""
    if filings is None or not any(i.code == "displayed" and i.status is ItemStatus.OK for i in filings.checks):
        return ()
    shown = [Evidence("filing_string", loc, n.number) for n in filings.numbers if n.own for loc in n.locators[:2]]
    links = [Evidence("filing_link", x.locator, x.value) for x in inv.strings.beian_links if "beian.cac.gov.cn" in x.value]
    return tuple(shown[:3] + links[:2])


def evaluate_inventory(inv: Inventory, meta: SubmissionMeta | None, ctx: Context) -> ScanResult:
    """Run rules, filings, compliance and policy over an Inventory (pure with respect to the artifact)."""
    meta = meta or SubmissionMeta()
    all_findings = evaluate(inv, ctx.pack)
    findings = tuple(f for f in all_findings if f.duty is None)
    duty_findings = tuple(f for f in all_findings if f.duty is not None)
    caps = capability_map(findings)
    errors = list(inv.errors)
    filings: FilingCheck | None
    try:
        filings = check_filings(meta, inv, caps, ctx.registry)
    except Exception as exc:  # a bug here must not let the app through as "list"
        filings = None
        errors.append(ScanError("filings", inv.artifact.path, f"filing check failed: {type(exc).__name__}: {exc}"))
    compliance = checklist(caps, duty_findings, _filing_display(inv, filings))
    channel = meta.channel.value if meta.channel is not None else Channel.SUBMISSION.value
    codes = frozenset(
        i.code for i in (filings.checks if filings else ()) if i.status in (ItemStatus.ERROR, ItemStatus.WARNING)
    )
    inp = PolicyInput(
        channel=channel,
        findings=findings,
        filing_status=filings.status.value if filings else None,
        filing_codes=codes,
        scan_errors=len(errors),
        declares_aigc=meta.declares_aigc,
        compliance=compliance,
    )
    decision = decide(inp, ctx.policy)
    prov = Provenance(
        tool_version=__version__,
        rules_sha256=ctx.pack.sha256,
        policy_sha256=ctx.policy.sha256,
        registry_snapshot=ctx.registry.snapshot_id,
        extractor_version=inv.extractor_version,
        registry_demo=ctx.registry.demo,
        policy_id=ctx.policy.id,
    )
    return ScanResult(inv, findings, duty_findings, filings, compliance, decision, tuple(errors), prov, meta)


def scan_path(path: str | os.PathLike[str], meta: SubmissionMeta | None, ctx: Context) -> ScanResult:
    """Read an artifact from disk and evaluate it."""
    appid = meta.wxapkg_appid if meta else None
    inv = read_artifact(Path(path), ctx.limits, appid)
    return evaluate_inventory(inv, meta, ctx)


def scan_bytes(name: str, data: bytes, meta: SubmissionMeta | None, ctx: Context) -> ScanResult:
    """Evaluate an in-memory artifact (webhook uploads)."""
    appid = meta.wxapkg_appid if meta else None
    return evaluate_inventory(read_bytes(name, data, ctx.limits, appid), meta, ctx)


def with_meta(result: ScanResult, meta: SubmissionMeta, ctx: Context) -> ScanResult:
    """Re-evaluate a result under other submission metadata (no re-read)."""
    return evaluate_inventory(replace(result.inventory), meta, ctx)

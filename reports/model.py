"""ScanResult: the one value every formatter takes (pure functions of it → text or bytes)."""

from __future__ import annotations

from dataclasses import dataclass

from filings.check import FilingCheck
from filings.meta import SubmissionMeta
from rules.compliance import ComplianceItem
from rules.model import Finding
from rules.policy import Decision
from scanner.model import Inventory, ScanError

#: Version of the JSON report contract (DESIGN.md); bump on any incompatible change.
SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class Provenance:
    """What produced a result: stamped into every report and store row, so re-scans know what changed."""

    tool_version: str
    rules_sha256: str
    policy_sha256: str
    registry_snapshot: str
    extractor_version: str
    registry_demo: bool = False
    policy_id: str = "default"


@dataclass(frozen=True)
class ScanResult:
    """Everything known about one artifact after every stage ran."""

    inventory: Inventory
    findings: tuple[Finding, ...]  # capability findings (deep synthesis + supporting)
    duty_findings: tuple[Finding, ...]  # compliance-evidence findings
    filings: FilingCheck | None
    compliance: tuple[ComplianceItem, ...]
    decision: Decision
    errors: tuple[ScanError, ...]
    provenance: Provenance
    meta: SubmissionMeta | None = None

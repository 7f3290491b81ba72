"""The JSON report against its shipped schema (issue #6 acceptance 2, issue #10 acceptance 2).

Every report the renderer produces must validate, one object or a list; and the schema must be strict enough
that the contract breaks a consumer would trip over (a renamed key, an unknown action, an inconsistent exit
code, a failed scan that says ``list``) are rejected.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from test_reports_cases import CASES, case, context

from reports.json_report import render_json
from reports.schema import REPORT_SCHEMA, ValidationError, load_schema, report_errors, validate_report
from synthreview.pipeline import scan_path


def _report(name: str) -> dict[str, Any]:
    return json.loads(render_json([case(name)]))  # type: ignore[no-any-return]


def test_schema_is_valid_draft_2020_12_and_shipped_as_package_data() -> None:
    schema = load_schema(REPORT_SCHEMA)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert resources.files("reports.schema").joinpath(REPORT_SCHEMA).is_file()


@pytest.mark.parametrize("name", CASES)
def test_every_report_validates(name: str) -> None:
    obj = _report(name)
    assert report_errors(obj) == []
    validate_report(obj)


def test_several_artifacts_give_a_list_that_validates() -> None:
    obj = json.loads(render_json([case(n) for n in CASES]))
    assert isinstance(obj, list) and len(obj) == len(CASES)
    assert report_errors(obj) == []


def test_compliance_checklist_is_in_the_report() -> None:
    demo = _report("demo")
    duties = {c["duty"] for c in demo["compliance"]}
    assert {"moderation", "real_name", "report_entry", "consent", "explicit_label", "implicit_label",
            "filing_display"} <= duties
    assert _report("plain")["compliance"] == []


def test_malformed_shared_samples_validate_and_never_list(shared_dir: Path) -> None:
    malformed = sorted((shared_dir / "samples" / "apk" / "malformed").glob("*.apk"))
    assert malformed
    for p in malformed:
        obj = json.loads(render_json([scan_path(p, None, context())]))
        assert report_errors(obj) == [], p.name
        if obj["errors"]:
            assert obj["decision"]["action"] != "list", p.name


def _break(obj: dict[str, Any], path: str, value: Any = None, delete: bool = False) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    *parents, last = path.split(".")
    cur: Any = out
    for p in parents:
        cur = cur[int(p)] if p.isdigit() else cur[p]
    if delete:
        del cur[int(last) if last.isdigit() else last]
    else:
        cur[int(last) if last.isdigit() else last] = value
    return out


BREAKS = [
    ("schema_version", "2", False, "demo"),
    ("artifact.sha256", None, True, "demo"),
    ("artifact.kind", "ipa", False, "demo"),
    ("artifact.sha256", "XYZ", False, "demo"),
    ("findings.0.confidence", "certain", False, "demo"),
    ("findings.0.capability", "deepfake", False, "demo"),
    ("findings.0.evidence", [], False, "demo"),
    ("findings.0.evidence.0.locator", None, True, "demo"),
    ("findings.0.deep_synthesis", False, False, "demo"),
    ("decision.action", "approve", False, "demo"),
    ("decision.action_zh", "通过", False, "demo"),  # reject must read 不予上架
    ("decision.exit_code", 2, False, "demo"),
    ("decision.reasons", [], False, "demo"),
    ("decision.reasons.0.article", "see policy", False, "demo"),
    ("compliance.0.status", "maybe", False, "demo"),
    ("compliance.0.duty", "privacy", False, "demo"),
    ("compliance.6.evidence", [], False, "valid_filing"),  # present without evidence
    ("filings.status", "ok", False, "demo"),
    ("filings.checks.0.status", "fatal", False, "demo"),
    ("errors.0.message", None, True, "truncated"),
    ("provenance.rules_sha256", None, True, "demo"),
    ("provenance.tool_version", "", False, "demo"),
    ("inventory", None, True, "plain"),
]


@pytest.mark.parametrize(("path", "value", "delete", "name"), BREAKS, ids=[b[0] + ":" + b[3] for b in BREAKS])
def test_schema_catches_contract_breaks(path: str, value: Any, delete: bool, name: str) -> None:
    obj = _report(name)
    assert report_errors(obj) == []
    broken = _break(obj, path, value, delete)
    assert report_errors(broken), f"{path} change went unnoticed"
    with pytest.raises(ValidationError):
        validate_report(broken)


def test_failed_scan_saying_list_is_rejected() -> None:
    """Fail closed, checked by the contract too: errors + list is never a valid report."""
    obj = _report("truncated")
    obj["decision"].update(action="list", action_zh="通过", exit_code=0)
    assert any("should not be valid" in e or "list" in e for e in report_errors(obj))


def test_errors_in_a_list_point_at_the_item() -> None:
    obj = json.loads(render_json([case("demo"), case("plain")]))
    obj[1]["decision"]["action"] = "reject"
    errs = report_errors(obj)
    assert errs and all(e.startswith("$[1].decision") for e in errs)


def test_extensions_are_allowed() -> None:
    """The contract is extended, never narrowed: an extra key is not a break."""
    obj = _report("demo")
    obj["x_store_ticket"] = "T-1"
    obj["findings"][0]["x_extra"] = 1
    assert report_errors(obj) == []

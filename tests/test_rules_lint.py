"""The rule loader fails closed with file:key messages; ``rules lint`` exits non-zero."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rules.loader import RulePackError, load_pack
from synthreview.cli import main

GOOD = {
    "id": "face_manipulation.example_sdk",
    "name": "Example SDK",
    "vendor": "Example Co.",
    "capability": "face_manipulation",
    "description": "x",
    "references": ["https://example.com/sdk"],
    "signals": [{"kind": "native_lib", "value": "libexample.so", "weight": 60}],
    "fixtures": {"positive": {"native_libs": ["libexample.so"]}, "benign": {"native_libs": ["libother.so"]}},
}


def _pack(tmp_path: Path, docs: dict[str, dict]) -> Path:  # type: ignore[type-arg]
    root = tmp_path / "packs"
    for name, doc in docs.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return root


def _problems(tmp_path: Path, docs: dict[str, dict]) -> list[str]:  # type: ignore[type-arg]
    with pytest.raises(RulePackError) as e:
        load_pack([_pack(tmp_path, docs)])
    return e.value.problems


def test_good_pack_loads(tmp_path: Path) -> None:
    pack = load_pack([_pack(tmp_path, {"a/good.yaml": GOOD})])
    assert [r.id for r in pack.rules] == ["face_manipulation.example_sdk"]


def test_duplicate_id(tmp_path: Path) -> None:
    probs = _problems(tmp_path, {"a/one.yaml": GOOD, "b/two.yaml": GOOD})
    assert any(p.startswith("b/two.yaml:id: duplicate id") or p.startswith("a/one.yaml:id: duplicate id") for p in probs)


def test_unknown_key(tmp_path: Path) -> None:
    probs = _problems(tmp_path, {"a/x.yaml": {**GOOD, "severity": "high"}})
    assert "a/x.yaml:severity: unknown key" in probs


def test_unknown_signal_key(tmp_path: Path) -> None:
    doc = {**GOOD, "signals": [{"kind": "native_lib", "value": "libexample.so", "weight": 60, "wieght": 1}]}
    assert any(p.startswith("a/x.yaml:signals[0].wieght: unknown key") for p in _problems(tmp_path, {"a/x.yaml": doc}))


@pytest.mark.parametrize("prefix,why", [("com", "shorter than 4"), ("comdv", "no dotted package boundary"), ("com.", "no dotted")])
def test_bad_prefix(tmp_path: Path, prefix: str, why: str) -> None:
    doc = {**GOOD, "signals": [{"kind": "class_prefix", "value": prefix, "weight": 60}]}
    probs = _problems(tmp_path, {"a/x.yaml": doc})
    assert any(p.startswith("a/x.yaml:signals[0].value:") and why in p for p in probs), probs


def test_missing_reference(tmp_path: Path) -> None:
    doc = {k: v for k, v in GOOD.items() if k != "references"}
    assert "a/x.yaml:references: missing" in _problems(tmp_path, {"a/x.yaml": doc})


def test_missing_fixture(tmp_path: Path) -> None:
    doc = {**GOOD, "fixtures": {"positive": {"native_libs": ["libexample.so"]}}}
    assert any(p.startswith("a/x.yaml:fixtures.benign: missing") for p in _problems(tmp_path, {"a/x.yaml": doc}))


def test_invalid_regex_and_unknown_capability(tmp_path: Path) -> None:
    doc = {**GOOD, "capability": "mind_reading", "signals": [{"kind": "native_lib_regex", "value": "lib(.so", "weight": 60}]}
    probs = _problems(tmp_path, {"a/x.yaml": doc})
    assert any("a/x.yaml:capability: unknown capability" in p for p in probs)
    assert any(p.startswith("a/x.yaml:signals[0].value: invalid regex") for p in probs)


def test_missing_ambiguous_reference(tmp_path: Path) -> None:
    doc = {**GOOD, "ambiguous_with": ["navigation.nothing"]}
    assert any("ambiguous_with: unknown rule id" in p for p in _problems(tmp_path, {"a/x.yaml": doc}))


def test_not_yaml(tmp_path: Path) -> None:
    root = tmp_path / "packs"
    root.mkdir()
    (root / "bad.yaml").write_text("id: [unclosed\n")
    with pytest.raises(RulePackError) as e:
        load_pack([root])
    assert e.value.problems[0].startswith("bad.yaml: not valid YAML")


def test_lint_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _pack(tmp_path, {"a/x.yaml": {**GOOD, "severity": 1}, "b/y.yaml": {**GOOD}})
    assert main(["rules", "lint", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "a/x.yaml:severity: unknown key" in err
    good = _pack(tmp_path / "g", {"a/x.yaml": GOOD})
    assert main(["rules", "lint", str(good)]) == 0

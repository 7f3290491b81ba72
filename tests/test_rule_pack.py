"""The whole pack: every rule fires on its positive fixture and stays silent on its benign one."""

from __future__ import annotations

import pytest

from rules.fixtures import build_fixture
from rules.loader import default_pack
from rules.matcher import evaluate
from scanner.reader import read_bytes

PACK = default_pack()


@pytest.mark.parametrize("rule", PACK.rules, ids=lambda r: r.id)
def test_rule_fires_on_positive(rule) -> None:  # type: ignore[no-untyped-def]
    name, data = build_fixture(rule.fixtures["positive"])
    inv = read_bytes(name, data)
    assert not inv.errors, inv.errors
    ids = {f.rule_id for f in evaluate(inv, PACK)}
    assert rule.id in ids


@pytest.mark.parametrize("rule", PACK.rules, ids=lambda r: r.id)
def test_rule_silent_on_benign(rule) -> None:  # type: ignore[no-untyped-def]
    name, data = build_fixture(rule.fixtures["benign"])
    inv = read_bytes(name, data)
    assert not inv.errors, inv.errors
    ids = {f.rule_id for f in evaluate(inv, PACK)}
    assert rule.id not in ids

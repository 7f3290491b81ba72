"""Shared test fixtures: the ../shared samples (optional) and temp dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout; tests that need it skip when it is absent."""
    if not (SHARED / "samples").is_dir():
        pytest.skip("../shared/samples is not present")
    return SHARED


@pytest.fixture(scope="session")
def samples(shared_dir: Path) -> Path:
    """``../shared/samples``."""
    return shared_dir / "samples"

"""Acceptance (#2.3): our inventory equals androguard's on the real sample APKs (skips without ../shared)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.reader import read_artifact

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "apk"
APKS = sorted((SAMPLES / "ordinary").glob("*.apk")) + sorted((SAMPLES / "obfuscated").glob("*.apk"))


def _androguard(path: Path) -> tuple[set[str], str | None, str | None, str | None, set[str]]:
    from androguard.core.apk import APK
    from androguard.core.dex import DEX
    from loguru import logger

    logger.disable("androguard")
    apk = APK(str(path))
    classes: set[str] = set()
    for data in apk.get_all_dex():
        for c in DEX(data).get_classes():
            name = c.get_name()
            classes.add(name[1:-1].replace("/", "."))
    pkg = apk.get_package() or None
    return classes, pkg, apk.androidversion.get("Name"), apk.androidversion.get("Code"), set(apk.get_permissions())


@pytest.mark.skipif(not APKS, reason="../shared/samples is not present")
@pytest.mark.parametrize("path", APKS, ids=lambda p: p.name)
def test_matches_androguard(path: Path) -> None:
    classes, pkg, vname, vcode, perms = _androguard(path)
    inv = read_artifact(path)
    assert set(inv.classes) == classes
    man = inv.manifest
    assert (man.package if man else None) == pkg
    assert (man.version_name if man else None) == vname
    assert (man.version_code if man else None) == vcode
    assert set(man.permissions if man else ()) == perms


@pytest.mark.skipif(not APKS, reason="../shared/samples is not present")
@pytest.mark.parametrize("path", APKS, ids=lambda p: p.name)
def test_label_matches_androguard(path: Path) -> None:
    """Our one-entry resource lookup gives the label androguard's full ARSC parse gives."""
    from androguard.core.apk import APK
    from loguru import logger

    logger.disable("androguard")
    try:
        expected = APK(str(path)).get_app_name()
    except Exception:  # androguard cannot resolve some labels; nothing to compare then
        pytest.skip("androguard cannot resolve this label")
    inv = read_artifact(path)
    label = inv.manifest.label if inv.manifest else None
    if expected and not expected.startswith("@"):
        assert label == expected

"""Mini-program and light-app packages → :class:`~scanner.model.Inventory` (issue #4, reader part).

Two doors, both called by :mod:`scanner.reader`, both total (they never raise; every failure is a
``ScanError`` in the Inventory):

- :func:`read_miniprogram` — one or several package files scanned together as one app (a main
  ``.wxapkg`` plus its subpackages, or a single ``.pkg``/``.rpk``/``.hap``/``.amr``/source zip);
- :func:`read_folder` — a folder holding mini-program source (``app.json`` + pages) or package files.

Formats and their pitfalls: ``../shared/reference/miniprogram-formats.md``.
"""

from __future__ import annotations

import logging
import mmap
import posixpath
from dataclasses import replace
from pathlib import Path

from scanner.errors import BudgetSpent, LimitExceeded, ReadError
from scanner.miniprogram.collect import MiniAccumulator
from scanner.miniprogram.containers import (
    read_amr,
    read_hap,
    read_rpk,
    read_source_folder,
    read_source_zip,
    read_ttpkg,
    read_wxapkg,
    source_root,
)
from scanner.miniprogram.wxapkg import APPID_RE, Buffer, is_mac_tagged
from scanner.model import Artifact, ArtifactKind, Entry, Inventory, ScanError
from scanner.zipread import Budget

__all__ = ["read_folder", "read_miniprogram"]

log = logging.getLogger(__name__)

_PLATFORM = {
    ArtifactKind.WXAPKG: "wechat",
    ArtifactKind.TTPKG: "douyin",
    ArtifactKind.RPK: "quickapp",
    ArtifactKind.HAP: "harmonyos",
    ArtifactKind.AMR: "alipay",
}
#: Cap on package files read from one folder (each is a whole app part; more means it is not one app).
MAX_PACKAGES = 1000


def read_miniprogram(
    art: Artifact, files: list[tuple[str, bytes | mmap.mmap]], budget: Budget, wxapkg_appid: str | None
) -> Inventory:
    """Read package files of one app (``art.kind`` is the first file's sniffed kind) into one Inventory."""
    acc = MiniAccumulator(budget)
    try:
        items: list[tuple[str, Buffer, ArtifactKind, str | None]] = []
        for i, (name, buf) in enumerate(files):
            kind, why = (art.kind, None) if i == 0 else sniff_package(buf, budget)
            items.append((name, buf, kind, why))
        _read_packages(acc, art, items, wxapkg_appid)
    except Exception as exc:  # a reader bug must not pass as a clean scan
        log.exception("mini-program reader failed on %s", art.path)
        acc.fail("internal", files[0][0] if files else art.path, f"{type(exc).__name__}: {exc}")
    return _freeze(acc, art)


def read_folder(art: Artifact, path: Path, files: list[Path], budget: Budget, wxapkg_appid: str | None) -> Inventory:
    """Read a folder: mini-program source (app.json + pages) or package files (main + subpackages)."""
    acc = MiniAccumulator(budget)
    prefix = path.name or str(path)
    try:
        rels = _inside(acc, prefix, path, files)
        names = [rel for _, rel in rels]
        if source_root(names) is not None or "project.config.json" in names:
            art = replace(art, kind=ArtifactKind.MINIPROGRAM_SOURCE)
            read_source_folder(acc, prefix, path, rels)
        else:
            art = _read_package_folder(acc, art, prefix, rels, budget, wxapkg_appid)
    except Exception as exc:
        log.exception("mini-program folder reader failed on %s", path)
        acc.fail("internal", prefix, f"{type(exc).__name__}: {exc}")
    return _freeze(acc, art)


def sniff_package(buf: Buffer, budget: Budget | None = None) -> tuple[ArtifactKind, str | None]:
    """The kind of one package file (the reader's sniffing, plus the Mac-tagged wxapkg it cannot see)."""
    from scanner.reader import sniff_kind  # late: scanner.reader imports this package lazily too

    if is_mac_tagged(buf):
        return ArtifactKind.WXAPKG, None
    return sniff_kind(buf, budget)


# -- internals ------------------------------------------------------------------------------------------------


def _read_packages(
    acc: MiniAccumulator,
    art: Artifact,
    items: list[tuple[str, Buffer, ArtifactKind, str | None]],
    appid: str | None,
) -> None:
    if not items:
        acc.fail("read", art.path, "no package files given")
        return
    acc.platform = _PLATFORM.get(items[0][2], "unknown")
    multi = len(items) > 1
    for name, buf, kind, why in items:
        if multi:
            acc.entries.append(Entry(name, len(buf), kind.value, len(buf)))
        try:
            _read_one(acc, name, buf, kind, why, appid, art.path)
        except LimitExceeded as exc:
            acc.error(exc, name, "limits")
            if isinstance(exc, BudgetSpent):  # the whole artifact is over budget: stop
                break
        except ReadError as exc:
            acc.error(exc, name)
    if acc.appid is None and acc.platform == "wechat":
        for text, src in [(n, "the file's name or path") for n, *_ in items] + [(art.path, "the file path")]:
            found = APPID_RE.findall(text)
            if found:
                acc.set_appid(found[-1].lower(), f"{src} (not verified by the package)", text)
                break


def _read_one(
    acc: MiniAccumulator, name: str, buf: Buffer, kind: ArtifactKind, why: str | None, appid: str | None, path: str
) -> None:
    if kind is ArtifactKind.WXAPKG:
        read_wxapkg(acc, name, buf, appid, path)
    elif kind is ArtifactKind.TTPKG:
        read_ttpkg(acc, name, buf)
    elif kind is ArtifactKind.RPK:
        read_rpk(acc, name, buf)
    elif kind is ArtifactKind.HAP:
        read_hap(acc, name, buf)
    elif kind is ArtifactKind.AMR:
        read_amr(acc, name, buf)
    elif kind is ArtifactKind.MINIPROGRAM_SOURCE:
        read_source_zip(acc, name, buf)
    elif kind is ArtifactKind.UNKNOWN:
        acc.fail("sniff", name, why or "not a known package format")
    else:
        acc.fail("sniff", name, f"a {kind.value} file among mini-program packages; not read here")


def _inside(acc: MiniAccumulator, prefix: str, path: Path, files: list[Path]) -> list[tuple[Path, str]]:
    """Files that really lie inside the folder (no symlinks out), with their posix relative names."""
    root = path.resolve()
    out: list[tuple[Path, str]] = []
    for f in files:
        try:
            rel = f.relative_to(path).as_posix()
        except ValueError:
            rel = f.name
        try:
            ok = not f.is_symlink() and f.resolve().is_relative_to(root) and f.is_file()
        except OSError:
            ok = False
        if not ok:
            acc.fail("read", f"{prefix}/{rel}", "not a regular file inside the folder (symlink?); not read")
            continue
        out.append((f, rel))
    return sorted(out, key=lambda x: x[1])


def _main_first(rel: str) -> tuple[int, str]:
    base = posixpath.basename(rel).lower()
    return (0 if base.startswith(("__app__", "app.")) else 1, rel)


def _read_package_folder(
    acc: MiniAccumulator, art: Artifact, prefix: str, rels: list[tuple[Path, str]], budget: Budget, appid: str | None
) -> Artifact:
    """Sniff every file, then read the packages one at a time (main package first), each memory-mapped."""
    found: list[tuple[Path, str, ArtifactKind]] = []
    for f, rel in rels:
        loc = f"{prefix}/{rel}"
        try:
            if f.stat().st_size == 0:
                acc.note("sniff", loc, "empty file; skipped")
                continue
            with open(f, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                kind, why = sniff_package(mm, Budget(budget.limits))
        except (OSError, ValueError) as exc:
            acc.fail("read", loc, f"cannot read: {exc}")
            continue
        if kind is ArtifactKind.UNKNOWN or kind not in (*_PLATFORM, ArtifactKind.MINIPROGRAM_SOURCE):
            acc.note("sniff", loc, f"not a mini-program package ({why or kind.value}); skipped")
            continue
        found.append((f, rel, kind))
    if not found:
        acc.fail("sniff", prefix, "the folder holds neither mini-program source (app.json/game.json) nor packages")
        return art
    if len(found) > MAX_PACKAGES:
        acc.fail("limits", prefix, f"{len(found)} package files; only the first {MAX_PACKAGES} were read")
        found = found[:MAX_PACKAGES]
    found.sort(key=lambda x: _main_first(x[1]))
    art = replace(art, kind=found[0][2])
    acc.platform = _PLATFORM.get(found[0][2], "unknown")
    for f, rel, kind in found:
        loc = f"{prefix}/{rel}"
        try:
            with open(f, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                acc.entries.append(Entry(loc, len(mm), kind.value, len(mm)))
                platform = acc.platform
                _read_packages(acc, art, [(loc, mm, kind, None)], appid)
                acc.platform = platform
        except (OSError, ValueError) as exc:
            acc.fail("read", loc, f"cannot read: {exc}")
        if acc.errors and acc.errors[-1].stage == "limits" and (
            "total bytes" in acc.errors[-1].message or "longer than" in acc.errors[-1].message
        ):
            break
    return art


def _freeze(acc: MiniAccumulator, art: Artifact) -> Inventory:
    try:
        return acc.freeze(art)
    except Exception as exc:
        log.exception("freezing the mini-program inventory failed for %s", art.path)
        return Inventory(artifact=art, errors=(*acc.errors, ScanError("internal", art.path, f"{type(exc).__name__}: {exc}")))

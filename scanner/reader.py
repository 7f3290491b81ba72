"""Open an artifact safely, sniff what it is by content, and read it into an :class:`Inventory`.

This is the scanner's one public door. It never raises for anything an artifact can do: every failure ends
as a :class:`ScanError` in the Inventory (which forces ``needs_review`` downstream). Files are memory-mapped
read-only; nothing is extracted to disk and nothing from the artifact is executed.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from scanner.apk import _ROOT_DEX, AndroidWalker, AppAccumulator, detect_zip_kind
from scanner.errors import LimitExceeded, ReadError
from scanner.model import Artifact, ArtifactKind, Inventory, ScanError, ScanNote
from scanner.parallel import PARALLEL_MIN_BYTES, collect, merge_strings, split_work, start_worker
from scanner.parallel import enabled as parallel_enabled
from scanner.sniff import sniff
from scanner.zipread import Budget, Limits, ZipArchive

try:  # native-thread SHA-256 (scanner/_speedups.c)
    from scanner._speedups import sha256_fd_job as _c_sha256_fd_job
except ImportError:  # pragma: no cover - built by `pip install`; absent only without a C compiler
    _c_sha256_fd_job = None

log = logging.getLogger(__name__)

_LFS = b"version https://git-lfs.github.com/spec/v1"
_ZIP_KINDS = {
    "apk": ArtifactKind.APK,
    "apks": ArtifactKind.APKS,
    "aab": ArtifactKind.AAB,
    "rpk": ArtifactKind.RPK,
    "hap": ArtifactKind.HAP,
    "amr": ArtifactKind.AMR,
    "miniprogram_source": ArtifactKind.MINIPROGRAM_SOURCE,
}


def file_sha256(path: Path) -> str:
    """Streaming sha256 of a file."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class _FileHash:
    """The SHA-256 of the mapped artifact, computed beside the reading (see ``_read_file``)."""

    def __init__(self, path: Path, fd: int, start: bool = True) -> None:
        self._path, self._fd = path, fd
        self._job = None
        self._pool: ThreadPoolExecutor | None = None
        self._started = False
        if start:
            self.start()

    def start(self) -> None:
        """Begin hashing (idempotent). An APK's walker calls this once its code is inflated, so the hash does
        not take the second core from the code inflation the walk waits for."""
        if self._started:
            return
        self._started = True
        if _c_sha256_fd_job is not None:
            try:
                self._job = _c_sha256_fd_job(self._fd)  # reads the descriptor: hashed pages stay out of our RSS
                return
            except OSError:  # no thread to be had (process limits): a Python thread, else inline on result()
                self._job = None
        try:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
            self._future = self._pool.submit(file_sha256, self._path)
        except RuntimeError:
            self._pool = None

    def result(self) -> str:
        self.start()
        if self._job is not None:
            job, self._job = self._job, None
            try:
                return str(job.result()[1])
            except OSError:  # the descriptor could not be read on that thread: hash here
                return file_sha256(self._path)
        if self._pool is None:
            return file_sha256(self._path)
        return self._future.result()

    def close(self) -> None:
        """Wait for the hash (the descriptor must stay open until then)."""
        if self._job is not None:
            self._job.close()
            self._job = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def sniff_kind(buf: bytes | mmap.mmap, budget: Budget | None = None) -> tuple[ArtifactKind, str | None]:
    """The artifact kind from its bytes; for unknown content also a reason for reviewers."""
    kind, why, _ = _sniff(buf, budget)
    return kind, why


def _sniff(
    buf: bytes | mmap.mmap, budget: Budget | None = None, locator: str = "probe"
) -> tuple[ArtifactKind, str | None, ZipArchive | None]:
    """:func:`sniff_kind` that also hands back the zip it parsed (so the reader does not parse it twice)."""
    head = bytes(buf[:4096])
    if not head:
        return ArtifactKind.UNKNOWN, "empty file", None
    if head.startswith(_LFS):
        return ArtifactKind.UNKNOWN, "a Git LFS pointer (133-byte text), not the artifact itself", None
    fmt = sniff(head, "", len(buf))
    if fmt == "wxapkg" or bytes(buf[-23:]) == b"WAPkgEncryptedTagForMac":  # macOS client wrapping
        return ArtifactKind.WXAPKG, None, None
    if fmt == "wxapkg":
        return ArtifactKind.WXAPKG, None, None
    if fmt == "ttpkg":
        return ArtifactKind.TTPKG, None, None
    if fmt == "zip" or (len(buf) >= 22 and buf.rfind(b"PK\x05\x06", max(0, len(buf) - 65557)) >= 0):
        try:
            za = ZipArchive(buf, locator, budget or Budget())
        except LimitExceeded:
            raise
        except ReadError as exc:
            return ArtifactKind.UNKNOWN, f"zip structure unreadable: {exc.message}", None
        kind = detect_zip_kind([m.name for m in za.members])
        if kind in _ZIP_KINDS:
            return _ZIP_KINDS[kind], None, za
        return ArtifactKind.UNKNOWN, "a zip archive without any known app or mini-program layout", None
    if fmt == "dex":
        return ArtifactKind.UNKNOWN, "a bare DEX file, not a package (submit the APK)", None
    return ArtifactKind.UNKNOWN, f"not a known package format (content looks like {fmt!r})", None


def read_artifact(path: str | os.PathLike[str], limits: Limits | None = None, wxapkg_appid: str | None = None) -> Inventory:
    """Read one artifact (a file, or a folder of mini-program packages/source) into an Inventory."""
    p = Path(path)
    limits = limits or Limits()
    budget = Budget(limits)
    name = p.name or str(p)
    if p.is_dir():
        return _read_folder(p, budget, wxapkg_appid)
    try:
        size = p.stat().st_size
    except OSError as exc:
        art = Artifact(str(p), "", ArtifactKind.UNKNOWN, 0)
        return Inventory(artifact=art, errors=(ScanError("open", name, f"cannot read file: {exc.strerror or exc}"),))
    art = Artifact(str(p), "", ArtifactKind.UNKNOWN, size)
    if size == 0:
        return Inventory(artifact=replace(art, sha256=hashlib.sha256(b"").hexdigest()),
                         errors=(ScanError("sniff", name, "empty file"),))
    return _read_file(p, art, name, limits, budget, wxapkg_appid)


def _read_file(p: Path, art: Artifact, name: str, limits: Limits, budget: Budget, wxapkg_appid: str | None) -> Inventory:
    try:
        with open(p, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            kind, why, za = _sniff(buf, budget, name)
            art = replace(art, kind=kind)
            if kind is ArtifactKind.APK and za is not None:
                dex_names = {m.name for m in za.members if _ROOT_DEX.match(m.name)}
                heavy = sum(m.usize for m in za.members if m.name in dex_names or m.name.endswith(".so"))
                # SYNTHREVIEW_NO_FORK: set by synthreview.isolation inside its confined worker (no helper there).
                if (heavy >= PARALLEL_MIN_BYTES and not za.salvaged and parallel_enabled()
                        and not os.environ.get("SYNTHREVIEW_NO_FORK")):
                    return _read_apk_parallel(p, art, buf, za, dex_names, name, budget)
            # The whole-file hash runs on the second core while the package is read: a native thread where
            # scanner._speedups is built (no GIL hand-offs), else a Python thread (hashlib releases the GIL).
            android = kind in (ArtifactKind.APK, ArtifactKind.APKS, ArtifactKind.AAB)
            hasher = _FileHash(p, f.fileno(), start=not android)
            try:
                if kind is ArtifactKind.UNKNOWN:
                    inv = Inventory(artifact=art, errors=(ScanError("sniff", name, why or "unknown format"),))
                else:
                    inv = _read_kind(art, kind, buf, name, budget, wxapkg_appid, za, hasher.start)
                sha = hasher.result()
            finally:
                hasher.close()
            return replace(inv, artifact=replace(inv.artifact, sha256=sha))
    except LimitExceeded as exc:
        return Inventory(artifact=art, errors=(ScanError("limits", exc.locator or name, exc.message),))
    except Exception as exc:  # the last line of defence: a reader bug must not pass as a clean scan
        log.exception("reader failed on %s", p)
        return Inventory(artifact=art, errors=(ScanError("internal", name, f"{type(exc).__name__}: {exc}"),))


def _read_apk_parallel(
    p: Path, art: Artifact, buf: mmap.mmap, za: ZipArchive, dex_names: set[str], name: str, budget: Budget
) -> Inventory:
    """A big APK: fork a worker for a share of the DEX/native code (and the file hash), read the rest here."""
    names = split_work(za.members, dex_names)
    pool, future = start_worker(str(p), name, names, budget.limits)  # forked before any thread exists
    acc = AppAccumulator(budget)
    walker = AndroidWalker(acc, skip=frozenset(names))
    try:
        walker.walk_apk(za, 0)
    except LimitExceeded as exc:
        acc.error(exc, name, "limits")
    except ReadError as exc:
        acc.error(exc, name, "zip")
    remaining = max(1.0, budget.limits.max_seconds - (time.monotonic() - budget.started))
    res = collect(pool, future, name, remaining)
    sha = ""
    if isinstance(res, ScanError):
        acc.errors.append(res)
        sha = file_sha256(p)
    else:
        sha = res.sha256
        acc.dex.extend(res.dex)
        acc.native_libs.extend(res.native_libs)
        acc.entries.extend(res.entries)
        acc.errors.extend(res.errors)
        acc.notes.extend(res.notes)
        merge_strings(acc.strings, res.strings)
        budget.charge(res.bytes_used, name)
    order = {m.name: i for i, m in enumerate(za.members)}

    def key(locator: str) -> int:
        return order.get(locator.split("!", 1)[1] if "!" in locator else locator, len(order))

    acc.dex.sort(key=lambda d: key(d.locator))
    acc.native_libs.sort(key=lambda lib: key(lib.path))
    acc.entries.sort(key=lambda e: key(e.path))
    return freeze(replace(art, sha256=sha), acc)


def read_bytes(name: str, data: bytes, limits: Limits | None = None, wxapkg_appid: str | None = None) -> Inventory:
    """Read an in-memory artifact (fixtures, webhook uploads already in memory); ``name`` is its locator root."""
    limits = limits or Limits()
    art = Artifact(name, hashlib.sha256(data).hexdigest(), ArtifactKind.UNKNOWN, len(data))
    if not data:
        return Inventory(artifact=art, errors=(ScanError("sniff", name, "empty file"),))
    try:
        kind, why = sniff_kind(data, Budget(limits))
        art = replace(art, kind=kind)
        if kind is ArtifactKind.UNKNOWN:
            return Inventory(artifact=art, errors=(ScanError("sniff", name, why or "unknown format"),))
        return _read_kind(art, kind, data, name, Budget(limits), wxapkg_appid)
    except LimitExceeded as exc:
        return Inventory(artifact=art, errors=(ScanError("limits", exc.locator or name, exc.message),))
    except Exception as exc:
        log.exception("reader failed on %s", name)
        return Inventory(artifact=art, errors=(ScanError("internal", name, f"{type(exc).__name__}: {exc}"),))


def _read_kind(
    art: Artifact, kind: ArtifactKind, buf: bytes | mmap.mmap, name: str, budget: Budget, wxapkg_appid: str | None,
    za: ZipArchive | None = None, on_code_read: Callable[[], None] | None = None,
) -> Inventory:
    if kind in (ArtifactKind.APK, ArtifactKind.APKS, ArtifactKind.AAB):
        return _read_android(art, kind, buf, name, budget, za, on_code_read)
    try:
        from scanner.miniprogram import read_miniprogram
    except ImportError:
        return Inventory(artifact=art, errors=(ScanError("read", name, f"no reader for {kind.value} yet"),))
    return read_miniprogram(art, [(name, buf)], budget, wxapkg_appid)


def _read_android(
    art: Artifact, kind: ArtifactKind, buf: bytes | mmap.mmap, name: str, budget: Budget, za: ZipArchive | None = None,
    on_code_read: Callable[[], None] | None = None,
) -> Inventory:
    acc = AppAccumulator(budget)
    walker = AndroidWalker(acc, on_code_read=on_code_read)
    try:
        if za is None or za.locator != name:
            za = ZipArchive(buf, name, budget)
        if za.salvaged:
            acc.errors.append(ScanError("zip", name, "central directory is broken; entries were salvaged from local headers"))
        if kind is ArtifactKind.APKS:
            walker.walk_split_set(za, 0)
        elif kind is ArtifactKind.AAB:
            walker.walk_aab(za, 0)
        else:
            walker.walk_apk(za, 0)
    except LimitExceeded as exc:
        acc.error(exc, name, "limits")
    except ReadError as exc:
        acc.error(exc, name, "zip")
    return freeze(art, acc)


def freeze(art: Artifact, acc: AppAccumulator) -> Inventory:
    """Turn the accumulator into the immutable Inventory, de-duplicating notes and errors."""
    notes: list[ScanNote] = []
    seen_notes: set[ScanNote] = set()
    for n in [*acc.notes, *(n for za in acc.archives for n in za.notes)]:
        if n not in seen_notes:
            seen_notes.add(n)
            notes.append(n)
    errors = list(dict.fromkeys([*acc.errors, *(e for za in acc.archives for e in za.errors)]))
    man = acc.manifest
    if man is None and not any(e.stage == "manifest" for e in errors) and art.kind in (
        ArtifactKind.APK, ArtifactKind.APKS, ArtifactKind.AAB
    ):
        errors.append(ScanError("manifest", art.path, "no manifest could be read"))
    art = replace(
        art,
        app_id=man.package if man else None,
        version=man.version_name if man else None,
        name=man.label if man else None,
    )
    certs = list(dict.fromkeys(acc.certificates))
    # Code members are parsed after the light ones (scanner.apk): list DEX and libraries in entry order.
    pos = {e.path: i for i, e in enumerate(acc.entries)}
    acc.dex.sort(key=lambda d: pos.get(d.locator, len(pos)))
    acc.native_libs.sort(key=lambda lib: pos.get(lib.path, len(pos)))
    return Inventory(
        artifact=art,
        manifest=man,
        certificates=tuple(certs),
        dex=tuple(acc.dex),
        native_libs=tuple(acc.native_libs),
        entries=tuple(acc.entries),
        strings=acc.strings.result(),
        resource_strings=tuple(acc.resource_strings),
        notes=tuple(notes),
        errors=tuple(errors),
    )


def _read_folder(p: Path, budget: Budget, wxapkg_appid: str | None) -> Inventory:
    """A folder: mini-program source, or a main package plus subpackages scanned together as one app."""
    files = sorted(x for x in p.rglob("*") if x.is_file() and not x.is_symlink())
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(p)).encode() + b"\0" + file_sha256(f).encode())
    size = sum(f.stat().st_size for f in files)
    art = Artifact(str(p), h.hexdigest(), ArtifactKind.UNKNOWN, size)
    try:
        from scanner.miniprogram import read_folder
    except ImportError:
        return Inventory(artifact=art, errors=(ScanError("sniff", p.name, "folders are read as mini-programs; no reader yet"),))
    try:
        return read_folder(art, p, files, budget, wxapkg_appid)
    except Exception as exc:
        log.exception("folder reader failed on %s", p)
        return Inventory(artifact=art, errors=(ScanError("internal", p.name, f"{type(exc).__name__}: {exc}"),))

"""Android packages → Inventory: APK, split sets (.apks/.xapk) and App Bundles (.aab), read as one app.

One pass over the central directory: code (DEX), native code (ELF), manifest and resources are read whole;
everything else is sniffed from a 4 KiB prefix, and only text assets, model-like blobs and nested archives
are read further, each within the artifact's :class:`~scanner.zipread.Budget`.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from scanner.aab import parse_proto_manifest
from scanner.dex import read_dex
from scanner.elf import read_elf
from scanner.errors import BudgetSpent, LimitExceeded, ReadError
from scanner.manifest import arsc_strings, parse_manifest
from scanner.model import (
    Certificate,
    DexFile,
    Entry,
    Manifest,
    NativeLib,
    ScanError,
    ScanNote,
    StringTable,
)
from scanner.signing import signing_block_certificates, v1_certificates
from scanner.sniff import MODEL_FORMATS, MODEL_SUFFIXES, TEXT_SUFFIXES, entropy, sniff
from scanner.strings import StringCollector
from scanner.zipread import AsyncRead, Budget, Member, ZipArchive

try:  # native-thread SHA-256 beside parsing (scanner/_speedups.c)
    from scanner._speedups import sha256_buf_job as _c_sha256_buf_job
    from scanner._speedups import short_strings as _c_short_strings
except ImportError:  # pragma: no cover - built by `pip install`; absent only without a C compiler
    _c_sha256_buf_job = None
    _c_short_strings = None

_ROOT_DEX = re.compile(r"^classes\d*\.dex$")
_AAB_DEX = re.compile(r"^[^/]+/dex/classes\d*\.dex$")
_V1_SIG = re.compile(r"^META-INF/[^/]+\.(RSA|DSA|EC)$", re.IGNORECASE)
_ENTROPY_SAMPLE = 16384
_HASH_MODEL_MAX = 256 * 1024**2
_MAX_RESOURCE_STRING = 300
_PLACEHOLDER = Entry("", 0, "", 0)  # where a deferred code member's entry goes back (compared by identity)


@dataclass
class AppAccumulator:
    """Mutable collection point while one artifact is walked; frozen into an Inventory at the end."""

    budget: Budget
    manifest: Manifest | None = None
    manifest_from: str = ""
    certificates: list[Certificate] = field(default_factory=list)
    dex: list[DexFile] = field(default_factory=list)
    native_libs: list[NativeLib] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    resource_strings: list[StringTable] = field(default_factory=list)
    strings: StringCollector = field(default_factory=StringCollector)
    notes: list[ScanNote] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    split_manifests: list[Manifest] = field(default_factory=list)
    archives: list[ZipArchive] = field(default_factory=list)
    cert_memo: dict[bytes, Certificate | None] = field(default_factory=dict)  # v1/v2/v3 often repeat one DER

    def error(self, exc: ReadError | Exception, locator: str, stage: str = "read") -> None:
        """Record a failure of one part; reading goes on with the rest."""
        if isinstance(exc, ReadError):
            self.errors.append(ScanError(exc.stage or stage, exc.locator or locator, exc.message))
        else:
            self.errors.append(ScanError(stage, locator, f"{type(exc).__name__}: {exc}"))


def detect_zip_kind(names: list[str]) -> str:
    """Name the app layout of a zip from its member names (content, not the file extension)."""
    s = set(names)
    if "AndroidManifest.xml" in s:
        return "apk"
    if "base/manifest/AndroidManifest.xml" in s or any(n.endswith("/manifest/AndroidManifest.xml") for n in names):
        return "aab"
    apks = [n for n in names if n.endswith(".apk") and "/" not in n]
    if apks and ("toc.pb" in s or "manifest.json" in s or "base.apk" in s or any(n.startswith("split") for n in apks)):
        return "apks"
    if "Manifest.xml" in s and "CERT.json" in s:
        return "amr"
    if "module.json" in s or "pack.info" in s or ("config.json" in s and "resources.index" in s):
        return "hap"
    if "manifest.json" in s and ("app.js" in s or any(n.endswith(".js") for n in names)) and not apks:
        return "rpk"
    if "app.json" in s or "game.json" in s or "project.config.json" in s or any(
        n.endswith(("/app.json", "/game.json", "/project.config.json")) and n.count("/") == 1 for n in names
    ):
        return "miniprogram_source"
    if any(_ROOT_DEX.match(n) for n in names):
        return "apk"
    if apks:
        return "apks"
    return "zip"


def digest_beside(data: bytes) -> Callable[[], str]:
    """Start the SHA-256 of ``data`` on a native thread while the caller parses it; call the result to
    collect the hex digest (once). Without ``scanner._speedups`` it hashes on that call."""
    if _c_sha256_buf_job is None:
        return lambda: hashlib.sha256(data).hexdigest()
    try:
        job = _c_sha256_buf_job(data)
    except OSError:  # no thread to be had (process limits)
        return lambda: hashlib.sha256(data).hexdigest()
    got: list[str] = []

    def result() -> str:
        if not got:
            got.append(str(job.result()[1]))
        return got[0]

    return result


class _Prefetch:
    """Inflates the code members (DEX, native libraries) a few ahead on native threads.

    ``ZipArchive.read_async`` runs zlib and SHA-256 in C without the GIL, so the code inflates on the second
    core while this thread sniffs the other members and parses the manifest. (A Python worker thread
    measured no overlap: CPython's zlib and ISA-L bindings take the GIL back after every output block.)
    The window bounds memory to a few members.
    """

    def __init__(self, za: ZipArchive, members: list[Member], window: int = 2) -> None:
        self.za = za
        self.queue = list(members)
        self.window = window
        self.pending: dict[int, AsyncRead] = {}
        self._fill()

    def _fill(self) -> None:
        while self.queue and len(self.pending) < self.window:
            m = self.queue.pop(0)
            self.pending[id(m)] = self.za.read_async(m)

    def take(self, m: Member) -> AsyncRead | None:
        """The pending read of ``m`` (and start the next), or None when ``m`` was not prefetched."""
        job = self.pending.pop(id(m), None)
        self._fill()
        return job

    def idle(self) -> bool:
        """Every member handed out: no inflation pending."""
        return not self.queue and not self.pending

    def close(self) -> None:
        """Wait for and drop reads never collected (they hold the artifact's buffer)."""
        for job in self.pending.values():
            job.close()
        self.pending.clear()
        self.queue.clear()


class AndroidWalker:
    """Walks an Android container (and the archives inside it) into an :class:`AppAccumulator`."""

    def __init__(
        self, acc: AppAccumulator, skip: frozenset[str] = frozenset(), on_code_read: Callable[[], None] | None = None
    ) -> None:
        self.acc = acc
        self.prefetch: _Prefetch | None = None
        self.digests: dict[int, Callable[[], str | None]] = {}  # prefetched members: collect their SHA-256
        self.skip = skip  # root members another process reads (see scanner.parallel)
        self.on_code_read = on_code_read  # called once, when the prefetched code is all inflated (or at the end)

    # -- entry points ------------------------------------------------------------------------------------

    def walk_apk(self, za: ZipArchive, depth: int, base: bool = True) -> None:
        """An installable APK (root or inside a split set)."""
        self.acc.archives.append(za)

        def head() -> None:  # runs while the prefetch worker already inflates the code
            self._apk_head(za, depth, base)

        self._walk_members(za, depth, dex_pattern=_ROOT_DEX, sig_root=True, head=head)
        if depth == 0:
            self._code_read()  # no code was prefetched (or it failed): the hook still fires

    def _apk_head(self, za: ZipArchive, depth: int, base: bool) -> None:
        """Resources, manifest and signing block of an APK."""
        acc = self.acc
        by_name = {m.name: m for m in za.members}
        manifest_m = by_name.get("AndroidManifest.xml")
        arsc_m = by_name.get("resources.arsc")
        arsc: bytes | None = None
        if arsc_m is not None:
            arsc = self._read(za, arsc_m)
            if arsc:
                self._resource_strings(arsc, f"{za.locator}!resources.arsc")
        if manifest_m is not None:
            axml = self._read(za, manifest_m)
            if axml is not None:
                try:
                    man = parse_manifest(axml, arsc, f"{za.locator}!AndroidManifest.xml")
                    if acc.manifest is None and base:
                        acc.manifest, acc.manifest_from = man, za.locator
                    else:
                        acc.split_manifests.append(man)
                except ReadError as exc:
                    acc.error(exc, f"{za.locator}!AndroidManifest.xml", "manifest")
        elif base and depth == 0:
            acc.errors.append(
                ScanError("manifest", za.locator, "no AndroidManifest.xml: not an installable APK")
            )
        if base or depth == 0:
            certs, problems = signing_block_certificates(za.buf, za.cd_offset, acc.cert_memo)
            acc.certificates.extend(certs)
            for p in problems:
                acc.notes.append(ScanNote("signature", za.locator, p))

    def walk_split_set(self, za: ZipArchive, depth: int) -> None:
        """``.apks``/``.xapk``: every APK inside is part of one app; ``base.apk`` (or the one with code) leads."""
        acc = self.acc
        acc.archives.append(za)
        apks = [m for m in za.members if m.name.endswith(".apk") and not m.is_dir]
        apks.sort(key=lambda m: (0 if posixpath.basename(m.name) == "base.apk" else 1, m.name))
        for m in apks:
            data = self._read(za, m)
            if data is None:
                continue
            loc = f"{za.locator}!{m.name}"
            try:
                inner = ZipArchive(data, loc, acc.budget)
            except ReadError as exc:
                acc.error(exc, loc, "zip")
                continue
            acc.entries.append(Entry(loc, m.usize, "zip", m.csize, hashlib.sha256(data).hexdigest()))
            self.walk_apk(inner, depth + 1, base=acc.manifest is None)
        others = [m for m in za.members if not m.name.endswith(".apk") and not m.is_dir]
        for m in others:
            self._other(za, m, depth)
        if not apks:
            acc.errors.append(ScanError("zip", za.locator, "split set holds no APK"))

    def walk_aab(self, za: ZipArchive, depth: int) -> None:
        """An Android App Bundle: ``<module>/manifest/AndroidManifest.xml`` is aapt2 protobuf XML."""
        acc = self.acc
        acc.archives.append(za)
        mans = sorted(
            (m for m in za.members if m.name.endswith("/manifest/AndroidManifest.xml")),
            key=lambda m: (0 if m.name.startswith("base/") else 1, m.name),
        )
        for m in mans:
            data = self._read(za, m)
            if data is None:
                continue
            loc = f"{za.locator}!{m.name}"
            try:
                man = parse_proto_manifest(data, loc)
            except ReadError as exc:
                acc.error(exc, loc, "manifest")
                continue
            if acc.manifest is None:
                acc.manifest, acc.manifest_from = man, loc
            else:
                acc.split_manifests.append(man)
        if not mans:
            acc.errors.append(ScanError("manifest", za.locator, "bundle has no module manifest"))
        self._walk_members(za, depth, dex_pattern=_AAB_DEX, sig_root=True, skip_manifests=True)

    # -- members -------------------------------------------------------------------------------------------

    def _read(self, za: ZipArchive, m: Member, max_bytes: int | None = None) -> bytes | None:
        fut = self.prefetch.take(m) if self.prefetch is not None and max_bytes is None and self.prefetch.za is za else None
        try:
            if fut is None:
                return za.read(m, max_bytes)
            data = fut.result()
            self.digests[id(m)] = fut.digest  # the prefetch thread hashes while this thread parses
            return data
        except LimitExceeded as exc:
            self.acc.error(exc, f"{za.locator}!{m.name}", "limits")
            if isinstance(exc, BudgetSpent):  # the whole artifact is over budget: stop
                raise
            return None
        except ReadError as exc:
            self.acc.error(exc, f"{za.locator}!{m.name}", "zip")
            return None

    def _code_read(self) -> None:
        """Fire ``on_code_read`` once the last prefetched code member is inflated and hashed (or at the end)."""
        if self.prefetch is not None and not self.prefetch.idle():
            return
        hook, self.on_code_read = self.on_code_read, None
        if hook is not None:
            hook()

    def _digest(self, m: Member, data: bytes) -> Callable[[], str]:
        """The SHA-256 of a member being parsed: from its prefetch thread, else from a new native thread."""
        pending = self.digests.pop(id(m), None)
        beside = digest_beside(data) if pending is None else None
        got: list[str] = []

        def result() -> str:
            if not got:
                sha = pending() if pending is not None else None
                got.append(sha if sha is not None else (beside or digest_beside(data))())
            return got[0]

        return result

    def _walk_members(
        self, za: ZipArchive, depth: int, dex_pattern: re.Pattern[str], sig_root: bool, skip_manifests: bool = False,
        head: Callable[[], None] | None = None,
    ) -> None:
        skip = self.skip if depth == 0 else frozenset()
        heavy = [m for m in za.members if not m.is_dir and m.name not in skip
                 and (dex_pattern.match(m.name) or m.name.endswith(".so"))]
        outer, self.prefetch = self.prefetch, (_Prefetch(za, heavy) if heavy else None)
        try:
            if head is not None:
                head()
            self._walk_members_inner(za, depth, dex_pattern, sig_root, skip_manifests)
        finally:
            if self.prefetch is not None:
                self.prefetch.close()
            self.prefetch = outer

    def _walk_members_inner(
        self, za: ZipArchive, depth: int, dex_pattern: re.Pattern[str], sig_root: bool, skip_manifests: bool
    ) -> None:
        """Every member once. Code (DEX, native libraries) goes last, so the prefetch worker inflates it while
        the light members are sniffed here; its entries are spliced back into member order."""
        acc = self.acc
        deferred: list[tuple[int, Member, str, bool]] = []  # (placeholder index, member, locator, is_dex)
        for i, m in enumerate(za.members):
            if i % 256 == 0:
                acc.budget.check_time(za.locator)
            if m.is_dir or (depth == 0 and m.name in self.skip):
                continue
            name = m.name
            loc = f"{za.locator}!{name}"
            if name in ("AndroidManifest.xml", "resources.arsc") or (
                skip_manifests and name.endswith("/manifest/AndroidManifest.xml")
            ):
                acc.entries.append(Entry(loc, m.usize, "axml" if name.endswith(".xml") else "arsc", m.csize))
                continue
            if dex_pattern.match(name) or name.endswith(".so"):
                deferred.append((len(acc.entries), m, loc, bool(dex_pattern.match(name))))
                acc.entries.append(_PLACEHOLDER)
                continue
            if sig_root and _V1_SIG.match(name):
                data = self._read(za, m, 1024 * 1024)
                if data:
                    acc.certificates.extend(v1_certificates(data, acc.cert_memo))
                acc.entries.append(Entry(loc, m.usize, "pkcs7", m.csize))
                continue
            self._other(za, m, depth)
        if not deferred:
            return
        produced: dict[int, list[Entry]] = {}
        outer_entries = acc.entries
        try:
            for k, (slot, m, loc, is_dex) in enumerate(deferred):
                if k % 16 == 0:
                    acc.budget.check_time(za.locator)
                acc.entries = produced.setdefault(slot, [])
                if is_dex:
                    self._dex(za, m, loc)
                else:
                    self._elf(za, m, loc)
        finally:
            acc.entries = outer_entries
            spliced: list[Entry] = []
            for k, e in enumerate(outer_entries):
                if e is _PLACEHOLDER:
                    spliced.extend(produced.get(k, ()))
                else:
                    spliced.append(e)
            outer_entries[:] = spliced

    def _dex(self, za: ZipArchive, m: Member, loc: str) -> None:
        data = self._read(za, m)
        if data is None:
            return
        digest = self._digest(m, data)
        try:
            d = read_dex(data, loc, digest)
            self._code_read()
            self.acc.dex.append(d)
            self.acc.entries.append(Entry(loc, m.usize, "dex", m.csize, d.sha256))
            self.acc.strings.scan_strings(d.strings, loc)
        except ReadError as exc:
            self.acc.error(exc, loc, "dex")
            self.acc.entries.append(Entry(loc, m.usize, sniff(data[:64], m.name), m.csize, digest()))

    def _elf(self, za: ZipArchive, m: Member, loc: str) -> None:
        data = self._read(za, m)
        if data is None:
            return
        digest = self._digest(m, data)
        if data[:4] != b"\x7fELF":
            self.acc.entries.append(
                Entry(loc, m.usize, sniff(data[:4096], m.name, m.usize), m.csize, digest(),
                      round(entropy(data[:_ENTROPY_SAMPLE]), 3))
            )
            self.acc.notes.append(ScanNote("elf", loc, "named .so but not an ELF file (packed or encrypted?)"))
            return
        try:
            lib = read_elf(data, loc, m.name, digest)
            self._code_read()
            self.acc.native_libs.append(lib)
            self.acc.entries.append(Entry(loc, m.usize, "elf", m.csize, lib.sha256))
            if lib.strings:
                self.acc.strings.scan_strings(lib.strings, loc)
        except ReadError as exc:
            self.acc.error(exc, loc, "elf")
            self.acc.entries.append(Entry(loc, m.usize, "elf", m.csize, digest()))

    def _other(self, za: ZipArchive, m: Member, depth: int) -> None:
        acc = self.acc
        loc = f"{za.locator}!{m.name}"
        prefix = za.read_prefix(m, 1024)
        fmt = sniff(prefix, m.name, m.usize)
        ext = m.name.lower().rsplit(".", 1)[-1] if "." in posixpath.basename(m.name) else ""
        sha: str | None = None
        ent: float | None = None
        if fmt == "dex":
            self._dex(za, m, loc)
            return
        if fmt == "elf":
            self._elf(za, m, loc)
            return
        if fmt == "zip":
            if depth + 1 > acc.budget.limits.max_depth:
                acc.notes.append(ScanNote("zip", loc, f"nested archive beyond depth {acc.budget.limits.max_depth}; not opened"))
                acc.errors.append(ScanError("limits", loc, f"nesting deeper than {acc.budget.limits.max_depth} archives"))
            else:
                data = self._read(za, m)
                if data is not None:
                    sha = hashlib.sha256(data).hexdigest()
                    try:
                        inner = ZipArchive(data, loc, acc.budget)
                        names = [x.name for x in inner.members]
                        if any(n.endswith(("data.pkl", "bytecode.pkl", "constants.pkl")) for n in names):
                            fmt = "pytorch"
                        self._walk_nested(inner, depth + 1)
                    except LimitExceeded:
                        raise
                    except ReadError as exc:
                        acc.error(exc, loc, "zip")
            acc.entries.append(Entry(loc, m.usize, fmt, m.csize, sha))
            return
        if fmt in ("json", "html", "js", "text", "xml") and (ext in TEXT_SUFFIXES or fmt in ("json", "html")):
            # Big plain-text files are dictionaries and corpora, not configuration: scan only their head.
            code_like = ext in ("js", "mjs", "cjs", "json", "html", "htm", "xml", "wxml", "properties", "ts", "vue")
            cap = acc.budget.limits.text_asset_bytes if code_like and not m.name.startswith("res/") else 64 * 1024
            data = self._read(za, m, cap) if m.usize <= cap else za.read_prefix(m, cap)
            if data is not None:
                acc.strings.scan_text(data.decode("utf-8", "replace"), loc)
        elif fmt in MODEL_FORMATS or ext in MODEL_SUFFIXES or (fmt == "data" and m.usize >= 4096):
            # Only bytes make a model: a bare ``.bin``/``.model`` suffix gets a sampled entropy, not a full read.
            if m.usize <= _HASH_MODEL_MAX and fmt in MODEL_FORMATS:
                data = self._read(za, m)
                if data is not None:
                    sha = hashlib.sha256(data).hexdigest()
                    ent = round(entropy(data[:_ENTROPY_SAMPLE]), 3)
            else:
                ent = round(entropy(za.read_prefix(m, _ENTROPY_SAMPLE)), 3)
            if fmt == "data" and ent is not None and ent > 7.5 and m.usize >= 4096:
                fmt = "encrypted_blob"
        acc.entries.append(Entry(loc, m.usize, fmt, m.csize, sha, ent))

    def _walk_nested(self, za: ZipArchive, depth: int) -> None:
        """A jar/aar/apk/zip inside the app: its code, libraries and assets count as the app's."""
        self.acc.archives.append(za)
        self._walk_members(za, depth, dex_pattern=_ROOT_DEX, sig_root=False)

    def _resource_strings(self, arsc: bytes, loc: str) -> None:
        try:
            strings = arsc_strings(arsc)
        except ReadError as exc:
            self.acc.error(exc, loc, "resources")
            return
        self.acc.strings.scan_strings(strings, loc)
        if _c_short_strings is not None:
            short = tuple(_c_short_strings(strings, _MAX_RESOURCE_STRING))
        else:
            short = tuple(dict.fromkeys(
                s for s in strings if s and len(s) <= _MAX_RESOURCE_STRING and s[0] != "@" and not s.startswith("res/")))
        self.acc.resource_strings.append(StringTable(loc, short))

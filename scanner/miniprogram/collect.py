"""The collection point while one mini-program artifact is read, and the per-file scan every container shares.

Containers (wxapkg, TPKG, zip, tar, folder) differ only in how a member's bytes are reached, so each
hands :class:`MemberFile` values to :meth:`MiniAccumulator.scan_member`, which sniffs, reads what evidence
needs (text whole up to a cap, models and wasm whole for a hash, everything else a 4 KiB prefix) and
records entries, strings, API calls, plugin references and bundled libraries. Reads are charged to the
artifact's :class:`~scanner.zipread.Budget`.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from scanner.errors import BudgetSpent, LimitExceeded, ReadError
from scanner.miniprogram.evidence import code_evidence, libraries_by_name, npm_package
from scanner.model import (
    Artifact,
    Entry,
    Inventory,
    Located,
    Manifest,
    MiniProgram,
    NativeLib,
    Plugin,
    ScanError,
    ScanNote,
)
from scanner.sniff import MODEL_FORMATS, MODEL_SUFFIXES, entropy, sniff
from scanner.strings import StringCollector
from scanner.zipread import Budget

_TEXT_FORMATS = frozenset({"json", "html", "js", "text", "xml"})
_BINARY_TEXT_SUFFIXES = frozenset({"abc"})  # Ark bytecode: its string table holds imports and URLs
_ENTROPY_SAMPLE = 65536
_HASH_MODEL_MAX = 256 * 1024**2
_APPID_LIKE = re.compile(r"^(?:wx[0-9a-f]{16}|tt[0-9a-f]{16,18})$")
_MAX_REFS = 50_000
_MAX_APIS = 50_000
_BUNDLED_PLUGIN = re.compile(r"^/?__plugin__/(wx[0-9a-f]{16})/")


@dataclass(frozen=True)
class MemberFile:
    """One file inside a package, whatever the container: its name, sizes, and two ways to read it.

    ``read(n)`` returns up to ``n`` bytes and is charged to the budget by the container; ``prefix(n)`` is
    an uncharged peek for sniffing.
    """

    name: str
    size: int
    csize: int
    read: Callable[[int], bytes]
    prefix: Callable[[int], bytes]


@dataclass
class MiniAccumulator:
    """Mutable evidence of one artifact while its packages are read; :meth:`freeze` makes the Inventory."""

    budget: Budget
    platform: str = "unknown"
    appid: str | None = None
    appid_source: str = ""
    name: str | None = None
    version: str | None = None
    version_code: str | None = None
    permissions: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    plugins: list[Plugin] = field(default_factory=list)
    plugin_refs: list[tuple[str, str]] = field(default_factory=list)  # (alias-or-provider, locator)
    apis: dict[tuple[str, str], None] = field(default_factory=dict)
    js_libraries: dict[tuple[str, str], None] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    native_libs: list[NativeLib] = field(default_factory=list)
    strings: StringCollector = field(default_factory=StringCollector)
    notes: list[ScanNote] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    encrypted: bool = False
    _npm_seen: set[str] = field(default_factory=set)
    _plugin_keys: set[tuple[str, str]] = field(default_factory=set)

    # -- recording -------------------------------------------------------------------------------------

    def error(self, exc: ReadError | Exception, locator: str, stage: str = "read") -> None:
        """Record a failure of one part; reading goes on with the rest."""
        if isinstance(exc, ReadError):
            self.errors.append(ScanError(exc.stage or stage, exc.locator or locator, exc.message))
        else:
            self.errors.append(ScanError(stage, locator, f"{type(exc).__name__}: {exc}"))

    def fail(self, stage: str, locator: str, message: str) -> None:
        """Record a problem (forces ``needs_review``)."""
        self.errors.append(ScanError(stage, locator, message))

    def note(self, stage: str, locator: str, message: str) -> None:
        """Record something odd that did not stop reading."""
        self.notes.append(ScanNote(stage, locator, message))

    def set_appid(self, appid: str | None, source: str, locator: str) -> None:
        """Keep the first appid found by the strongest source (callers go strongest first)."""
        if appid and not self.appid:
            self.appid, self.appid_source = appid, source
            self.note("miniprogram", locator, f"appid {appid} taken from {source}")

    def add_api(self, value: str, locator: str) -> None:
        """An API identifier (``wx.createVKSession``, ``service.texttoaudio``, ``@kit.CoreSpeechKit``…)."""
        if len(self.apis) < _MAX_APIS:
            self.apis[(value, locator)] = None

    def add_library(self, lib: str, locator: str) -> None:
        """A bundled JS library (``tfjs``…) or npm package (``npm:<name>``)."""
        self.js_libraries[(lib, locator)] = None

    def add_plugin(self, alias: str, provider: str, version: str | None, locator: str) -> None:
        """A declared plugin (config), deduplicated on alias + provider."""
        if (alias, provider) not in self._plugin_keys:
            self._plugin_keys.add((alias, provider))
            self.plugins.append(Plugin(alias, provider, version, locator))

    # -- scanning --------------------------------------------------------------------------------------

    def scan_member(self, locator: str, m: MemberFile) -> bytes | None:
        """Sniff one member and record its evidence; returns the text bytes read (for config parsing)."""
        name = m.name
        base = posixpath.basename(name)
        ext = base.lower().rsplit(".", 1)[-1] if "." in base else ""
        head = m.prefix(4096)
        fmt = sniff(head, name, m.size)
        for lib in libraries_by_name(name):
            self.add_library(lib, locator)
        pkg = npm_package(name)
        if pkg and pkg not in self._npm_seen:
            self._npm_seen.add(pkg)
            self.add_library(f"npm:{pkg}", locator)
        bp = _BUNDLED_PLUGIN.match(name)
        if bp:
            self.plugin_refs.append((bp.group(1), locator))
        sha: str | None = None
        ent: float | None = None
        data: bytes | None = None
        if fmt in _TEXT_FORMATS or ext in _BINARY_TEXT_SUFFIXES:
            data = self._read_text(locator, m)
            if data is not None:
                if len(data) == m.size:
                    sha = hashlib.sha256(data).hexdigest()
                self.scan_text(data.decode("utf-8", "replace"), locator)
        elif fmt == "elf":
            raw = self._read_whole(locator, m)
            if raw is not None:
                sha = hashlib.sha256(raw).hexdigest()
                self._elf(raw, locator, name)
        elif fmt in MODEL_FORMATS or ext in MODEL_SUFFIXES or fmt == "wasm":
            raw = self._read_whole(locator, m) if m.size <= _HASH_MODEL_MAX else None
            if raw is not None:
                sha = hashlib.sha256(raw).hexdigest()
                ent = round(entropy(raw[:_ENTROPY_SAMPLE]), 3)
                if fmt == "wasm":
                    self._binary_banners(raw, locator)
            else:
                ent = round(entropy(m.prefix(_ENTROPY_SAMPLE)), 3)
            if fmt == "data" and ent is not None and ent > 7.5 and m.size >= 4096:
                fmt = "encrypted_blob"
        elif fmt == "data" and m.size >= 4096:
            ent = round(entropy(m.prefix(_ENTROPY_SAMPLE)), 3)
            if ent > 7.5:
                fmt = "encrypted_blob"
        self.entries.append(Entry(locator, m.size, fmt, m.csize, sha, ent))
        return data

    def scan_text(self, text: str, locator: str) -> None:
        """Strings of interest and code evidence of one text."""
        self.strings.scan_text(text, locator)
        for hit in code_evidence(text):
            if hit.kind == "api":
                self.add_api(hit.value, locator)
            elif hit.kind == "library":
                self.add_library(hit.value, locator)
            else:
                if hit.kind == "plugin_require":
                    self.add_api(f'requirePlugin("{hit.value}")', locator)
                if len(self.plugin_refs) < _MAX_REFS:
                    self.plugin_refs.append((_plugin_key(hit.value), locator))

    def _read_text(self, locator: str, m: MemberFile) -> bytes | None:
        cap = self.budget.limits.text_asset_bytes
        data = self._read(locator, m, cap)
        if data is not None and m.size > cap:
            self.note("read", locator, f"text of {m.size} bytes: only the first {cap} bytes were scanned")
        return data

    def _read_whole(self, locator: str, m: MemberFile) -> bytes | None:
        if m.size > self.budget.limits.max_entry_bytes:
            self.fail("limits", locator, f"entry of {m.size} bytes is over the per-entry limit; not read")
            return None
        return self._read(locator, m, m.size)

    def _read(self, locator: str, m: MemberFile, n: int) -> bytes | None:
        try:
            return m.read(n)
        except LimitExceeded as exc:
            self.error(exc, locator, "limits")
            if isinstance(exc, BudgetSpent):  # the whole artifact is over budget: stop
                raise
            return None
        except ReadError as exc:
            self.error(exc, locator)
            return None

    def _elf(self, data: bytes, locator: str, name: str) -> None:
        from scanner.elf import read_elf

        try:
            lib = read_elf(data, locator, name)
        except ReadError as exc:
            self.error(exc, locator, "elf")
            return
        self.native_libs.append(lib)
        if lib.strings:
            self.strings.scan_strings(lib.strings, locator)

    def _binary_banners(self, data: bytes, locator: str) -> None:
        for hit in code_evidence(data[: self.budget.limits.text_asset_bytes].decode("latin-1")):
            if hit.kind == "library":
                self.add_library(hit.value, locator)

    # -- result ----------------------------------------------------------------------------------------

    def resolved_plugins(self) -> tuple[Plugin, ...]:
        """Declared plugins plus references to undeclared ones (by provider appid or an unknown alias)."""
        out = list(self.plugins)
        aliases = {p.alias for p in out}
        providers = {p.provider for p in out if p.provider}
        for key, loc in self.plugin_refs:
            if not key or key in aliases or key in providers:
                continue
            if _APPID_LIKE.match(key):
                out.append(Plugin(key, key, None, loc))
                providers.add(key)
            else:  # an alias no config in the artifact declares (e.g. a subpackage scanned alone)
                out.append(Plugin(key, "", None, loc))
            aliases.add(key)
        return tuple(out)

    def freeze(self, art: Artifact) -> Inventory:
        """The immutable Inventory (notes and errors de-duplicated, order kept)."""
        strings = self.strings.result()
        art = replace(art, app_id=self.appid, version=self.version or art.version, name=self.name or art.name)
        manifest = None
        if self.appid or self.version or self.name or self.permissions:
            manifest = Manifest(
                package=self.appid,
                version_name=self.version,
                version_code=self.version_code,
                label=self.name,
                permissions=tuple(dict.fromkeys(self.permissions)),
            )
        mp = MiniProgram(
            platform=self.platform,
            appid=self.appid,
            name=self.name,
            pages=tuple(dict.fromkeys(self.pages)),
            plugins=self.resolved_plugins(),
            apis=tuple(Located(v, loc) for v, loc in self.apis),
            hosts=strings.hosts,
            js_libraries=tuple(Located(v, loc) for v, loc in self.js_libraries),
            encrypted=self.encrypted,
        )
        return Inventory(
            artifact=art,
            manifest=manifest,
            native_libs=tuple(self.native_libs),
            entries=tuple(self.entries),
            strings=strings,
            miniprogram=mp,
            notes=tuple(dict.fromkeys(self.notes)),
            errors=tuple(dict.fromkeys(self.errors)),
        )


def _plugin_key(ref: str) -> str:
    """``plugin://wx…/comp`` / ``requirePlugin("alias")`` argument → the alias or provider appid."""
    if "://" in ref:
        ref = ref.split("://", 1)[1]
    return ref.split("/", 1)[0]

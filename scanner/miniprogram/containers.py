"""One reader per container: wxapkg (plain, V1MMWX, Mac-tagged), TPKG, rpk, hap/.app, Nebula amr, source.

Each reader turns its container into :class:`MemberFile` values (slices of the memory map, zip members
through :class:`~scanner.zipread.ZipArchive`, ustar members as slices of the in-memory tar, or files of a
folder) and lets :class:`MiniAccumulator` scan them. Config files are parsed as they pass. Nothing is ever
written to disk; member names are labels in locators only.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from scanner.errors import BudgetSpent, LimitExceeded, ReadError
from scanner.miniprogram import config
from scanner.miniprogram.collect import MemberFile, MiniAccumulator
from scanner.miniprogram.errors import ContainerFormatError, MiniProgramError
from scanner.miniprogram.index import PackageIndex, display_name, name_problem
from scanner.miniprogram.ttpkg import parse_ttpkg
from scanner.miniprogram.wxapkg import (
    AES_LEN,
    APPID_RE,
    HEAD_PLAIN,
    MAC_TAG,
    Buffer,
    appids_in,
    decrypt_v1mmwx,
    head_ok,
    is_mac_tagged,
    is_v1mmwx,
    parse_wxapkg,
    recover_index_tail,
    recover_xor_key,
)
from scanner.model import Entry
from scanner.sniff import sniff
from scanner.zipread import Budget, Member, ZipArchive

_CHECK_EVERY = 256
_WECHAT_CONFIGS = ("app-config.json", "app.json", "game.json", "ext.json")
_VENDOR_DIRS = ("node_modules/", "miniprogram_npm/")


# -- member adapters ---------------------------------------------------------------------------------------


def slice_member(buf: Buffer, name: str, off: int, size: int, budget: Budget, locator: str) -> MemberFile:
    """A member stored uncompressed at ``buf[off:off+size]`` (wxapkg, TPKG, ustar)."""

    def read(n: int) -> bytes:
        k = min(n, size)
        budget.charge(k, locator)
        return bytes(buf[off : off + k])

    def prefix(n: int) -> bytes:
        return bytes(buf[off : off + min(n, size)])

    return MemberFile(name, size, size, read, prefix)


def zip_member(za: ZipArchive, m: Member, budget: Budget, locator: str) -> MemberFile:
    """A zip member; reads past ``n`` declared bytes only ever inflate a prefix."""

    def read(n: int) -> bytes:
        if m.usize <= n:
            return za.read(m, n)
        data = za.read_prefix(m, n)
        budget.charge(len(data), locator)
        return data

    return MemberFile(m.name, m.usize, m.csize, read, lambda n: za.read_prefix(m, n))


def file_member(path: Path, name: str, size: int, budget: Budget, locator: str) -> MemberFile:
    """A file of a source folder, read only as far as asked."""

    def read(n: int) -> bytes:
        with open(path, "rb") as f:
            data = f.read(min(n, size))
        budget.charge(len(data), locator)
        return data

    def prefix(n: int) -> bytes:
        with open(path, "rb") as f:
            return f.read(n)

    return MemberFile(name, size, size, read, prefix)


# -- flat indexes --------------------------------------------------------------------------------------------


def read_wxapkg(acc: MiniAccumulator, loc: str, buf: Buffer, appid_hint: str | None, path_hint: str) -> None:
    """A WeChat package: decrypt when needed, then scan every indexed file."""
    if is_v1mmwx(buf):
        acc.encrypted = True
        plain = _unlock(acc, loc, buf, appid_hint, path_hint)
        if plain is None:
            return
        buf = plain
    elif is_mac_tagged(buf):
        acc.encrypted = True
        total = len(buf) - len(MAC_TAG)
        body = bytes(buf[AES_LEN:total])  # a copy: views of the caller's mmap would block its closing
        acc.budget.charge(len(body), loc)
        why = "macOS-encrypted package (tag WAPkgEncryptedTagForMac; per-account runtime key, not derivable)"
        _partial(acc, loc, body, AES_LEN, total, why)
        return
    try:
        idx = parse_wxapkg(buf, loc, acc.budget.limits.max_entries)
    except MiniProgramError as exc:
        _unparsed(acc, loc, buf, exc)
        return
    _scan_index(acc, loc, buf, idx, "wxapkg", _wechat_config_in_package)


def read_ttpkg(acc: MiniAccumulator, loc: str, buf: Buffer) -> None:
    """A Douyin package."""
    try:
        idx = parse_ttpkg(buf, loc, acc.budget.limits.max_entries)
    except MiniProgramError as exc:
        _unparsed(acc, loc, buf, exc)
        return
    _scan_index(acc, loc, buf, idx, "ttpkg", _wechat_config_in_package)


def _unparsed(acc: MiniAccumulator, loc: str, buf: Buffer, exc: MiniProgramError) -> None:
    """An index that cannot be walked: record why, and still scan the raw bytes so evidence is not hidden."""
    acc.error(exc, loc)
    if len(buf) >= 64:
        scan_blob(acc, f"{loc}!<unparsed bytes 0-{len(buf)}>", buf)


def _scan_index(
    acc: MiniAccumulator,
    loc: str,
    buf: Buffer,
    idx: PackageIndex,
    stage: str,
    on_config: Callable[[MiniAccumulator, str, bytes, str], None],
) -> None:
    acc.budget.count_entries(len(idx.entries), loc)
    for p in idx.problems:
        acc.fail(stage, loc, p)
    for d in idx.deviations:
        acc.note(stage, loc, d)
    for i, e in enumerate(idx.entries):
        if i % _CHECK_EVERY == 0:
            acc.budget.check_time(loc)
        mloc = f"{loc}!{e.name}"
        data = acc.scan_member(mloc, slice_member(buf, e.name, e.offset, e.size, acc.budget, mloc))
        if data is not None:
            on_config(acc, e.name, data, mloc)


def _wechat_config_in_package(acc: MiniAccumulator, name: str, data: bytes, loc: str) -> None:
    rel = name.lstrip("/")
    if rel in _WECHAT_CONFIGS:
        _json(acc, loc, data, config.app_config)
    elif rel == "package.json":
        _json(acc, loc, data, config.package_json)


def _json(acc: MiniAccumulator, loc: str, data: bytes, parser: Callable[[MiniAccumulator, Any, str], Any]) -> Any:
    """Parse a JSON config and hand it to ``parser``; a bad file is recorded, never raised."""
    try:
        return parser(acc, config.load_json(data, loc), loc)
    except ReadError as exc:
        acc.error(exc, loc, "config")
        return None


# -- V1MMWX ---------------------------------------------------------------------------------------------------


def _unlock(acc: MiniAccumulator, loc: str, buf: Buffer, hint: str | None, path_hint: str) -> bytes | None:
    """Plaintext of a V1MMWX package, or None after scanning what is readable without the appid."""
    cands: dict[str, str] = {}
    if hint:
        cands[hint.strip()] = "the submission metadata (wxapkg_appid)"
    for text, src in ((loc, "the file's name or path"), (path_hint, "the file path")):
        for a in APPID_RE.findall(text or ""):
            cands.setdefault(a.lower(), src)
    failed: list[str] = []
    for appid, src in cands.items():
        if head_ok(buf, appid):
            return _decrypted(acc, loc, buf, appid, src, failed)
        failed.append(f"{appid} (from {src})")
    key, body = recover_xor_key(buf, loc)
    acc.budget.charge(len(body), loc)
    acc.note("decrypt", loc, f"V1MMWX body XOR key recovered without the appid: {chr(key)!r}")
    for appid in appids_in(body, key):
        if appid not in cands and head_ok(buf, appid):
            return _decrypted(acc, loc, buf, appid, "the package contents", failed)
    why = "PC-encrypted (V1MMWX) package and no appid decrypts it" + (
        f" (tried {', '.join(failed)})" if failed else " (none given: pass wxapkg_appid in the submission metadata)"
    )
    _partial(acc, loc, body, HEAD_PLAIN, HEAD_PLAIN + len(body), why)
    return None


def _decrypted(acc: MiniAccumulator, loc: str, buf: Buffer, appid: str, src: str, failed: list[str]) -> bytes:
    plain = decrypt_v1mmwx(buf, appid, loc)
    acc.budget.charge(len(plain), loc)
    acc.note("decrypt", loc, f"PC-encrypted (V1MMWX) package decrypted with appid {appid} from {src}")
    if failed:
        acc.note("decrypt", loc, f"appids that did not decrypt this package: {', '.join(failed)}")
    acc.set_appid(appid, f"{src} (verified by decryption)", loc)
    return plain


def _partial(acc: MiniAccumulator, loc: str, body: Buffer, locked: int, total: int, why: str) -> None:
    """Scan an encrypted package whose first ``locked`` plaintext bytes stay unreadable."""
    pi = recover_index_tail(body, locked, total)
    acc.budget.count_entries(len(pi.entries), loc)
    a, b = pi.unnamed
    if pi.index_end is not None:
        what = (
            f"the first {locked} bytes (header and the start of the index) stay encrypted; "
            f"{len(pi.entries)} files listed from the readable end of the index; the data of the files named in "
            f"the encrypted part (bytes {a}–{b}) was scanned without names. Partially scanned, not clean."
        )
    else:
        what = (
            f"the first {locked} bytes (header and index) stay encrypted and no index record is readable; "
            f"bytes {locked}–{total} were scanned as one unnamed blob. Partially scanned, not clean."
        )
    acc.fail("decrypt", loc, f"{why}: {what}")
    for i, e in enumerate(pi.entries):
        if i % _CHECK_EVERY == 0:
            acc.budget.check_time(loc)
        mloc = f"{loc}!{e.name}"
        data = acc.scan_member(mloc, slice_member(body, e.name, e.offset - locked, e.size, acc.budget, mloc))
        if data is not None:
            _wechat_config_in_package(acc, e.name, data, mloc)
    if b > a:
        scan_blob(acc, f"{loc}!<unnamed bytes {a}-{b}>", body[a - locked : b - locked])


def scan_blob(acc: MiniAccumulator, loc: str, blob: Buffer) -> None:
    """Scan an unnamed region for strings and code evidence, in chunks of the text cap."""
    cap = acc.budget.limits.text_asset_bytes
    for start in range(0, len(blob), cap):
        acc.budget.check_time(loc)
        chunk = bytes(blob[start : start + cap + 1024])
        acc.budget.charge(len(chunk), loc)
        acc.scan_text(chunk.decode("utf-8", "replace"), loc)
    acc.entries.append(Entry(loc, len(blob), sniff(bytes(blob[:4096]), "", len(blob)), len(blob)))


# -- zip based ------------------------------------------------------------------------------------------------


def open_zip(acc: MiniAccumulator, loc: str, buf: Buffer, names_checked: bool = False) -> ZipArchive:
    """A zip through the tolerant reader; its own notes (tricks, salvage) and faults are kept (``names_checked``:
    the caller reports bad member names one by one, so the zip's summary of them is left out)."""
    za = ZipArchive(buf, loc, acc.budget)
    acc.notes.extend(za.notes)
    acc.errors.extend(e for e in za.errors if not (names_checked and e is za.name_fault))
    if za.salvaged:
        acc.fail("zip", loc, "central directory is broken; entries were salvaged from local headers")
    return za


def _zip_members(acc: MiniAccumulator, za: ZipArchive) -> Iterable[tuple[Member, str, MemberFile]]:
    for i, m in enumerate(za.members):
        if i % _CHECK_EVERY == 0:
            acc.budget.check_time(za.locator)
        if m.is_dir:
            continue
        mloc = f"{za.locator}!{m.name}"
        yield m, mloc, zip_member(za, m, acc.budget, mloc)


def _sig_block_note(acc: MiniAccumulator, za: ZipArchive, magics: tuple[bytes, ...], what: str) -> None:
    window = bytes(za.buf[max(0, za.cd_offset - 64) : za.cd_offset])
    found = [m.decode() for m in magics if m in window]
    if found:
        acc.note("signature", za.locator, f"{what} signing block present ({found[0]}); certificates not read")
    else:
        acc.note("signature", za.locator, f"no {what} signing block before the central directory (unsigned?)")


def read_rpk(acc: MiniAccumulator, loc: str, buf: Buffer) -> None:
    """Quick App ``.rpk``: a zip with ``manifest.json`` and an APK-v2-style signing block."""
    za = open_zip(acc, loc, buf)
    _sig_block_note(acc, za, (b"RPK Sig Block 42",), "RPK")
    seen_manifest = False
    for m, mloc, mf in _zip_members(acc, za):
        data = acc.scan_member(mloc, mf)
        if m.name == "manifest.json" and data is not None:
            seen_manifest = True
            _json(acc, mloc, data, config.quickapp_manifest)
    if not seen_manifest:
        acc.fail("config", loc, "no readable manifest.json: not a complete Quick App package")


def read_hap(acc: MiniAccumulator, loc: str, buf: Buffer, depth: int = 0) -> None:
    """HarmonyOS ``.hap``/``.hsp`` (zip with module.json or config.json), or an ``.app`` pack of them."""
    za = open_zip(acc, loc, buf)
    if depth == 0 or za.cd_offset:
        _sig_block_note(acc, za, (b"HAP Sig Block 42", b"<hap sign block>"), "HAP")
    profiles: dict[str, tuple[bytes, str]] = {}
    pages_profile: str | None = None
    seen_module = False
    for m, mloc, mf in _zip_members(acc, za):
        if m.name.endswith((".hap", ".hsp")) and "/" not in m.name:
            _nested_hap(acc, za, m, mloc, depth)
            continue
        data = acc.scan_member(mloc, mf)
        if data is None:
            continue
        if m.name in ("module.json", "config.json"):
            seen_module = True
            pages_profile = _json(acc, mloc, data, config.hap_module) or pages_profile
        elif m.name == "pack.info":
            _json(acc, mloc, data, config.pack_info)
        elif m.name.startswith("resources/base/profile/") and m.name.endswith(".json"):
            profiles[posixpath.basename(m.name)[:-5]] = (data, mloc)
    if pages_profile and pages_profile in profiles:
        data, ploc = profiles[pages_profile]
        _json(acc, ploc, data, config.hap_pages)
    if not seen_module and not any(m.name.endswith((".hap", ".hsp")) for m in za.members):
        acc.fail("config", loc, "no module.json or config.json: not a complete HarmonyOS module")


def _nested_hap(acc: MiniAccumulator, za: ZipArchive, m: Member, mloc: str, depth: int) -> None:
    if depth + 1 > 1 or depth + 1 > acc.budget.limits.max_depth:
        acc.fail("limits", mloc, "nested module inside a nested module; not opened")
        return
    try:
        data = za.read(m)
    except LimitExceeded as exc:
        acc.error(exc, mloc, "limits")
        if isinstance(exc, BudgetSpent):  # the whole artifact is over budget: stop
            raise
        return
    except ReadError as exc:
        acc.error(exc, mloc, "zip")
        return
    acc.entries.append(Entry(mloc, m.usize, "zip", m.csize))
    try:
        read_hap(acc, mloc, data, depth + 1)
    except LimitExceeded:
        raise
    except ReadError as exc:
        acc.error(exc, mloc, "zip")


def read_amr(acc: MiniAccumulator, loc: str, buf: Buffer) -> None:
    """Alipay/mPaaS Nebula ``.amr``: zip of Manifest.xml, CERT.json and ``<uid>.tar`` holding the app files."""
    za = open_zip(acc, loc, buf)
    signed: set[str] = set()
    tars: list[tuple[Member, str]] = []
    for m, mloc, mf in _zip_members(acc, za):
        if m.name.endswith(".tar"):
            tars.append((m, mloc))
            continue
        data = acc.scan_member(mloc, mf)
        if data is None:
            continue
        if m.name == "Manifest.xml":
            try:
                config.nebula_manifest(acc, data, mloc)
            except ReadError as exc:
                acc.error(exc, mloc, "config")
        elif m.name == "CERT.json":
            cert = _json(acc, mloc, data, lambda _acc, cfg, _loc: cfg)
            if isinstance(cert, dict):
                signed.update(k for k in cert if isinstance(k, str))
    names = {m.name for m in za.members if not m.is_dir}
    unsigned = sorted(n for n in names - signed if n != "CERT.json")
    if "CERT.json" not in names:
        acc.note("signature", loc, "no CERT.json: the package is not signed")
    elif unsigned:
        acc.note("signature", loc, f"members without a CERT.json signature: {', '.join(unsigned[:20])}")
    if not tars:
        acc.fail("amr", loc, "no .tar member: the package carries no app files")
    for m, mloc in tars:
        try:
            data = za.read(m)
        except LimitExceeded as exc:
            acc.error(exc, mloc, "limits")
            if isinstance(exc, BudgetSpent):  # the whole artifact is over budget: stop
                raise
            continue
        except ReadError as exc:
            acc.error(exc, mloc, "zip")
            continue
        acc.entries.append(Entry(mloc, m.usize, "tar", m.csize))
        read_tar(acc, mloc, data)


def read_tar(acc: MiniAccumulator, loc: str, data: bytes) -> None:
    """A ustar archive held in memory; members are slices of it (``tarfile`` only parses the headers)."""
    try:
        tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    except Exception as exc:  # tarfile raises many types on garbage (TarError, EOFError, ValueError…)
        acc.error(ContainerFormatError(f"unreadable tar: {type(exc).__name__}: {exc}", loc, "tar"), loc)
        return
    members: list[tarfile.TarInfo] = []
    try:
        for ti in tf:
            acc.budget.count_entries(1, loc)
            members.append(ti)
    except LimitExceeded:
        raise
    except Exception as exc:
        acc.fail("tar", loc, f"tar damaged after {len(members)} members: {type(exc).__name__}: {exc}")
    sources = [ti.name for ti in members if ti.isreg()]
    root = source_root(sources) or ""
    for i, ti in enumerate(members):
        if i % _CHECK_EVERY == 0:
            acc.budget.check_time(loc)
        raw = ti.name.encode("utf-8", "surrogateescape")
        name, _ = display_name(raw)
        mloc = f"{loc}!{name}"
        if ti.issym() or ti.islnk():
            acc.fail("tar", mloc, f"link member pointing to {ti.linkname!r}; never followed or extracted")
            continue
        if not ti.isreg():
            if not ti.isdir():
                acc.fail("tar", mloc, f"special tar member (type {ti.type!r}); ignored")
            continue
        why = name_problem(raw, leading_slash=False)
        if why:
            acc.fail("tar", mloc, f"suspicious member name ({why}); never extracted")
        if ti.sparse is not None or ti.offset_data + ti.size > len(data):
            acc.fail("tar", mloc, "member data is sparse or runs past the end of the tar; not read")
            continue
        member = slice_member(data, name, ti.offset_data, ti.size, acc.budget, mloc)
        text = acc.scan_member(mloc, member)
        if text is not None:
            _source_config(acc, name, root, text, mloc)


# -- source (zip or folder) ---------------------------------------------------------------------------------


def source_root(names: list[str]) -> str | None:
    """The mini-program root inside a source tree (``""`` or ``"dir/"``) where app.json/game.json sits, shallowest first."""
    best: str | None = None
    for n in names:
        base = posixpath.basename(n)
        if base in ("app.json", "game.json") and not any(v in n for v in _VENDOR_DIRS):
            d = posixpath.dirname(n)
            if best is None or d.count("/") < best.count("/") or (d.count("/") == best.count("/") and len(d) < len(best)):
                best = d
    if best is None:
        return None
    return best + "/" if best else ""


def _source_config(acc: MiniAccumulator, name: str, root: str, data: bytes, loc: str) -> None:
    if any(v in name for v in _VENDOR_DIRS):
        return
    base = posixpath.basename(name)
    if name in (root + c for c in _WECHAT_CONFIGS) or name in ("hpmfile.json", "www/hpmfile.json"):
        if base == "hpmfile.json":
            _json(acc, loc, data, config.nebula_hpmfile)
        else:
            _json(acc, loc, data, config.app_config)
    elif base in ("project.config.json", "project.tt.json", "mini.project.json", "project.swan.json"):
        _json(acc, loc, data, config.project_config)
    elif base == "package.json":
        _json(acc, loc, data, config.package_json)


def source_platform(names: Iterable[str], appid: str | None) -> str:
    """Which platform a source tree targets: by appid prefix, else by template/project file types."""
    if appid and appid.startswith("wx"):
        return "wechat"
    if appid and appid.startswith("tt"):
        return "douyin"
    exts: set[str] = set()
    bases: set[str] = set()
    for n in names:
        base = posixpath.basename(n)
        bases.add(base)
        if "." in base:
            exts.add(base.rsplit(".", 1)[1].lower())
    if "ttml" in exts or "project.tt.json" in bases:
        return "douyin"
    if "axml" in exts or "mini.project.json" in bases:
        return "alipay"
    if "wxml" in exts or "project.config.json" in bases:
        return "wechat"
    return "unknown"


def read_source_zip(acc: MiniAccumulator, loc: str, buf: Buffer) -> None:
    """A zip of mini-program source (app.json + pages)."""
    za = open_zip(acc, loc, buf, names_checked=True)
    names = [m.name for m in za.members if not m.is_dir]
    found = source_root(names)
    root = found or ""
    for m, mloc, mf in _zip_members(acc, za):
        why = name_problem(m.name.encode("utf-8", "surrogateescape"), leading_slash=False)
        if why:
            acc.fail("zip", mloc, f"suspicious member name ({why}); never extracted")
        data = acc.scan_member(mloc, mf)
        if data is not None:
            _source_config(acc, m.name, root, data, mloc)
    if found is None:
        acc.fail("config", loc, "no app.json or game.json: not mini-program source")
    acc.platform = source_platform(names, acc.appid)


def read_source_folder(acc: MiniAccumulator, prefix: str, folder: Path, files: list[tuple[Path, str]]) -> None:
    """A folder of mini-program source; ``files`` are (path, posix name relative to the folder)."""
    names = [rel for _, rel in files]
    found = source_root(names)
    root = found or ""
    acc.budget.count_entries(len(files), prefix)
    for i, (path, rel) in enumerate(files):
        if i % _CHECK_EVERY == 0:
            acc.budget.check_time(prefix)
        mloc = f"{prefix}/{rel}"
        try:
            size = path.stat().st_size
        except OSError as exc:
            acc.fail("read", mloc, f"cannot stat: {exc.strerror or exc}")
            continue
        try:
            data = acc.scan_member(mloc, file_member(path, rel, size, acc.budget, mloc))
        except OSError as exc:
            acc.fail("read", mloc, f"cannot read: {exc.strerror or exc}")
            continue
        if data is not None:
            _source_config(acc, rel, root, data, mloc)
    if found is None:
        acc.fail("config", prefix, "no app.json or game.json: not mini-program source")
    acc.platform = source_platform(names, acc.appid)

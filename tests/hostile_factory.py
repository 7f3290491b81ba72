"""Hostile artifacts built in code, one function per trick, for the hostile-input suite and the batch test.

Every builder returns the bytes of one artifact (``CASES`` maps a file name to its builder and to the
error stages a scan of it must report). Nothing here is a real app or SDK: the bases are the code-built
fixtures of :mod:`rules.fixtures` and ``tests/mp_factory.py``, then broken on purpose:

- zip layer: nested zip bombs, a member whose *declared* size hides a bomb, two central-directory entries
  sharing one local entry, a member whose data spans the archive's own central directory (the archive
  "contains itself"), archives nested deeper than any limit, ``..``/absolute/drive names, symlink entries;
- DEX headers with huge counts and offsets outside the file; ELF files with bogus section and segment tables;
- binary-XML manifests replaced by text XML with an entity-expansion bomb;
- wxapkg/TPKG indexes whose counts and offsets run beyond the file;
- XML entity expansion (and an external entity) in the Alipay ``Manifest.xml`` and in registry ``.docx``/``.xlsx``.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

from mp_factory import build_amr, build_ttpkg, build_wxapkg, build_zip

from rules.fixtures import build_apk, build_dex, build_elf

_DATE = (2020, 1, 1, 0, 0, 0)
S_IFLNK = 0o120000


# --- a zip writer that lies on request ----------------------------------------------------------------


@dataclass
class RawEntry:
    """One member as written: ``stored`` are the bytes in the file; sizes and offsets can lie."""

    name: str
    stored: bytes
    method: int = 0
    usize: int | None = None  # declared uncompressed size (default: the real one)
    crc: int | None = None
    external_attr: int = 0
    create_system: int = 0  # 3 = Unix (external_attr high half is st_mode)
    flags: int = 0x800
    local_offset: int | None = None  # point the CD at another member's local header (index into entries)
    real_size: int = 0


def deflated(data: bytes) -> bytes:
    """Raw deflate (zip method 8) of ``data``."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def raw_zip(entries: list[RawEntry], extra_cd: list[tuple[str, int]] | None = None, tail: bytes = b"") -> bytes:
    """Local headers, then the central directory, then the EOCD. ``extra_cd`` adds CD-only entries
    ``(name, index of the entry whose local header they reuse)`` — overlapping members."""
    out = bytearray()
    offsets: list[int] = []
    for e in entries:
        offsets.append(len(out))
        nb = e.name.encode("utf-8")
        usize = e.usize if e.usize is not None else e.real_size or len(e.stored)
        crc = e.crc if e.crc is not None else 0
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, e.flags, e.method, 0, 0x21, crc, len(e.stored), usize,
                           len(nb), 0)
        out += nb + e.stored
    cd = bytearray()
    rows = [(e, offsets[e.local_offset] if e.local_offset is not None else offsets[i]) for i, e in enumerate(entries)]
    for name, idx in extra_cd or []:
        src = entries[idx]
        rows.append((RawEntry(name, src.stored, src.method, src.usize, src.crc, src.external_attr, src.create_system,
                              src.flags, real_size=src.real_size), offsets[idx]))
    for e, off in rows:
        nb = e.name.encode("utf-8")
        usize = e.usize if e.usize is not None else e.real_size or len(e.stored)
        crc = e.crc if e.crc is not None else 0
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, (e.create_system << 8) | 20, 20, e.flags, e.method, 0,
                          0x21, crc, len(e.stored), usize, len(nb), 0, 0, 0, 0, e.external_attr, off)
        cd += nb
    cd_off = len(out)
    out += cd
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(rows), len(rows), len(cd), cd_off, 0)
    return bytes(out) + tail


def entries_of(zip_bytes: bytes) -> list[RawEntry]:
    """The members of a well-formed zip as :class:`RawEntry` values (to rebuild it with tricks added)."""
    out = []
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as z:
        for info in z.infolist():
            data = z.read(info)
            stored = deflated(data) if info.compress_type == zipfile.ZIP_DEFLATED else data
            out.append(RawEntry(info.filename, stored, 8 if info.compress_type == zipfile.ZIP_DEFLATED else 0,
                                crc=zlib.crc32(data), real_size=len(data)))
    return out


def base_apk(**spec: object) -> bytes:
    """A small valid APK: a manifest, one DEX, a resource table (what every hostile APK starts from)."""
    return build_apk({"classes": ["com.hostile.Main"], **spec}, package="com.hostile.app")


def apk_with(extra: list[RawEntry], extra_cd: list[tuple[str, int]] | None = None, base: bytes | None = None) -> bytes:
    """The base APK plus ``extra`` members (and CD-only aliases)."""
    return raw_zip(entries_of(base or base_apk()) + extra, extra_cd)


def zip_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in files.items():
            info = zipfile.ZipInfo(n, _DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, d)
    return buf.getvalue()


# --- zip tricks -----------------------------------------------------------------------------------------


def nested_zip_bomb(levels: int = 5, fanout: int = 4, leaf_mib: int = 32) -> bytes:
    """42.zip in small: ``fanout`` copies of the level below, ``levels`` deep, over a ``leaf_mib`` MiB zero file."""
    layer = zip_of({"zeros.bin": bytes(leaf_mib << 20)})
    for i in range(levels):
        layer = zip_of({f"l{i}_{k}.zip": layer for k in range(fanout)})
    return apk_with([RawEntry("assets/nested.zip", layer)])


def declared_size_lie(mib: int = 64) -> bytes:
    """``classes2.dex`` declares 1 KiB but its deflate stream inflates to ``mib`` MiB of zeros."""
    return apk_with([RawEntry("classes2.dex", deflated(bytes(mib << 20)), 8, usize=1024)])


def overlapping_entries(copies: int = 1) -> bytes:
    """Central-directory entries ``classes2.dex``… that all point at the local header of ``classes.dex``."""
    ents = entries_of(base_apk())
    dex_i = next(i for i, e in enumerate(ents) if e.name == "classes.dex")
    return raw_zip(ents, [(f"classes{k + 2}.dex", dex_i) for k in range(copies)])


def self_containing() -> bytes:
    """The archive's last member is "itself": a stored ``assets/self.zip`` whose data runs over the rest of the
    file — the central directory and end record included — so opening that member finds this archive again."""
    ents = entries_of(base_apk())
    ents.append(RawEntry("assets/self.zip", b""))
    first = raw_zip(ents)
    # The data of the last member starts right after its local header and must cover everything after it.
    last_local = first.rfind(b"PK\x03\x04")
    data_start = last_local + 30 + len("assets/self.zip")
    cover = len(first) - data_start
    ents[-1] = RawEntry("assets/self.zip", b"", usize=cover)
    out = bytearray(raw_zip(ents))
    # csize in the local header and the CD entry: the member's data is the rest of the file.
    struct.pack_into("<I", out, last_local + 18, cover)
    cd = out.rfind(b"PK\x01\x02")
    struct.pack_into("<I", out, cd + 20, cover)
    return bytes(out)


def recursive_nesting(depth: int = 12) -> bytes:
    """An APK inside an APK inside an APK … ``depth`` times (each level a complete app)."""
    inner = base_apk()
    for i in range(depth):
        inner = apk_with([RawEntry(f"assets/level{i}.apk", inner)])
    return inner


def traversal_names() -> bytes:
    """Members named to escape an extraction directory: parent, absolute, drive and backslash paths, NUL."""
    return apk_with([
        RawEntry("../../../../tmp/synthreview-escape.so", b"\x7fELF" + bytes(60)),
        RawEntry("/etc/synthreview-abs", b"abs"),
        RawEntry("C:\\Windows\\synthreview.dll", b"MZ"),
        RawEntry("assets/..\\..\\win.txt", b"win"),
        RawEntry("assets/nul\x00.txt", b"nul"),
    ])


def symlink_entries() -> bytes:
    """Unix symlink members (S_IFLNK in the external attributes), pointing out of any extraction root."""
    return apk_with([
        RawEntry("lib/arm64-v8a/libevil.so", b"/etc/passwd", external_attr=(S_IFLNK | 0o777) << 16, create_system=3),
        RawEntry("assets/link", b"../../../../root/.ssh/id_rsa", external_attr=(S_IFLNK | 0o777) << 16,
                 create_system=3),
    ])


def salvage_bomb(entries: int = 12, mib: int = 64) -> bytes:
    """No central directory; data-descriptor members (sizes 0 in the local headers) each hiding a ``mib`` MiB
    deflate bomb, so finding where each entry ends means inflating it (CPU ~1000x the file)."""
    out = bytearray()
    for e in entries_of(base_apk()):
        nb = e.name.encode()
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, e.method, 0, 0x21, 0, len(e.stored),
                           e.real_size or len(e.stored), len(nb), 0) + nb + e.stored
    bomb = deflated(bytes(mib << 20))
    for i in range(entries):
        nb = b"assets/b%d.bin" % i
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0x08, 8, 0, 0x21, 0, 0, 0, len(nb), 0) + nb + bomb
        out += struct.pack("<IIII", 0x08074B50, 0, 0, 0)
    return bytes(out)


def eocd_only() -> bytes:
    """Nothing but an end-of-central-directory record claiming 65535 entries at offset 0."""
    return struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0x10000, 0, 0)


# --- DEX ------------------------------------------------------------------------------------------------


def _dex_with(patches: dict[int, int], base: bytes | None = None) -> bytes:
    raw = bytearray(base or build_dex(["com.hostile.Dex"], ["hello"], refs=["android.app.Activity"]))
    for off, val in patches.items():
        struct.pack_into("<I", raw, off, val & 0xFFFFFFFF)
    return bytes(raw)


def dex_huge_counts() -> bytes:
    """string_ids 0x7fffffff, type_ids 0xffffffff, class_defs 0x10000000 (file of a few hundred bytes)."""
    dex = _dex_with({0x38: 0x7FFFFFFF, 0x40: 0xFFFFFFFF, 0x60: 0x10000000})
    return apk_with([RawEntry("classes2.dex", dex)])


def dex_bad_offsets() -> bytes:
    """Three DEX files: tables past the end, a table inside the header, a string offset past the end."""
    good = build_dex(["com.hostile.Dex"], ["hello"], refs=["android.app.Activity"])
    past_end = _dex_with({0x3C: 0xFFFFFF00}, good)  # string_ids_off
    in_header = _dex_with({0x44: 0x10}, good)  # type_ids_off inside the header
    s_off = struct.unpack_from("<I", good, 0x3C)[0]
    bad_string = _dex_with({s_off: 0x7FFFFFF0}, good)  # first string_data_off
    bad_class = bytearray(good)
    c_off = struct.unpack_from("<I", good, 0x64)[0]
    struct.pack_into("<I", bad_class, c_off, 0xFFFF)  # class_def -> type index 65535
    return apk_with([RawEntry("classes2.dex", past_end), RawEntry("classes3.dex", in_header),
                     RawEntry("classes4.dex", bad_string), RawEntry("classes5.dex", bytes(bad_class))])


def many_strings_dex(n: int) -> bytes:
    """A valid DEX holding ``n`` distinct 8-character strings and nothing else (cheap to build, costly to hold)."""
    off_ids = 0x70
    off_data = off_ids + 4 * n
    data = b"".join(b"\x08s%07d\x00" % i for i in range(n))
    ids = array("I", range(off_data, off_data + 10 * n, 10))
    body = ids.tobytes() + data
    head = bytearray(b"dex\n035\x00" + bytes(24))
    head += struct.pack("<IIIIIIIIIIIIIIIIIIII", 0x70 + len(body), 0x70, 0x12345678, 0, 0, 0, n, off_ids,
                        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, len(data), off_data)
    return bytes(head) + body


def memory_hog(strings: int = 300_000, aliases: int = 60) -> bytes:
    """A ~1 MB APK whose central directory lists one string-heavy DEX ``aliases`` times (overlapping entries):
    each alias is read and decoded again, so the reader holds ``aliases`` string tables at once."""
    ents = entries_of(base_apk())
    dex = many_strings_dex(strings)
    ents.append(RawEntry("classes2.dex", deflated(dex), 8, crc=zlib.crc32(dex), real_size=len(dex)))
    return raw_zip(ents, [(f"classes{k + 3}.dex", len(ents) - 1) for k in range(aliases)])


# --- ELF ------------------------------------------------------------------------------------------------


def _elf_with(fields: dict[str, int]) -> bytes:
    raw = bytearray(build_elf("libbogus.so", ["Java_com_hostile_Native_run"], ["libc.so"]))
    layout = {"e_phoff": (0x20, "<Q"), "e_shoff": (0x28, "<Q"), "e_phentsize": (0x36, "<H"), "e_phnum": (0x38, "<H"),
              "e_shentsize": (0x3A, "<H"), "e_shnum": (0x3C, "<H"), "e_shstrndx": (0x3E, "<H")}
    for k, v in fields.items():
        off, fmt = layout[k]
        struct.pack_into(fmt, raw, off, v)
    return bytes(raw)


def elf_bogus_sections() -> bytes:
    """Section header table far past the end of the file, 65535 sections, string table index out of range."""
    so = _elf_with({"e_shoff": 0x7FFFFFFF0000, "e_shnum": 0xFFFF, "e_shstrndx": 0xFFFE})
    return apk_with([RawEntry("lib/arm64-v8a/libbogus.so", so)])


def elf_bogus_segments() -> bytes:
    """Program header table past the end of the file with 65535 entries of a wrong size."""
    so = _elf_with({"e_phoff": 0xFFFFFFFFFFFF0000, "e_phnum": 0xFFFF, "e_phentsize": 0x1234})
    return apk_with([RawEntry("lib/arm64-v8a/libbogus.so", so)])


def elf_non_utf8_names() -> bytes:
    """A library whose soname, DT_NEEDED entry and export carry bytes that are not UTF-8 (lief returns ``bytes``)."""
    so = bytearray(build_elf("libfuzz.so", ["Java_com_hostile_Native_run"], ["libc.so"], [".rodata"]))
    for needle, at in ((b"Java_com", 2), (b"libfuzz.so", 3), (b"libc.so", 1)):
        so[so.find(needle) + at] = 0xFF
    return apk_with([RawEntry("lib/arm64-v8a/libfuzz.so", bytes(so))])


# --- XML ------------------------------------------------------------------------------------------------

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
    + b"".join(b'<!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
    + b"]>\n"
)
XXE = b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'


def manifest_entity_bomb() -> bytes:
    """``AndroidManifest.xml`` as *text* XML whose label expands to 10^9 "lol"s."""
    xml = BILLION_LAUGHS + (b'<manifest package="com.hostile.app"><application android:label="&lol9;" '
                            b'xmlns:android="http://schemas.android.com/apk/res/android"/></manifest>')
    ents = [e for e in entries_of(base_apk()) if e.name != "AndroidManifest.xml"]
    return raw_zip([RawEntry("AndroidManifest.xml", xml), *ents])


def amr_entity_bomb() -> bytes:
    """An Alipay/mPaaS ``.amr`` whose ``Manifest.xml`` is a billion-laughs document."""
    data = bytearray(build_amr("2021000000000001", {"index.html": b"<html></html>"}))
    bomb = BILLION_LAUGHS + b"<package><uid>&lol9;</uid></package>"
    return _replace_member(bytes(data), "Manifest.xml", bomb)


def amr_external_entity() -> bytes:
    """``Manifest.xml`` with an external entity pointing at ``/etc/passwd`` (XXE)."""
    data = build_amr("2021000000000001", {"index.html": b"<html></html>"})
    return _replace_member(data, "Manifest.xml", XXE + b"<package><uid>&xxe;</uid></package>")


def amr_symlink_in_tar() -> bytes:
    """The app tar inside an ``.amr`` carries a symlink out of the package."""
    return build_amr("2021000000000001", {"index.html": b"<html></html>"}, links={"www/passwd": "/etc/passwd"})


def _replace_member(zip_bytes: bytes, name: str, data: bytes) -> bytes:
    files = {}
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as z:
        for info in z.infolist():
            files[info.filename] = z.read(info)
    files[name] = data
    return build_zip(files)


def source_zip_hostile() -> bytes:
    """A mini-program source zip: ``app.json`` nested 100k deep, plus ``..`` and absolute member names."""
    return raw_zip([
        RawEntry("app.json", b"[" * 100_000 + b"]" * 100_000),
        RawEntry("pages/index/index.js", b"Page({})"),
        RawEntry("../../escape.js", b"x"),
        RawEntry("/abs.js", b"y"),
    ])


# --- mini-program indexes ---------------------------------------------------------------------------------


def _wx() -> bytes:
    return build_wxapkg({"/app-config.json": b'{"pages":["pages/index/index"]}', "/app-service.js": b"App({});",
                         "/page-frame.html": b"<html></html>"})


def wxapkg_count_beyond() -> bytes:
    """The index claims 0x0fffffff files in a 200-byte package."""
    data = bytearray(_wx())
    struct.pack_into(">I", data, 14, 0x0FFFFFFF)
    return bytes(data)


def wxapkg_offsets_beyond() -> bytes:
    """Every index record points past the end of the file (and one wraps around 2^32)."""
    data = bytearray(_wx())
    pos = 18
    for k in range(3):
        nlen = struct.unpack_from(">I", data, pos)[0]
        struct.pack_into(">II", data, pos + 4 + nlen, 0xFFFFFF00 if k == 0 else len(data) + 100, 0x200)
        pos += 12 + nlen
    return bytes(data)


def ttpkg_count_beyond() -> bytes:
    """A Douyin TPKG whose file count runs far past the file."""
    data = bytearray(build_ttpkg({"app-config.json": b"{}", "app-service.js": b"App({})"}))
    struct.pack_into("<I", data, 12, 0x7FFFFFFF)
    return bytes(data)


# --- registry files (operator imports) ------------------------------------------------------------------


def _docx(document_xml: bytes) -> bytes:
    ct = (b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
          b'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
          b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/'
          b'document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.'
          b'main+xml"/></Types>')
    rels = (b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            b'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            b'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
    return zip_of({"[Content_Types].xml": ct, "_rels/.rels": rels, "word/document.xml": document_xml})


_W = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def docx_entity_bomb() -> bytes:
    """A registry ``.docx`` whose one table cell is ``&lol9;`` (10^9 characters if expanded)."""
    body = (b"<w:document " + _W + b"><w:body><w:tbl><w:tr><w:tc><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:tc>"
            b"</w:tr></w:tbl></w:body></w:document>")
    return _docx(BILLION_LAUGHS + body)


def docx_external_entity() -> bytes:
    """A registry ``.docx`` whose text is an external entity on ``/etc/passwd``."""
    body = (b"<w:document " + _W + b"><w:body><w:p><w:r><w:t>&xxe;</w:t></w:r></w:p></w:body></w:document>")
    return _docx(XXE + body)


def docx_zip_bomb(mib: int = 256) -> bytes:
    """A registry ``.docx`` whose ``word/document.xml`` inflates to ``mib`` MiB (a 256 KiB file)."""
    doc = b"<w:document " + _W + b"><w:body><w:p><w:r><w:t>" + b" " * (mib << 20) + b"</w:t></w:r></w:p></w:body></w:document>"
    return _docx(doc)


def docx_lying_size(mib: int = 256) -> bytes:
    """``word/document.xml`` declares 1 KiB in the central directory but inflates to ``mib`` MiB."""
    ents = entries_of(docx_external_entity())
    doc = b"<w:document " + _W + b"><w:body>" + b"<w:p/>" * ((mib << 20) // 6) + b"</w:body></w:document>"
    ents = [e if e.name != "word/document.xml" else RawEntry(e.name, deflated(doc), 8, usize=1024) for e in ents]
    return raw_zip(ents)


def xlsx_entity_bomb() -> bytes:
    """A registry ``.xlsx`` whose shared strings and sheet use a billion-laughs entity."""
    ct = (b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          b'<Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
          b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
          b'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
          b'spreadsheetml.worksheet+xml"/></Types>')
    rels = (b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            b'officeDocument" Target="xl/workbook.xml"/></Relationships>')
    wb = (b'<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
          b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="s" '
          b'sheetId="1" r:id="rId1"/></sheets></workbook>')
    wbrels = (b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
              b'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
              b'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
    sheet = BILLION_LAUGHS + (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                              b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
                              b"</sheetData></worksheet>")
    return zip_of({"[Content_Types].xml": ct, "_rels/.rels": rels, "xl/workbook.xml": wb,
                   "xl/_rels/workbook.xml.rels": wbrels, "xl/worksheets/sheet1.xml": sheet})


# --- the catalogue --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A hostile artifact and the stages its scan must name in an error (any one of them)."""

    build: Callable[[], bytes]
    stages: frozenset[str] = field(default_factory=frozenset)
    why: str = ""


CASES: dict[str, Case] = {
    "nested_zip_bomb.apk": Case(nested_zip_bomb, frozenset({"limits"}), "zips in zips past the depth limit"),
    "declared_size_lie.apk": Case(declared_size_lie, frozenset({"limits"}), "a bomb behind a small declared size"),
    "overlapping_entries.apk": Case(overlapping_entries, frozenset({"zip"}), "two CD entries, one local entry"),
    "self_containing.apk": Case(self_containing, frozenset({"zip"}), "a member whose data is the archive itself"),
    "salvage_bomb.apk": Case(salvage_bomb, frozenset({"zip", "limits"}), "no directory, bombs behind descriptors"),
    "eocd_only.zip": Case(eocd_only, frozenset({"sniff", "zip"}), "an end record and nothing else"),
    "empty.apk": Case(lambda: b"", frozenset({"sniff"}), "zero bytes"),
    "recursive_nesting.apk": Case(recursive_nesting, frozenset({"limits"}), "APK in APK, 12 deep"),
    "traversal_names.apk": Case(traversal_names, frozenset({"zip"}), "../, /abs, C:\\ and NUL names"),
    "symlink_entries.apk": Case(symlink_entries, frozenset({"zip"}), "S_IFLNK members"),
    "dex_huge_counts.apk": Case(dex_huge_counts, frozenset({"dex"}), "DEX counts in the billions"),
    "dex_bad_offsets.apk": Case(dex_bad_offsets, frozenset({"dex"}), "DEX tables and strings outside the file"),
    "elf_bogus_sections.apk": Case(elf_bogus_sections, frozenset({"elf"}), "section table outside the file"),
    "elf_bogus_segments.apk": Case(elf_bogus_segments, frozenset({"elf"}), "program headers outside the file"),
    "manifest_entity_bomb.apk": Case(manifest_entity_bomb, frozenset({"manifest"}), "text XML manifest, billion laughs"),
    "wxapkg_count_beyond.wxapkg": Case(wxapkg_count_beyond, frozenset({"wxapkg", "limits"}), "index count past EOF"),
    "wxapkg_offsets_beyond.wxapkg": Case(wxapkg_offsets_beyond, frozenset({"wxapkg"}), "records point past EOF"),
    "ttpkg_count_beyond.ttpkg": Case(ttpkg_count_beyond, frozenset({"ttpkg", "limits"}), "TPKG count past EOF"),
    "amr_entity_bomb.amr": Case(amr_entity_bomb, frozenset({"config"}), "billion laughs in Manifest.xml"),
    "amr_external_entity.amr": Case(amr_external_entity, frozenset({"config"}), "XXE in Manifest.xml"),
    "amr_symlink_in_tar.amr": Case(amr_symlink_in_tar, frozenset({"tar"}), "symlink in the app tar"),
    "source_zip_hostile.zip": Case(source_zip_hostile, frozenset({"config", "zip"}), "deep JSON and escaping names"),
}

#: Registry files an operator imports: refused (RegistryImportError) or read harmlessly, never expanded.
REGISTRY_CASES: dict[str, Callable[[], bytes]] = {
    "entity_bomb.docx": docx_entity_bomb,
    "external_entity.docx": docx_external_entity,
    "zip_bomb.docx": docx_zip_bomb,
    "lying_size.docx": docx_lying_size,
    "entity_bomb.xlsx": xlsx_entity_bomb,
}


def json_bomb(depth: int = 100_000) -> bytes:
    """Deeply nested JSON (registry imports and configs)."""
    return b"[" * depth + b"]" * depth



# --- mutation strategy for the fuzz tests ----------------------------------------------------------------


def mutations(bases: list[bytes], hot: list[tuple[int, int]] | None = None, order: str = "<"):  # type: ignore[no-untyped-def]
    """A hypothesis strategy: one of ``bases`` with 1–6 edits (byte sets, u32/u16 edge values, cuts, inserts,
    deletes, duplicated spans), biased to ``hot`` byte ranges (headers, tables) where parsers decide."""
    from hypothesis import strategies as st

    edge32 = [0, 1, 2, 0x70, 0x7F, 0x80, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]

    @st.composite
    def build(draw):  # type: ignore[no-untyped-def]
        i = draw(st.integers(0, len(bases) - 1))
        data = bytearray(bases[i])
        for _ in range(draw(st.integers(1, 6))):
            if not data:
                break
            spans = [(a, min(b, len(data))) for a, b in (hot or []) if a < len(data)]
            if spans and draw(st.booleans()):
                a, b = spans[draw(st.integers(0, len(spans) - 1))]
                pos = draw(st.integers(a, max(a, b - 1)))
            else:
                pos = draw(st.integers(0, len(data) - 1))
            op = draw(st.sampled_from(["byte", "u32", "u32", "u16", "cut", "insert", "delete", "dup"]))
            if op == "byte":
                data[pos] = draw(st.integers(0, 255))
            elif op == "u32":
                v = draw(st.sampled_from(edge32 + [len(data), len(data) - pos, pos]))
                data[pos : pos + 4] = struct.pack(order + "I", v & 0xFFFFFFFF)
            elif op == "u16":
                data[pos : pos + 2] = struct.pack(order + "H", draw(st.sampled_from([0, 1, 0x7FFF, 0xFFFF, 0xFFFE])))
            elif op == "cut":
                del data[pos:]
            elif op == "insert":
                data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
            elif op == "delete":
                del data[pos : pos + draw(st.integers(1, 256))]
            else:
                n = draw(st.integers(1, 512))
                data[pos:pos] = data[pos : pos + n]
        return bytes(data)

    return build()

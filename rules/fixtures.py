"""Build small, deterministic packages in code from a rule's fixture spec (APKs; wxapkg for ``mp`` specs).

Each rule's YAML carries a ``positive`` and a ``benign`` spec; ``synthreview rules test`` and the test suite
turn them into real bytes here — a DEX with the named classes and strings, ELF shared objects with the
named exports, a binary AndroidManifest.xml, a resources.arsc string pool, assets with the right magic —
and read them back through the real scanner, so a rule is proven against the same code path as a real app.
The writers emit only what the readers and androguard need; they are fixtures, not a toolchain.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import struct
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

_DATE = (2020, 1, 1, 0, 0, 0)

# ---------------------------------------------------------------------------------------------- DEX


def _uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _mutf8(s: str) -> bytes:
    out = bytearray()
    for ch in s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass"):
        cp = ord(ch)
        if cp == 0:
            out += b"\xc0\x80"
        elif cp < 0x80:
            out.append(cp)
        elif cp > 0xFFFF:
            hi, lo = struct.unpack(">HH", ch.encode("utf-16-be"))
            out += _cesu(hi) + _cesu(lo)
        else:
            out += ch.encode("utf-8", "surrogatepass")
    return bytes(out)


def _cesu(u: int) -> bytes:
    return bytes([0xE0 | (u >> 12), 0x80 | ((u >> 6) & 0x3F), 0x80 | (u & 0x3F)])


def _utf16_key(s: str) -> list[int]:
    b = s.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(b[i : i + 2], "big") for i in range(0, len(b), 2)]


def build_dex(classes: Sequence[str], strings: Sequence[str] = (), refs: Sequence[str] = ()) -> bytes:
    """A valid DEX 035 defining ``classes`` (dotted, extending Object), holding ``strings`` and referencing ``refs``."""
    descs = sorted({"L" + c.replace(".", "/") + ";" for c in classes})
    ref_descs = sorted({"L" + c.replace(".", "/") + ";" for c in refs} | {"Ljava/lang/Object;"})
    all_types = sorted(set(descs) | set(ref_descs), key=_utf16_key)
    pool = sorted(set(all_types) | set(strings), key=_utf16_key)
    sidx = {s: i for i, s in enumerate(pool)}
    tidx = {t: i for i, t in enumerate(sorted(all_types, key=lambda t: sidx[t]))}
    type_list = sorted(all_types, key=lambda t: sidx[t])
    n_s, n_t, n_c = len(pool), len(type_list), len(descs)
    off_strings = 0x70
    off_types = off_strings + 4 * n_s
    off_classes = off_types + 4 * n_t
    off_data = off_classes + 32 * n_c
    data = bytearray()
    str_offsets = []
    for s in pool:
        str_offsets.append(off_data + len(data))
        data += _uleb(len(_utf16_key(s))) + _mutf8(s) + b"\x00"
    while (off_data + len(data)) % 4:
        data.append(0)
    off_map = off_data + len(data)
    map_items = [
        (0x0000, 1, 0),
        (0x0001, n_s, off_strings),
        (0x0002, n_t, off_types),
        (0x0006, n_c, off_classes),
        (0x2002, n_s, off_data),
        (0x1000, 1, off_map),
    ]
    map_items = [m for m in map_items if m[1]]
    map_blob = struct.pack("<I", len(map_items)) + b"".join(struct.pack("<HHII", t, 0, n, o) for t, n, o in map_items)
    body = bytearray()
    body += b"".join(struct.pack("<I", o) for o in str_offsets)
    body += b"".join(struct.pack("<I", sidx[t]) for t in type_list)
    obj = tidx["Ljava/lang/Object;"]
    for d in descs:
        body += struct.pack("<IIIIIIII", tidx[d], 0x1, obj, 0, 0xFFFFFFFF, 0, 0, 0)
    body += data + map_blob
    file_size = 0x70 + len(body)
    header = bytearray(b"dex\n035\x00" + b"\x00" * 4 + b"\x00" * 20)
    header += struct.pack(
        "<IIIIIIIIIIIIIIIIIIII",
        file_size, 0x70, 0x12345678, 0, 0, off_map,
        n_s, off_strings if n_s else 0, n_t, off_types if n_t else 0,
        0, 0, 0, 0, 0, 0,
        n_c, off_classes if n_c else 0, len(data) + len(map_blob), off_data,
    )
    raw = bytearray(header + body)
    raw[12:32] = hashlib.sha1(raw[32:]).digest()
    raw[8:12] = struct.pack("<I", zlib.adler32(raw[12:]))
    return bytes(raw)


# ---------------------------------------------------------------------------------------------- ELF


def build_elf(soname: str, exports: Sequence[str] = (), needed: Sequence[str] = (), rodata: Sequence[str] = (),
              machine: int = 183) -> bytes:
    """A minimal ELF64 shared object (AArch64 by default) with a dynamic section, exports and .rodata strings."""
    dynstr = bytearray(b"\x00")

    def s(x: str) -> int:
        off = len(dynstr)
        dynstr.extend(x.encode() + b"\x00")
        return off

    needed_off = [s(n) for n in needed]
    soname_off = s(soname)
    sym_names = [s(e) for e in exports]
    text = b"\xc0\x03\x5f\xd6" * max(1, len(exports))  # AArch64 'ret' per symbol
    ro = b"\x00".join(x.encode() for x in rodata) + b"\x00"
    shstr = b"\x00.dynsym\x00.dynstr\x00.dynamic\x00.text\x00.rodata\x00.shstrtab\x00"
    names = {n: shstr.index(n.encode() + b"\x00") for n in (".dynsym", ".dynstr", ".dynamic", ".text", ".rodata", ".shstrtab")}
    ehdr_size, phdr_size, n_ph = 64, 56, 2
    off = ehdr_size + phdr_size * n_ph
    layout: dict[str, tuple[int, int]] = {}

    def place(name: str, size: int, align: int = 8) -> int:
        nonlocal off
        off = (off + align - 1) // align * align
        layout[name] = (off, size)
        off += size
        return layout[name][0]

    dynsym_size = 24 * (1 + len(exports))
    dyn_entries = [(1, o) for o in needed_off] + [(14, soname_off), (5, 0), (6, 0), (10, len(dynstr)), (11, 24), (0, 0)]
    place(".dynsym", dynsym_size)
    place(".dynstr", len(dynstr), 1)
    place(".text", len(text), 4)
    place(".rodata", len(ro), 1)
    place(".dynamic", 16 * len(dyn_entries))
    place(".shstrtab", len(shstr), 1)
    sh_off = (off + 7) // 8 * 8
    text_index = 4
    dynsym = bytearray(24)
    for i, name_off in enumerate(sym_names):
        dynsym += struct.pack("<IBBHQQ", name_off, (1 << 4) | 2, 0, text_index, layout[".text"][0] + 4 * i, 4)
    dyn_entries = [
        (t, layout[".dynstr"][0] if t == 5 else layout[".dynsym"][0] if t == 6 else v) for t, v in dyn_entries
    ]
    dynamic = b"".join(struct.pack("<qQ", t, v) for t, v in dyn_entries)
    blobs = {".dynsym": bytes(dynsym), ".dynstr": bytes(dynstr), ".text": text, ".rodata": ro, ".dynamic": dynamic,
             ".shstrtab": shstr}
    buf = bytearray(sh_off + 64 * 7)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\x00" * 8
    buf[0:64] = ident + struct.pack("<HHIQQQIHHHHHH", 3, machine, 1, 0, 64, sh_off, 0, 64, 56, n_ph, 64, 7, 6)
    end = layout[".shstrtab"][0]
    ph = struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, end, end, 0x1000)
    d_off, d_size = layout[".dynamic"]
    ph += struct.pack("<IIQQQQQQ", 2, 6, d_off, d_off, d_off, d_size, d_size, 8)
    buf[64 : 64 + len(ph)] = ph
    for name, (o, size) in layout.items():
        buf[o : o + size] = blobs[name]
    sections = [
        (0, 0, 0, 0, 0, 0, 0, 0, 0),
        (names[".dynsym"], 11, 2, layout[".dynsym"][0], *layout[".dynsym"], 2, 1, 24),
        (names[".dynstr"], 3, 2, layout[".dynstr"][0], *layout[".dynstr"], 0, 0, 0),
        (names[".dynamic"], 6, 3, layout[".dynamic"][0], *layout[".dynamic"], 2, 0, 16),
        (names[".text"], 1, 6, layout[".text"][0], *layout[".text"], 0, 0, 0),
        (names[".rodata"], 1, 2, layout[".rodata"][0], *layout[".rodata"], 0, 0, 0),
        (names[".shstrtab"], 3, 0, 0, *layout[".shstrtab"], 0, 0, 0),
    ]
    for i, (nm, typ, flags, addr, o, size, link, info, entsize) in enumerate(sections):
        buf[sh_off + 64 * i : sh_off + 64 * (i + 1)] = struct.pack(
            "<IIQQQQIIQQ", nm, typ, flags, addr, o, size, link, info, 8 if typ in (11, 6) else 1, entsize
        )
    return bytes(buf)


# ---------------------------------------------------------------------------------------------- AXML / ARSC

_ANDROID_NS = "http://schemas.android.com/apk/res/android"
_ATTR_IDS = {
    "label": 0x01010001, "name": 0x01010003, "value": 0x01010024, "versionCode": 0x0101021B,
    "versionName": 0x0101021C, "minSdkVersion": 0x0101020C, "targetSdkVersion": 0x01010270,
}


def _string_pool(strings: Sequence[str]) -> bytes:
    offsets, data = [], bytearray()
    for s in strings:
        offsets.append(len(data))
        u = s.encode("utf-16-le")
        data += struct.pack("<H", len(u) // 2) + u + b"\x00\x00"
    while len(data) % 4:
        data.append(0)
    header_size = 28
    start = header_size + 4 * len(strings)
    size = start + len(data)
    return struct.pack("<HHIIIIII", 0x0001, header_size, size, len(strings), 0, 0, start, 0) + b"".join(
        struct.pack("<I", o) for o in offsets) + bytes(data)


def build_axml(tree: tuple[str, list[tuple[str, str, Any]], list[Any]]) -> bytes:
    """Binary XML for a small element tree ``(tag, [(ns, attr, value)], children)``; ns 'android' or ''."""
    attr_names: list[str] = []
    others: list[str] = []

    def collect(node: Any) -> None:
        tag, attrs, children = node
        others.append(tag)
        for ns, name, value in attrs:
            if ns == "android":
                if name not in attr_names:
                    attr_names.append(name)
            else:
                others.append(name)
            if isinstance(value, str):
                others.append(value)
        for c in children:
            collect(c)

    collect(tree)
    pool = list(attr_names) + [x for x in dict.fromkeys(["android", _ANDROID_NS] + others) if x not in attr_names]
    idx = {s: i for i, s in enumerate(pool)}
    chunks = bytearray()
    resmap = b"".join(struct.pack("<I", _ATTR_IDS.get(n, 0x01010000)) for n in attr_names)
    chunks += struct.pack("<HHI", 0x0180, 8, 8 + len(resmap)) + resmap
    chunks += struct.pack("<HHIIIII", 0x0100, 16, 24, 1, 0xFFFFFFFF, idx["android"], idx[_ANDROID_NS])

    def emit(node: Any) -> None:
        tag, attrs, children = node
        body = struct.pack("<IIHHHHHH", 0xFFFFFFFF, idx[tag], 20, 20, len(attrs), 0, 0, 0)
        for ns, name, value in attrs:
            ns_i = idx[_ANDROID_NS] if ns == "android" else 0xFFFFFFFF
            if isinstance(value, bool):
                raw, typ, data = 0xFFFFFFFF, 0x12, 0xFFFFFFFF if value else 0
            elif isinstance(value, int):
                raw, typ, data = 0xFFFFFFFF, 0x10, value
            else:
                raw, typ, data = idx[value], 0x03, idx[value]
            body += struct.pack("<IIIHBBI", ns_i, idx[name], raw, 8, 0, typ, data)
        chunks.extend(struct.pack("<HHIII", 0x0102, 16, 16 + len(body), 1, 0xFFFFFFFF) + body)
        for c in children:
            emit(c)
        chunks.extend(struct.pack("<HHIIIII", 0x0103, 16, 24, 1, 0xFFFFFFFF, 0xFFFFFFFF, idx[tag]))

    emit(tree)
    chunks += struct.pack("<HHIIIII", 0x0101, 16, 24, 1, 0xFFFFFFFF, idx["android"], idx[_ANDROID_NS])
    sp = _string_pool(pool)
    return struct.pack("<HHI", 0x0003, 8, 8 + len(sp) + len(chunks)) + sp + bytes(chunks)


def build_arsc(strings: Sequence[str]) -> bytes:
    """A resources.arsc holding only a global string pool (what the scanner reads for UI texts)."""
    sp = _string_pool(list(strings))
    return struct.pack("<HHII", 0x0002, 12, 12 + len(sp), 0) + sp


# ---------------------------------------------------------------------------------------------- assets


def asset_bytes(path: str, fmt: str | None = None, text: str | None = None) -> bytes:
    """Deterministic content for an asset: the right magic for model formats, seeded noise for blobs."""
    if text is not None:
        return text.encode("utf-8")
    ext = path.lower().rsplit(".", 1)[-1]
    fmt = fmt or {"tflite": "tflite", "gguf": "gguf", "param": "ncnn_param", "onnx": "onnx", "mnn": "mnn",
                  "nb": "paddle_nb", "bundle": "encrypted_blob", "model": "encrypted_blob", "bin": "encrypted_blob",
                  "dat": "encrypted_blob", "lic": "text", "json": "json", "js": "js", "html": "html"}.get(ext, "text")
    rnd = random.Random(path)
    noise = bytes(rnd.getrandbits(8) for _ in range(8192))
    if fmt == "tflite":
        return struct.pack("<I", 0x1C) + b"TFL3" + noise
    if fmt == "gguf":
        return b"GGUF" + struct.pack("<I", 3) + noise
    if fmt == "ncnn_param":
        return b"7767517\n2 2\nInput data 0 1 data\n"
    if fmt == "onnx":
        return b"\x08\x07\x12\x07pytorch\x1a\x031.9" + noise
    if fmt == "mnn":
        return struct.pack("<I", 0x1C) + noise
    if fmt == "paddle_nb":
        return b"\x02\x00v2.13" + noise
    if fmt == "encrypted_blob":
        return noise
    if fmt == "json":
        return json.dumps({"asset": path}).encode()
    return f"asset {path}\n".encode()


# ---------------------------------------------------------------------------------------------- APK


def _manifest_tree(spec: Mapping[str, Any], package: str) -> Any:
    app_children: list[Any] = []
    for kind in ("activities", "services", "receivers", "providers"):
        tag = {"activities": "activity", "services": "service", "receivers": "receiver", "providers": "provider"}[kind]
        for name in spec.get(kind, []) or []:
            app_children.append((tag, [("android", "name", name)], []))
    meta = spec.get("meta_data") or {}
    if isinstance(meta, list):
        meta = {m: "x" for m in meta}
    for k, v in meta.items():
        app_children.append(("meta-data", [("android", "name", k), ("android", "value", str(v))], []))
    children: list[Any] = [("uses-sdk", [("android", "minSdkVersion", 21), ("android", "targetSdkVersion", 33)], [])]
    for p in spec.get("permissions", []) or []:
        children.append(("uses-permission", [("android", "name", p)], []))
    children.append(("application", [("android", "label", str(spec.get("label", "Fixture")))], app_children))
    return ("manifest", [("", "package", package), ("android", "versionCode", 1), ("android", "versionName", "1.0")], children)


def build_apk(spec: Mapping[str, Any], package: str = "com.fixture.app") -> bytes:
    """An APK (unsigned zip) built from a fixture spec (keys: see ``rules/loader.py`` ``_FIXTURE_KEYS``)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        def put(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, _DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)

        put("AndroidManifest.xml", build_axml(_manifest_tree(spec, package)))
        classes = list(spec.get("classes", []) or []) + [f"{package}.MainActivity"]
        put("classes.dex", build_dex(classes, list(spec.get("strings", []) or []), refs=["android.app.Activity"]))
        res = list(spec.get("resource_strings", []) or [])
        put("resources.arsc", build_arsc(res or ["Fixture"]))
        for lib in spec.get("native_libs", []) or []:
            if isinstance(lib, str):
                lib = {"name": lib}
            name = lib["name"]
            abi = lib.get("abi", "arm64-v8a")
            put(f"lib/{abi}/{name}", build_elf(name, lib.get("exports", []), lib.get("needed", ["libc.so"]),
                                               lib.get("strings", [])))
        for a in spec.get("assets", []) or []:
            if isinstance(a, str):
                a = {"path": a}
            put(a["path"], asset_bytes(a["path"], a.get("format"), a.get("text")))
    return buf.getvalue()


def build_fixture(spec: Mapping[str, Any]) -> tuple[str, bytes]:
    """``(file name, bytes)`` for a rule fixture spec: an APK, or a wxapkg when the spec has ``mp``."""
    if "mp" in spec:
        from rules.mpfixtures import build_mp_fixture

        return "fixture.wxapkg", build_mp_fixture(spec["mp"])
    return "fixture.apk", build_apk(spec)

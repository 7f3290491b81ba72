"""Property tests for the readers: mutated real and code-built inputs never raise anything but the module's own
error type, and memory stays within a small multiple of the input (tracemalloc peak).

Budget and seed are fixed (``max_examples`` per test, ``derandomize=True``, no example database), so CI runs the
same examples every time; the numbers are listed in the closing note of issue #9. Mutations are biased to the
bytes where parsers decide (zip end record and central directory, DEX header, ELF header and tables, AXML
chunk headers, wxapkg/TPKG index).
"""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hostile_factory import mutations, overlapping_entries, self_containing, symlink_entries
from mp_factory import build_ttpkg, build_wxapkg

from rules.fixtures import _manifest_tree, build_apk, build_arsc, build_axml, build_dex, build_elf
from scanner.aab import parse_proto_manifest
from scanner.dex import read_dex
from scanner.elf import ElfFormatError, read_elf
from scanner.errors import DexFormatError, ReadError
from scanner.manifest import ManifestError, arsc_strings, parse_manifest
from scanner.model import Inventory
from scanner.reader import read_bytes
from scanner.serialize import from_data, to_data
from scanner.zipread import Budget, Limits, ZipArchive

FIX = Path(__file__).resolve().parent / "fixtures"


def fuzz(n: int) -> settings:
    return settings(max_examples=n, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def bounded(fn: Callable[[], Any], size: int, factor: int, const: int) -> Any:
    """Run ``fn`` under tracemalloc and check the peak against ``factor * size + const``."""
    tracemalloc.start()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= factor * size + const, f"peak {peak} bytes for {size} input bytes"
    return out


def json_ok(value: Any) -> None:
    """Reader output is typed text and numbers: it serialises to JSON (``to_data``) and reads back the same."""
    text = json.dumps(to_data(value))
    assert to_data(from_data(type(value), json.loads(text))) == json.loads(text)


def _member(zip_bytes: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as z:
        return z.read(name)


# --- zip layer ------------------------------------------------------------------------------------------

ZIP_LIMITS = Limits(max_total_bytes=8 << 20, max_entry_bytes=2 << 20, ratio_floor=1 << 20, max_entries=5000,
                    max_depth=2, max_seconds=30)
ZIPS = [
    *(p.read_bytes() for p in sorted((FIX / "apk").glob("*.apk"))),
    (FIX / "apk/split/split_app.apks").read_bytes(),
    build_apk({"classes": ["com.fuzz.Z"], "native_libs": ["libz.so"], "assets": ["assets/m.tflite"]}),
    overlapping_entries(3),
    self_containing(),
    symlink_entries(),
]
def _zip_roundtrip(data: bytes) -> None:
    budget = Budget(ZIP_LIMITS)
    try:
        za = ZipArchive(data, "fuzz.zip", budget)
    except ReadError:
        return
    for m in za.members[:300]:
        assert len(za.read_prefix(m, 256)) <= 256
        try:
            out = za.read(m)
            assert len(out) <= ZIP_LIMITS.max_entry_bytes
        except ReadError:
            pass
    assert budget.bytes_used <= ZIP_LIMITS.max_total_bytes + ZIP_LIMITS.max_entry_bytes


@st.composite
def mutated_zip(draw):  # type: ignore[no-untyped-def]
    data = draw(mutations(ZIPS, hot=[(0, 128)]))
    # Half the time, also hit the central directory / end record region of this particular input.
    if data and draw(st.booleans()):
        buf = bytearray(data)
        tail = max(0, len(buf) - 1536)
        for _ in range(draw(st.integers(1, 4))):
            pos = draw(st.integers(tail, len(buf) - 1))
            v = draw(st.sampled_from([0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, len(buf), len(buf) - pos, 46, 30]))
            buf[pos : pos + 4] = struct.pack("<I", v & 0xFFFFFFFF)
        data = bytes(buf)
    return data


@fuzz(1200)
@given(mutated_zip())
def test_zip_layer_raises_only_read_errors(data: bytes) -> None:
    bounded(lambda: _zip_roundtrip(data), len(data), 8, ZIP_LIMITS.max_entry_bytes * 3 + (4 << 20))


# --- DEX ------------------------------------------------------------------------------------------------

DEXES = [p.read_bytes() for p in sorted((FIX / "dex").glob("*.dex"))] + [
    build_dex(["com.fuzz.A", "com.fuzz.B$Inner"], ["https://api.example.com/v1", "网信算备110108823483901230031号", "\U0001F600"],
              refs=["android.app.Activity"])
]


@fuzz(2000)
@given(mutations(DEXES, hot=[(0, 0x70), (0x70, 0x200)]))
def test_dex_raises_only_dex_errors(data: bytes) -> None:
    def run() -> None:
        try:
            d = read_dex(data, "fuzz.dex")
        except DexFormatError:
            return
        assert all(isinstance(c, str) for c in d.classes) and d.size == len(data)
        json_ok(d)

    bounded(run, len(data), 64, 1 << 20)


# --- ELF ------------------------------------------------------------------------------------------------

ELFS = [p.read_bytes() for p in sorted((FIX / "elf").glob("*.so"))] + [
    build_elf("libfuzz.so", ["Java_com_fuzz_N_run", "fuSetup"], ["libc.so", "liblog.so"], ["https://x.example.cn/a"])
]


def _elf_hot(data: bytes) -> list[tuple[int, int]]:
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    return [(0, 64), (64, 64 + 56 * 8), (shoff, shoff + 64 * 30)]


@fuzz(1000)
@given(mutations(ELFS, hot=[r for e in ELFS for r in _elf_hot(e)]))
def test_elf_raises_only_elf_errors(data: bytes) -> None:
    def run() -> None:
        try:
            lib = read_elf(data, "x.apk!lib/arm64-v8a/libfuzz.so", "lib/arm64-v8a/libfuzz.so")
        except ElfFormatError:
            return
        assert len(lib.exports) <= 20_000 and lib.abi == "arm64-v8a"
        json_ok(lib)  # lief hands back bytes for non-UTF-8 names: the Inventory must still be JSON

    bounded(run, len(data), 16, 4 << 20)


# --- manifests ------------------------------------------------------------------------------------------

_SPEC = {"permissions": ["android.permission.CAMERA"], "activities": [".Main"], "services": [".S"],
         "meta_data": {"k": "v"}, "label": "Fuzz"}
AXMLS = [build_axml(_manifest_tree(_SPEC, "com.fuzz.app"))] + [
    _member(p.read_bytes(), "AndroidManifest.xml") for p in sorted((FIX / "apk").glob("*.apk"))
]
ARSCS = [build_arsc(["Fuzz", "网信算备110108823483901230031号"])] + [
    _member(p.read_bytes(), "resources.arsc") for p in sorted((FIX / "apk").glob("*.apk"))
]


@fuzz(800)
@given(mutations(AXMLS, hot=[(0, 8), (8, 64), (64, 512)]), st.sampled_from(ARSCS))
def test_manifest_raises_only_manifest_errors(axml: bytes, arsc: bytes) -> None:
    def run() -> None:
        try:
            json_ok(parse_manifest(axml, arsc, "fuzz.apk!AndroidManifest.xml"))
        except ManifestError:
            pass

    bounded(run, len(axml) + len(arsc), 64, 8 << 20)


@fuzz(500)
@given(st.sampled_from(AXMLS), mutations(ARSCS, hot=[(0, 12), (12, 64), (64, 256)]))
def test_resource_table_raises_only_read_errors(axml: bytes, arsc: bytes) -> None:
    """A tampered resources.arsc under a real manifest (label resolution) and on its own (string pool)."""
    def run() -> None:
        try:
            parse_manifest(axml, arsc, "fuzz.apk!AndroidManifest.xml")
        except ManifestError:
            pass
        try:
            arsc_strings(arsc)
        except ReadError:
            pass

    bounded(run, len(axml) + len(arsc), 64, 8 << 20)


def _ld(field: int, payload: bytes) -> bytes:
    out = bytearray([(field << 3) | 2])
    n = len(payload)
    while True:
        out.append((n & 0x7F) | (0x80 if n >> 7 else 0))
        n >>= 7
        if not n:
            return bytes(out) + payload


def _proto_manifest() -> bytes:
    ns = b"http://schemas.android.com/apk/res/android"

    def attr(name: bytes, value: bytes, android: bool = True) -> bytes:
        return _ld(4, (_ld(1, ns) if android else b"") + _ld(2, name) + _ld(3, value))

    perm = _ld(5, _ld(1, _ld(3, b"uses-permission") + attr(b"name", b"android.permission.CAMERA")))
    app = _ld(5, _ld(1, _ld(3, b"application") + attr(b"label", b"Fuzz")
                     + _ld(5, _ld(1, _ld(3, b"activity") + attr(b"name", b".Main")))))
    root = _ld(3, b"manifest") + attr(b"package", b"com.fuzz.aab", android=False) + attr(b"versionName", b"1") + perm + app
    return _ld(1, root)


PROTOS = [_proto_manifest()]


@fuzz(800)
@given(st.one_of(mutations(PROTOS), st.binary(max_size=512)))
def test_proto_manifest_raises_only_manifest_errors(data: bytes) -> None:
    def run() -> None:
        try:
            json_ok(parse_proto_manifest(data, "fuzz.aab!base/manifest/AndroidManifest.xml"))
        except ManifestError:
            pass

    bounded(run, len(data), 64, 4 << 20)


def test_proto_manifest_nesting_bomb() -> None:
    """Elements nested far deeper than any manifest: refused, not a RecursionError."""
    el = _ld(3, b"x")
    for _ in range(5000):
        el = _ld(3, b"x") + _ld(5, _ld(1, el))
    try:
        parse_proto_manifest(_ld(1, el), "deep")
    except ManifestError:
        return
    raise AssertionError("a 5000-deep manifest was accepted")


# --- the whole reader door on packages --------------------------------------------------------------------

PACKAGES = [
    (FIX / "apk/plain_app.apk").read_bytes(),
    build_apk({"classes": ["com.fuzz.D"], "native_libs": [{"name": "libd.so", "exports": ["d_run"]}],
               "assets": [{"path": "assets/app.js", "text": "fetch('https://api.example.com')"}]}),
    build_wxapkg({"/app-config.json": b'{"pages":["pages/index/index"],"plugins":{"a":{"provider":"wx069ba97219f66d99"}}}',
                  "/app-service.js": b"wx.request({url:'https://a.example.cn'})", "/x.png": bytes(200)}),
    build_ttpkg({"app-config.json": b'{"appId":"tt0123456789abcdef01"}', "app-service.js": b"tt.request({})"}),
]


@fuzz(300)
@given(mutations(PACKAGES, hot=[(0, 64)], order=">"))
def test_read_bytes_never_raises(data: bytes) -> None:
    """``read_bytes`` is total: whatever the bytes, an Inventory comes back (errors inside, never raised)."""
    limits = Limits(max_total_bytes=16 << 20, max_entry_bytes=4 << 20, ratio_floor=1 << 20, max_seconds=30)
    inv = bounded(lambda: read_bytes("fuzz.bin", data, limits), len(data), 32, 24 << 20)
    assert isinstance(inv, Inventory)
    assert all(e.stage and isinstance(e.message, str) for e in inv.errors)
    json_ok(inv)  # what the store keeps and the worker sends back

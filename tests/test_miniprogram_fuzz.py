"""Property tests: mutated wxapkg / TPKG / V1MMWX packages never raise anything but the reader's own error.

Mutations hit real samples (when ../shared is present) and code-built fixtures (always), biased to the
header and index where parsers make decisions. Memory is checked with tracemalloc: the peak while
parsing stays within a small multiple of the input size.
"""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mp_factory import TEST_APPID, app_config, build_ttpkg, build_wxapkg, encrypt_v1mmwx, padding

from scanner.miniprogram import read_miniprogram
from scanner.miniprogram.errors import MiniProgramError, TtpkgFormatError, WxapkgDecryptError, WxapkgFormatError
from scanner.miniprogram.ttpkg import parse_ttpkg
from scanner.miniprogram.wxapkg import HEAD_PLAIN, parse_wxapkg, recover_index_tail, recover_xor_key
from scanner.model import Artifact, ArtifactKind
from scanner.zipread import Budget, Limits

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "samples" / "miniprogram"
FUZZ = settings(max_examples=300, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
FUZZ_SLOW = settings(max_examples=60, derandomize=True, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip

_JS = b'wx.createVKSession({track:{face:{}}});requirePlugin("WechatSI");fetch("https://api.example.com/x");'
BUILT_WX = build_wxapkg({
    "/app-config.json": app_config(plugins={"a": {"version": "1", "provider": "wx069ba97219f66d99"}}),
    "/app-service.js": _JS * 30,
    "/image/p.png": padding(600),
    "/m.onnx": b"\x08\x07\x12\x07pytorch" + bytes(300),
})  # fmt: skip
BUILT_TT = build_ttpkg({"app-config.json": b'{"appId":"tt0123456789abcdef01"}', "app-service.js": _JS * 10, "a.png": padding(300)})
BUILT_ENC = encrypt_v1mmwx(BUILT_WX, TEST_APPID)


def _sample(name: str) -> bytes | None:
    p = SHARED / name
    return p.read_bytes() if p.is_file() else None


WX_BASES = [b for b in (BUILT_WX, _sample("wechat/xia_calculator_plain_app.wxapkg"),
                        _sample("wechat/tracy_test_plain_app.wxapkg")) if b]  # fmt: skip
TT_BASES = [b for b in (BUILT_TT, _sample("douyin/xuedugu_038d897_TPKG_app.ttpkg.js")) if b]
ENC_BASES = [b for b in (BUILT_ENC, _sample("wechat/wankko17__packageA__V1MMWX_wx6e24c691f9a50e44.wxapkg")) if b]


@st.composite
def mutated(draw: st.DrawFn, bases: list[bytes], order: str, hot: int = 4096) -> bytes:
    """A base package with 1–6 edits: byte flips, u32 overwrites with edge values, cuts, inserts, deletes."""
    data = bytearray(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        limit = len(data) if draw(st.integers(0, 4)) == 0 else min(len(data), hot)
        pos = draw(st.integers(0, max(0, limit - 1)))
        op = draw(st.sampled_from(["byte", "u32", "u32", "cut", "insert", "delete"]))
        if op == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif op == "u32":
            v = draw(st.sampled_from([0, 1, 11, 12, 4096, 4097, 0x7FFFFFFF, 0xFFFFFFFF, len(data), len(data) + 1,
                                      pos, max(0, len(data) - pos)]))  # fmt: skip
            data[pos : pos + 4] = struct.pack(order + "I", v & 0xFFFFFFFF)
        elif op == "cut":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=32))
        else:
            del data[pos : pos + draw(st.integers(1, 64))]
    return bytes(data)


def _check_index(idx, size: int) -> None:
    """Whatever a parser returns obeys the ranges it promises."""
    for e in idx.entries:
        assert idx.index_end <= e.offset and e.offset + e.size <= size
        assert "\x00" not in e.name


@FUZZ
@given(mutated(WX_BASES, ">"))
def test_parse_wxapkg_only_raises_its_own_error(data: bytes) -> None:
    try:
        idx = parse_wxapkg(data, "fuzz")
    except WxapkgFormatError:
        return
    _check_index(idx, len(data))


@FUZZ
@given(mutated(TT_BASES, "<"))
def test_parse_ttpkg_only_raises_its_own_error(data: bytes) -> None:
    try:
        idx = parse_ttpkg(data, "fuzz")
    except TtpkgFormatError:
        return
    _check_index(idx, len(data))


@FUZZ
@given(mutated(ENC_BASES, ">", hot=1100), st.sampled_from([HEAD_PLAIN, 1024]))
def test_v1mmwx_recovery_only_raises_its_own_error(data: bytes, locked: int) -> None:
    try:
        _, body = recover_xor_key(data, "fuzz")
    except WxapkgDecryptError:
        return
    pi = recover_index_tail(body, locked, locked + len(body))
    for e in pi.entries:
        assert locked < (pi.index_end or 0) <= e.offset and e.offset + e.size <= locked + len(body)


@FUZZ
@given(st.binary(max_size=256))
def test_arbitrary_bytes(data: bytes) -> None:
    for fn, err in ((parse_wxapkg, WxapkgFormatError), (parse_ttpkg, TtpkgFormatError)):
        try:
            fn(b"\xbe" + data if fn is parse_wxapkg else b"TPKG" + data)
        except err:
            pass


def _read(data: bytes, kind: ArtifactKind) -> None:
    inv = read_miniprogram(Artifact("f", "", kind, len(data)), [("f.pkg", data)], Budget(Limits(max_seconds=30)), None)
    assert all(e.stage != "internal" for e in inv.errors), inv.errors


@FUZZ_SLOW
@given(mutated(WX_BASES + ENC_BASES, ">"))
def test_whole_wxapkg_reader_never_fails_internally(data: bytes) -> None:
    _read(data, ArtifactKind.WXAPKG)


@FUZZ_SLOW
@given(mutated(TT_BASES, "<"))
def test_whole_ttpkg_reader_never_fails_internally(data: bytes) -> None:
    _read(data, ArtifactKind.TTPKG)


def _peak(fn, *args) -> int:
    tracemalloc.start()
    try:
        fn(*args)
    except MiniProgramError:
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


@settings(max_examples=40, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(mutated(WX_BASES, ">"), mutated(TT_BASES, "<"))
def test_parse_memory_is_bounded_by_the_input(wx: bytes, tt: bytes) -> None:
    for data, fn in ((wx, parse_wxapkg), (tt, parse_ttpkg)):
        assert _peak(fn, data) <= 2 * len(data) + 256 * 1024


@pytest.mark.parametrize("count", [1_000, 50_000])
def test_many_tiny_entries_memory(count: int) -> None:
    """The worst case per input byte: empty-named 12-byte records, all pointing at the same byte."""
    body = b"x"
    index_len = 4 + 12 * count
    rec = struct.pack(">III", 0, 14 + index_len, 1)
    data = b"\xbe" + struct.pack(">III", 0, index_len, 1) + b"\xed" + struct.pack(">I", count) + rec * count + body
    peak = _peak(parse_wxapkg, data)
    assert peak <= 12 * len(data) + 256 * 1024  # ~9x: one small object per 12-byte record


@settings(max_examples=15, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(mutated(WX_BASES + ENC_BASES, ">"))
def test_whole_reader_memory_is_a_small_multiple(data: bytes) -> None:
    assert _peak(_read, data, ArtifactKind.WXAPKG) <= 6 * len(data) + 4 * 1024 * 1024

"""The compiled twins in ``scanner._speedups`` give exactly what their pure-Python specifications give.

Real DEX and resource tables (fixtures and, when ``../shared`` is present, every sample APK), hand-made edge
cases, and hypothesis mutations: same values, or the same error message, or both fail the same way.
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.fixtures import build_arsc, build_dex
from scanner import arsc as arsc_mod
from scanner import dex as dex_mod
from scanner import strings as strings_mod
from scanner.errors import DexFormatError

FIX = Path(__file__).resolve().parent / "fixtures"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "samples"


def fuzz(n: int) -> settings:
    return settings(max_examples=n, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def test_speedups_are_built() -> None:
    """``pip install`` builds the extension wherever a C compiler exists (CI does); a silent fallback would
    make the inventory several times slower without anyone noticing."""
    if os.environ.get("SYNTHREVIEW_PURE_PYTHON_OK") == "1":
        pytest.skip("pure-Python install accepted by SYNTHREVIEW_PURE_PYTHON_OK=1")
    assert dex_mod._c_dex_tables is not None
    assert arsc_mod._c_arsc_pool is not None
    assert strings_mod._c_host_candidates is not None
    if Path("/usr/include/isa-l/igzip_lib.h").exists():  # Debian's libisal-dev: setup.py links it
        import scanner._speedups as sp

        assert sp.HAVE_ISAL == 1


needs_c = pytest.mark.skipif(dex_mod._c_dex_tables is None, reason="scanner._speedups is not built")


def _dex_with_raw_strings(raws: list[bytes]) -> bytes:
    """A code-built DEX whose string table also holds ``raws`` exactly as stored (any bytes, MUTF-8 or not)."""
    data = bytearray(build_dex(["com.a.B"], strings=[f"s{i:02d}" for i in range(len(raws))]))
    header = dex_mod.read_header(bytes(data), "x")
    count, off = header.string_ids
    # Append new string data for the placeholders and point their string_ids at it.
    for i, raw in enumerate(raws):
        target = f"s{i:02d}".encode()
        for k in range(count):
            (p,) = struct.unpack_from("<I", data, off + 4 * k)
            if data[p + 1 : p + 1 + len(target) + 1] == target + b"\x00":
                struct.pack_into("<I", data, off + 4 * k, len(data))
                data += bytes([min(len(raw), 127)]) + raw + b"\x00"
                break
    struct.pack_into("<I", data, 0x20, len(data))
    return bytes(data)


def _all_apks() -> list[Path]:
    """The fixture APKs, and the sample APKs when ../shared is present."""
    apks = sorted((FIX / "apk").rglob("*.apk"))
    if SHARED.is_dir():
        apks += sorted((SHARED / "apk").rglob("*.apk"))
    return apks


def _both_dex(data: bytes) -> tuple[object, object]:
    """(compiled, pure) outcome for one DEX: the tables, or the error message."""
    def run(fn):  # type: ignore[no-untyped-def]
        try:
            header = dex_mod.read_header(data, "x")
        except DexFormatError as exc:
            return ("header", exc.message)
        try:
            return fn(data, header, "x")
        except DexFormatError as exc:
            return ("error", exc.message)

    return run(dex_mod.read_tables), run(dex_mod.read_tables_py)


def _sample_dex() -> list[tuple[str, bytes]]:
    out = [(p.name, p.read_bytes()) for p in sorted((FIX / "dex").glob("*.dex"))]
    apks = _all_apks()
    for apk in apks:
        try:
            with zipfile.ZipFile(apk) as z:
                for n in z.namelist():
                    if n.endswith(".dex"):
                        out.append((f"{apk.name}!{n}", z.read(n)))
        except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError, ValueError):
            continue
    return out


@needs_c
def test_dex_tables_equal_on_real_dex() -> None:
    cases = _sample_dex()
    assert len(cases) >= 3
    for name, data in cases:
        c, py = _both_dex(data)
        assert c == py, name


@needs_c
def test_dex_tables_mutf8_and_edge_strings() -> None:
    strings = ["", "a", "\x00nul", "é", "中文", "\U0001f600 emoji", "x" * 300, "Lbad;", "L;", "Lcom/测试/类;"]
    data = build_dex(["com.a.B", "com.测试.类", "a"], strings=strings, refs=["java.lang.Object"])
    c, py = _both_dex(data)
    assert c == py
    assert "\x00nul" in c[0] and "\U0001f600 emoji" in c[0]  # type: ignore[index]
    assert "com.测试.类" in c[1]  # type: ignore[index]


@needs_c
@fuzz(400)
@given(st.data())
def test_dex_tables_equal_on_mutations(data: st.DataObject) -> None:
    base = bytearray(build_dex(["com.a.B", "com.c.D"], strings=["http://x.cn/a", "中文", "\x00", "\U0001f600"],
                               refs=["java.lang.String"]))
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(base) - 1))
        base[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del base[data.draw(st.integers(0x70, len(base))):]
    c, py = _both_dex(bytes(base))
    assert c == py


@needs_c
@fuzz(200)
@given(st.lists(st.binary(max_size=12), max_size=30))
def test_dex_tables_equal_on_arbitrary_string_bytes(raws: list[bytes]) -> None:
    """Strings of any bytes (invalid UTF-8, lone surrogates, C0 80): the fallback decoder decides both ways."""
    c, py = _both_dex(_dex_with_raw_strings([r.replace(b"\x00", b"\xc0\x80") for r in raws]))
    assert c == py


def _sample_arsc() -> list[tuple[str, bytes]]:
    out = [("built-utf8", build_arsc(["", "a", "中文", "x" * 200, "\U0001f600"]))]
    apks = _all_apks()
    for apk in apks:
        try:
            with zipfile.ZipFile(apk) as z:
                if "resources.arsc" in z.namelist():
                    out.append((apk.name, z.read("resources.arsc")))
        except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError, ValueError):
            continue
    return out


def _both_pool(buf: bytes) -> tuple[object, object]:
    def run(compiled: bool) -> object:
        try:
            (_typ, hsize, _size) = struct.unpack_from("<HHI", buf, 0)
            return arsc_mod.pool_strings(buf, hsize, 1000, compiled=compiled)
        except (ValueError, struct.error) as exc:
            return ("error", type(exc).__name__)

    return run(True), run(False)


@needs_c
def test_arsc_pool_equal_on_real_tables() -> None:
    cases = _sample_arsc()
    for name, buf in cases:
        c, py = _both_pool(buf)
        assert c == py, name


def _utf16_pool(strings: list[str]) -> bytes:
    """A RES_TABLE whose global pool is UTF-16 (aapt's older layout), built here."""
    offs, blob = [], b""
    for s in strings:
        offs.append(len(blob))
        u = s.encode("utf-16-le")
        n = len(u) // 2
        blob += (struct.pack("<H", n) if n < 0x8000 else struct.pack("<HH", 0x8000 | (n >> 16), n & 0xFFFF)) + u + b"\0\0"
    blob += b"\0" * (-len(blob) % 4)
    hdr = 28
    pool = struct.pack("<HHIIIIII", 1, hdr, hdr + 4 * len(offs) + len(blob), len(offs), 0, 0, hdr + 4 * len(offs), 0)
    pool += struct.pack(f"<{len(offs)}I", *offs) + blob
    return struct.pack("<HHII", 2, 12, 12 + len(pool), 0) + pool


@needs_c
@fuzz(300)
@given(st.data())
def test_arsc_pool_equal_on_mutations(data: st.DataObject) -> None:
    strings = data.draw(st.lists(st.text(max_size=20), min_size=1, max_size=8))
    buf = bytearray(_utf16_pool(strings) if data.draw(st.booleans()) else build_arsc(strings))
    for _ in range(data.draw(st.integers(0, 6))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del buf[data.draw(st.integers(8, len(buf))):]
    c, py = _both_pool(bytes(buf))
    assert c == py


def _hosts(table: list[str], compiled: bool) -> tuple[str, ...]:
    saved = strings_mod._c_host_candidates
    if not compiled:
        strings_mod._c_host_candidates = None
    try:
        col = strings_mod.StringCollector()
        col.scan_strings(table, "x")
        return tuple(x.value for x in col.result().hosts)
    finally:
        strings_mod._c_host_candidates = saved


@needs_c
def test_host_candidates_positive_and_benign() -> None:
    table = ["api.faceunity.com", "sdk.example.cn", "a.b", "Api.Example.com", "x.com:8080", "example.com\n",
             "中文.com", "com.example.MainActivity", "tts.baidu.com", "-bad-.com", "foo.co"]
    assert _hosts(table, True) == _hosts(table, False)
    assert {"api.faceunity.com", "sdk.example.cn", "tts.baidu.com", "foo.co"} <= set(_hosts(table, True))
    assert "com.example.MainActivity" not in _hosts(table, True)


@needs_c
@fuzz(300)
@given(st.lists(st.one_of(
    st.text(alphabet="abcz09.-:A/é中\n", max_size=30),
    st.from_regex(r"[a-z0-9]{1,8}(\.[a-z0-9\-]{1,8}){1,3}\.(com|cn|ai|io)", fullmatch=True),
), max_size=40))
def test_host_candidates_equal_on_generated_tables(table: list[str]) -> None:
    assert _hosts(table, True) == _hosts(table, False)


@needs_c
@fuzz(300)
@given(st.text(alphabet="abc:/-029TC6pa.n中备案生成合创作\U0001f600\n", max_size=200), st.booleans())
def test_needles_mask_equal_to_in(text: str, ascii_only: bool) -> None:
    if ascii_only:
        text = text.encode("ascii", "ignore").decode()
    mask = strings_mod._c_needles_mask(text, strings_mod._GATES)
    assert mask == sum(1 << i for i, g in enumerate(strings_mod._GATES) if g in text)


@needs_c
@fuzz(200)
@given(st.lists(st.text(max_size=12), max_size=30))
def test_split_ascii_equal_to_python(table: list[str]) -> None:
    text, others = strings_mod._c_split_ascii(table, "\n")
    assert text == "\n".join(s for s in table if s.isascii())
    assert others == [s for s in table if not s.isascii()]
    assert text.isascii()


# -- native-thread reads: ZipArchive.read_async equals ZipArchive.read ------------------------------------

def _zip_of(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    import io

    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", method) as z:
        for n, d in members.items():
            z.writestr(n, d)
    return b.getvalue()


def _both_reads(buf: bytes) -> list[tuple[object, object]]:
    from scanner.zipread import Budget, Limits, ZipArchive

    out = []
    for mode in ("sync", "async"):
        try:
            za = ZipArchive(buf, "x", Budget(Limits()))
        except Exception as exc:  # noqa: BLE001 - the zip layer's own errors, compared by type
            out.append(("open", type(exc).__name__))
            continue
        res = []
        for m in za.members:
            try:
                res.append(za.read(m) if mode == "sync" else za.read_async(m).result())
            except Exception as exc:  # noqa: BLE001
                # the message names the library's own wording after this prefix (zlib or ISA-L)
                res.append((type(exc).__name__, getattr(exc, "message", str(exc))[:26]))
        out.append((res, [n.message for n in za.notes]))
    return list(zip(out[0:1], out[1:2]))


@needs_c
def test_read_async_equals_read_on_real_apks() -> None:
    from scanner.zipread import Budget, Limits, ZipArchive

    apks = _all_apks()
    checked = 0
    for apk in apks:
        buf = apk.read_bytes()
        try:
            za = ZipArchive(buf, "x", Budget(Limits()))
        except Exception:  # noqa: BLE001 - not a zip at all (LFS pointer); nothing to read
            continue
        for m in za.members:
            try:
                want = za.read(m)
            except Exception as exc:  # noqa: BLE001
                with pytest.raises(type(exc)):
                    za.read_async(m).result()
                continue
            assert za.read_async(m).result() == want, (apk.name, m.name)
            checked += 1
    assert checked > 20


@needs_c
@fuzz(300)
@given(st.data())
def test_read_async_equals_read_on_mutations(data: st.DataObject) -> None:
    payload = data.draw(st.sampled_from([b"", b"a" * 5000, bytes(range(256)) * 40, b"dex\n035\x00" + b"\x01" * 3000,
                                         __import__("random").Random(7).randbytes(40000)]))  # >16 KiB deflated: ISA-L
    buf = bytearray(_zip_of({"classes.dex": payload, "lib/arm64-v8a/libx.so": payload[::-1]},
                            data.draw(st.sampled_from([zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED]))))
    for _ in range(data.draw(st.integers(0, 6))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del buf[data.draw(st.integers(0, len(buf))):]
    sync, asyn = _both_reads(bytes(buf))[0]
    assert sync == asyn


@needs_c
def test_read_async_bomb_is_refused_and_mmap_closes(tmp_path: Path) -> None:
    """A member that lies about its size is cut at the ratio limit on the native thread too, and a job never
    collected still lets the artifact's mmap close."""
    import mmap
    import zlib

    from scanner.errors import LimitExceeded
    from scanner.zipread import Budget, Limits, ZipArchive

    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = c.compress(b"\0" * (64 * 1024**2)) + c.flush()
    good = _zip_of({"classes.dex": b"x"})
    # Patch the one member to carry the bomb's stream while declaring 1 byte (a lying header).
    z = zipfile.ZipFile(__import__("io").BytesIO(good))
    info = z.infolist()[0]
    lfh = good[info.header_offset : info.header_offset + 30 + len(info.filename)]
    import struct as _s

    lfh = bytearray(lfh)
    _s.pack_into("<II", lfh, 18, len(bomb), 1)
    body = bytes(lfh) + bomb
    cd = bytearray(good[z.start_dir : z.start_dir + 46 + len(info.filename)])
    _s.pack_into("<II", cd, 20, len(bomb), 1)
    eocd = _s.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(cd), len(body), 0)
    path = tmp_path / "bomb.apk"
    path.write_bytes(body + bytes(cd) + eocd)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        za = ZipArchive(buf, "x", Budget(Limits()))
        m = za.members[0]
        with pytest.raises(LimitExceeded):
            za.read(m)
        with pytest.raises(LimitExceeded):
            za.read_async(m).result()
        pending = za.read_async(m)
        pending.close()  # without this, closing the mmap would raise BufferError


@needs_c
@fuzz(400)
@given(st.data())
def test_inflate_prefix_equals_python_loop(data: st.DataObject) -> None:
    import random
    import zlib as _z

    from scanner.zipread import Budget, Limits, ZipArchive

    rnd = random.Random(data.draw(st.integers(0, 1000)))
    payload = data.draw(st.sampled_from([b"", b"x" * 9000, rnd.randbytes(3000), b"<?xml " + b"ab" * 4000]))
    c = _z.compressobj(data.draw(st.integers(1, 9)), _z.DEFLATED, -15)
    raw = bytearray(c.compress(payload) + c.flush())
    for _ in range(data.draw(st.integers(0, 4))):
        if raw:
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del raw[data.draw(st.integers(0, len(raw))):]
    buf = _zip_of({"a.bin": b"placeholder"})
    za = ZipArchive(buf, "x", Budget(Limits()))
    m = za.members[0]
    start = za._data_offset(m)
    # splice the drawn stream in as the member's data (method 8), then compare both loops on it
    body = buf[:start] + bytes(raw)
    za2 = ZipArchive.__new__(ZipArchive)
    za2.__dict__.update(za.__dict__)
    za2.buf, za2.size = body, len(body)
    from dataclasses import replace as _replace

    m2 = _replace(m, method=8, csize=len(raw))
    n = data.draw(st.sampled_from([0, 1, 64, 1024, 4096]))
    assert za2.read_prefix(m2, n) == za2.read_prefix(m2, n, compiled=False)


@needs_c
def test_sha256_fd_job_equals_hashlib(tmp_path: Path) -> None:
    import hashlib
    import random

    import scanner._speedups as sp

    for size in (0, 1, (1 << 20) - 1, (1 << 20) + 7, 3 << 20):
        p = tmp_path / f"f{size}"
        data = random.Random(size).randbytes(size)
        p.write_bytes(data)
        with open(p, "rb") as f:
            assert sp.sha256_fd_job(f.fileno()).result()[1] == hashlib.sha256(data).hexdigest()
    with pytest.raises(OSError):
        sp.sha256_fd_job(-1).result()
    f = open(tmp_path / "f1", "rb")  # noqa: SIM115 - closed on purpose before the job reads it
    fd = f.fileno()
    f.close()
    with pytest.raises(OSError):
        sp.sha256_fd_job(fd).result()


@needs_c
@fuzz(200)
@given(st.text(alphabet="ab:/-1x", max_size=60), st.lists(st.text(alphabet="ab:/-1x", min_size=1, max_size=4),
                                                          min_size=1, max_size=10))
def test_needles_mask_any_needles(text: str, needles: list[str]) -> None:
    mask = strings_mod._c_needles_mask(text, tuple(needles))
    assert mask == sum(1 << i for i, g in enumerate(needles) if g in text)
    assert strings_mod._c_needles_mask("x\ud800y", ("x",)) == -1  # lone surrogate: the caller uses ``in``


# -- certificate names: the cryptography fast path equals androguard/asn1crypto's rendering --------------

def _self_signed(attrs: list[tuple[str, str]], serial: int = 0x1234) -> bytes:
    import datetime

    from cryptography import x509 as cx
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ObjectIdentifier

    key = ec.generate_private_key(ec.SECP256R1())
    name = cx.Name([cx.NameAttribute(ObjectIdentifier(o), v) for o, v in attrs])
    now = datetime.datetime(2026, 1, 1)
    cert = (cx.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def test_cert_fast_path_equals_asn1crypto() -> None:
    from scanner import signing

    plain = _self_signed([("2.5.4.6", "CN"), ("2.5.4.10", "示例科技有限公司"), ("2.5.4.3", "Demo"),
                          ("1.2.840.113549.1.9.1", "dev@example.cn")])
    fast = signing._cert_fast(plain, "v2")
    assert fast is not None and fast == signing._cert_asn1crypto(plain, "v2")
    assert fast.organization == "示例科技有限公司" and fast.subject.startswith("C=CN, O=")
    # anything unusual goes the asn1crypto way, with the same result as before
    for odd in ([("1.2.3.4", "x"), ("2.5.4.3", "Demo")],  # an attribute androguard has no label for
                [("2.5.4.11", "a"), ("2.5.4.11", "b")]):  # a repeated attribute (asn1crypto lists it)
        der = _self_signed(odd)
        assert signing._cert_fast(der, "v1") is None
        assert signing._cert(der, "v1") == signing._cert_asn1crypto(der, "v1")


def test_cert_fast_path_equals_asn1crypto_on_samples() -> None:
    from asn1crypto import cms

    from scanner import signing

    apks = _all_apks()
    seen = 0
    for apk in apks:
        try:
            z = zipfile.ZipFile(apk)
            blobs = [z.read(n) for n in z.namelist() if n.upper().endswith((".RSA", ".DSA", ".EC"))]
        except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError, ValueError):
            continue
        for blob in blobs:
            for c in cms.ContentInfo.load(blob)["content"]["certificates"]:
                der = c.chosen.dump()
                fast = signing._cert_fast(der, "v1")
                assert fast is None or fast == signing._cert_asn1crypto(der, "v1"), apk.name
                seen += 1
    assert seen >= 1


_FUZZ_CERT: list[bytes] = []


@fuzz(150)
@given(st.data())
def test_cert_fast_path_agrees_when_both_parse(data: st.DataObject) -> None:
    from scanner import signing

    if not _FUZZ_CERT:  # one certificate per session: ECDSA signatures differ run to run
        _FUZZ_CERT.append(_self_signed([("2.5.4.6", "CN"), ("2.5.4.3", "Demo")]))
    der = bytearray(_FUZZ_CERT[0])
    for _ in range(data.draw(st.integers(1, 4))):
        der[data.draw(st.integers(0, len(der) - 1))] = data.draw(st.integers(0, 255))
    fast = signing._cert_fast(bytes(der), "v1")
    slow = signing._cert_asn1crypto(bytes(der), "v1")
    if fast is not None and slow is not None:
        assert fast == slow


@needs_c
def test_sha256_buf_job_and_digest_beside() -> None:
    import hashlib
    import random

    import scanner._speedups as sp
    from scanner.apk import digest_beside

    for size in (0, 5, 1 << 20):
        data = random.Random(size).randbytes(size)
        assert sp.sha256_buf_job(data).result()[1] == hashlib.sha256(data).hexdigest()
        d = digest_beside(data)
        assert d() == d() == hashlib.sha256(data).hexdigest()
    with pytest.raises(TypeError):
        sp.sha256_buf_job("not bytes")


@needs_c
def test_read_async_digest_follows_data_and_mmap_closes_early(tmp_path: Path) -> None:
    """result() hands the bytes over as soon as they are inflated and lets go of the artifact's buffer (its
    mmap can close while the hash still runs); digest() then gives their SHA-256."""
    import hashlib
    import mmap
    import random

    from scanner.zipread import Budget, Limits, ZipArchive

    payload = random.Random(3).randbytes(3 << 20)
    path = tmp_path / "a.apk"
    path.write_bytes(_zip_of({"classes.dex": payload}))
    with open(path, "rb") as f:
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        za = ZipArchive(buf, "x", Budget(Limits()))
        job = za.read_async(za.members[0])
        data = job.result()
        buf.close()  # would raise BufferError if the job still held the buffer
    assert data == payload
    assert job.digest() == hashlib.sha256(payload).hexdigest()
    assert job.digest() is None  # collected once


# -- ELF exports: the .dynsym reader equals lief's Symbol.exported --------------------------------------

def _elf_cases() -> list[tuple[str, bytes]]:
    from rules.fixtures import build_elf

    out = [(p.name, p.read_bytes()) for p in sorted((FIX / "elf").glob("*.so"))]
    out.append(("built", build_elf("libx.so", exports=["Java_com_a_B_c", "ff_init", "ff_init"], needed=["libc.so"])))
    if SHARED.is_dir():
        out += [(p.name, p.read_bytes()) for p in sorted(SHARED.rglob("*.so"))]
        for apk in sorted((SHARED / "apk").rglob("*.apk")):
            try:
                z = zipfile.ZipFile(apk)
                out += [(f"{apk.name}!{n}", z.read(n)) for n in z.namelist() if n.endswith(".so")]
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError, ValueError):
                continue
    return out


def _both_exports(data: bytes) -> tuple[object, object]:
    import lief

    from scanner import elf

    if data[:4] != b"\x7fELF":
        return None, None  # read_elf refuses it before lief
    try:
        elf.check_tables(data, "x")
    except Exception:  # noqa: BLE001 - read_elf refuses it before lief
        return None, None
    try:
        full = lief.ELF.parse(data, elf._CONFIG)
        nosym = lief.ELF.parse(data, elf._CONFIG_NOSYM)
    except Exception:  # noqa: BLE001 - lief refuses it: read_elf reports that, nothing to compare
        return None, None
    if full is None or nosym is None:
        return None, None
    return elf.fast_exports(nosym, data), elf.lief_exports(full)


@needs_c
def test_elf_exports_equal_lief_on_real_libraries() -> None:
    fast_used = 0
    for name, data in _elf_cases():
        fast, slow = _both_exports(data)
        if fast is not None:
            fast_used += 1
            assert fast == slow, name
    assert fast_used >= 4


@needs_c
@fuzz(300)
@given(st.data())
def test_elf_exports_equal_lief_on_mutations(data: st.DataObject) -> None:
    cases = _ELF_BASES or _ELF_BASES.extend(d for _, d in _elf_cases()[:4]) or _ELF_BASES
    buf = bytearray(data.draw(st.sampled_from(cases)))
    for _ in range(data.draw(st.integers(1, 8))):
        buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    fast, slow = _both_exports(bytes(buf))
    if fast is not None:
        assert fast == slow


_ELF_BASES: list[bytes] = []


@needs_c
@fuzz(300)
@given(st.binary(max_size=3000))
def test_entropy_bit_exact(data: bytes) -> None:
    from scanner import sniff

    assert sniff._c_entropy(data) == sniff.entropy_py(data)


@needs_c
@fuzz(200)
@given(st.lists(st.one_of(st.text(max_size=6), st.just("@string/x"), st.just("res/a.png"), st.just("re")),
                max_size=30), st.integers(0, 8))
def test_short_strings_equal_python(strings: list[str], maxlen: int) -> None:
    import scanner._speedups as sp

    expect = list(dict.fromkeys(s for s in strings if s and len(s) <= maxlen and s[0] != "@" and not s.startswith("res/")))
    assert sp.short_strings(strings, maxlen) == expect


def _mutf8(text: str) -> bytes:
    """DEX's Modified UTF-8: C0 80 for NUL, astral characters as two 3-byte surrogates."""
    out = bytearray()
    for ch in text:
        cp = ord(ch)
        if cp == 0:
            out += b"\xc0\x80"
        elif cp >= 0x10000:
            hi, lo = 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF)
            out += chr(hi).encode("utf-8", "surrogatepass") + chr(lo).encode("utf-8", "surrogatepass")
        else:
            out += ch.encode("utf-8", "surrogatepass")
    return bytes(out)


@needs_c
@fuzz(300)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8)
                | st.lists(st.sampled_from(["\U0001f600", "\x00", "a", "中", "\ud83d"]), max_size=6).map("".join),
                max_size=12))
def test_mutf8_strings_decode_like_the_spec(texts: list[str]) -> None:
    """Emoji (surrogate pairs), NULs and lone surrogates written as DEX writes them: the compiled decoder
    and decode_mutf8 agree, and real pairs come back as the characters."""
    raws = [_mutf8(t) for t in texts]
    for raw, t in zip(raws, texts):
        if "\ud83d" not in t:
            assert dex_mod.decode_mutf8(raw) == t
    c, py = _both_dex(_dex_with_raw_strings(raws))
    assert c == py


def _zip_view(buf: bytes, compiled: bool) -> object:
    from scanner import zipread
    from scanner.zipread import Budget, Limits, ZipArchive

    saved = zipread._c_cd_records
    if not compiled:
        zipread._c_cd_records = None
    try:
        za = ZipArchive(buf, "x", Budget(Limits()))
    except Exception as exc:  # noqa: BLE001 - compared by type and message
        return type(exc).__name__, getattr(exc, "message", str(exc))
    finally:
        zipread._c_cd_records = saved
    return za.members, za.notes, za.errors, za.salvaged, za.cd_offset


@needs_c
def test_cd_records_equal_python_on_real_archives() -> None:
    apks = _all_apks()
    for apk in apks:
        buf = apk.read_bytes()
        assert _zip_view(buf, True) == _zip_view(buf, False), apk.name


@needs_c
@fuzz(400)
@given(st.data())
def test_cd_records_equal_python_on_mutations(data: st.DataObject) -> None:
    names = data.draw(st.lists(st.sampled_from(["a.txt", "../x", "é.png", "res/a.xml", "/abs", "c:x", "d/"]),
                               min_size=1, max_size=6, unique=True))
    buf = bytearray(_zip_of({n: n.encode() * 3 for n in names}))
    cd = buf.rfind(b"PK\x01\x02", 0, len(buf))
    for _ in range(data.draw(st.integers(0, 6))):
        lo = data.draw(st.sampled_from([0, max(0, cd - 60)]))
        buf[data.draw(st.integers(lo, len(buf) - 1))] = data.draw(st.integers(0, 255))
    assert _zip_view(bytes(buf), True) == _zip_view(bytes(buf), False)


# -- rule matching: the compiled presence pass equals the Aho-Corasick loop ------------------------------

def _hits(inv: object, compiled: bool) -> tuple[dict[object, object], dict[object, int]]:
    import dataclasses

    from rules.loader import default_pack
    from rules.matcher import collect_hits, index_for

    idx = index_for(default_pack())
    if not compiled:
        idx = dataclasses.replace(idx, str_set=None)
    h = collect_hits(inv, idx)  # type: ignore[arg-type]
    return dict(h.first), dict(h.count)


@needs_c
def test_terms_present_matches_automaton_on_samples_and_fixtures() -> None:
    from scanner.reader import read_artifact

    paths = _all_apks() + (sorted((SHARED / "miniprogram").rglob("*.wxapkg")) if SHARED.is_dir() else [])
    for p in paths:
        inv = read_artifact(p)
        assert _hits(inv, True) == _hits(inv, False), p.name


@needs_c
@fuzz(200)
@given(st.lists(st.one_of(
    st.sampled_from(["AI生成", "由AI生成", "举报", "我要举报", "dashscope.aliyuncs.com", "x", "", "\ud83d",
                     "com.faceunity.wrapper", "api.minimax.chat/v1"]),
    st.text(alphabet="AI生成举报ab.\n/v", max_size=12)), max_size=20))
def test_terms_present_matches_automaton_on_generated_strings(strings: list[str]) -> None:
    from scanner.model import Artifact, ArtifactKind, DexFile, Inventory

    dex = DexFile("g.apk!classes.dex", 0, "", "035", (), (), tuple(strings))
    inv = Inventory(artifact=Artifact("g.apk", "", ArtifactKind.APK, 0), dex=(dex,))
    assert _hits(inv, True) == _hits(inv, False)


@needs_c
@fuzz(200)
@given(st.lists(st.text(alphabet="Java_comff_inita", max_size=10), max_size=30),
       st.lists(st.text(alphabet="Java_comff", min_size=1, max_size=6), min_size=1, max_size=5))
def test_startswith_any_equal_python(strings: list[str], prefixes: list[str]) -> None:
    import scanner._speedups as sp

    p = tuple(prefixes)
    assert sp.startswith_any(strings, p) == [i for i, s in enumerate(strings) if s.startswith(p)]


@needs_c
@pytest.mark.parametrize("declared_delta", [-5000, -1, 0, 1, 5000])
@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_read_async_when_the_declared_size_lies(declared_delta: int, method: int) -> None:
    """The output goes straight into a bytes object sized from the declared size: shorter, exact and longer
    streams all give what read() gives."""
    import random

    from scanner.zipread import Budget, Limits, ZipArchive

    payload = random.Random(9).randbytes(20000) + b"\0" * 30000
    buf = bytearray(_zip_of({"classes.dex": payload}, method))
    cd = buf.rfind(b"PK\x01\x02")
    lfh = buf.find(b"PK\x03\x04")
    declared = max(0, len(payload) + declared_delta)
    struct.pack_into("<I", buf, cd + 24, declared)
    struct.pack_into("<I", buf, lfh + 22, declared)
    za = ZipArchive(bytes(buf), "x", Budget(Limits()))
    m = za.members[0]
    try:
        want: object = za.read(m)
    except Exception as exc:  # noqa: BLE001
        want = type(exc)
    try:
        got: object = za.read_async(m).result()
    except Exception as exc:  # noqa: BLE001
        got = type(exc)
    assert got == want
    if isinstance(got, bytes):
        assert got == payload[: len(got)] and len(bytes(got)) == len(got)


@needs_c
def test_no_native_threads_falls_back_to_the_same_inventory(monkeypatch: pytest.MonkeyPatch) -> None:
    """A confined worker may be refused threads (process limits): every native-thread step then runs inline
    and the Inventory is the same."""
    from scanner import apk, reader, zipread
    from scanner.reader import read_artifact
    from scanner.serialize import to_data

    path = FIX / "apk" / "demo_faceapp.apk"
    want = to_data(read_artifact(path))

    def refuse(*_a: object, **_k: object) -> object:
        raise OSError("cannot start a thread")

    monkeypatch.setattr(zipread, "_c_inflate_job", refuse)
    monkeypatch.setattr(reader, "_c_sha256_fd_job", refuse)
    monkeypatch.setattr(apk, "_c_sha256_buf_job", refuse)
    assert to_data(read_artifact(path)) == want


# -- review findings (session 2): concurrency and tampered-input edges of the native jobs ----------------

def _big_raw(n: int = 40 << 20) -> bytes:
    import zlib as _z

    c = _z.compressobj(1, _z.DEFLATED, -15)
    return c.compress(b"\0" * n) + c.flush()


@needs_c
def test_job_waited_for_by_two_threads_never_hangs() -> None:
    import threading

    import scanner._speedups as sp

    raw = _big_raw()
    outcomes: list[object] = []

    def close(job: object) -> None:
        try:
            outcomes.append(job.close())  # type: ignore[attr-defined]
        except RuntimeError as exc:
            outcomes.append(exc)

    job = sp.inflate_job(raw, 0, len(raw), True, (40 << 20) + 1, 40 << 20)
    threads = [threading.Thread(target=close, args=(job,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert len(outcomes) == 3 and outcomes.count(None) >= 1


@needs_c
def test_data_wakes_every_waiter() -> None:
    import threading

    import scanner._speedups as sp

    raw = _big_raw()
    job = sp.inflate_job(raw, 0, len(raw), True, (40 << 20) + 1, 40 << 20)
    got: list[int] = []
    threads = [threading.Thread(target=lambda: got.append(len(job.data()[0]))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert got == [40 << 20] * 3
    job.close()


@needs_c
def test_native_job_arguments_refused() -> None:
    import scanner._speedups as sp

    raw = _big_raw(1000)
    with pytest.raises(ValueError):
        sp.inflate_job(raw, 0, len(raw), True, 0, 0)  # a deflated member needs room for at least one byte

    class S(str):
        def __hash__(self) -> int:
            return 1

    with pytest.raises(TypeError):
        sp.short_strings(["a", S("b")], 10)


@needs_c
def test_elf_exports_leave_names_past_the_string_table_to_lief() -> None:
    """lief reads a symbol name on past the end of .dynstr; the compiled reader hands such files to lief."""
    import lief

    from scanner import elf

    data = bytearray((FIX / "elf" / "libhello.so").read_bytes())
    b = lief.ELF.parse(bytes(data), elf._CONFIG_NOSYM)
    dynsym, strtab = b.get_section(".dynsym"), b.get_section(".dynstr")
    assert elf.fast_exports(b, bytes(data)) is not None
    for k in range(dynsym.size // dynsym.entry_size):
        at = dynsym.offset + k * dynsym.entry_size
        (name,) = struct.unpack_from("<I", data, at)
        if name and data[at + 6 : at + 8] != b"\0\0":  # a defined symbol with a name
            struct.pack_into("<I", data, at, strtab.size + 5)
            break
    b2 = lief.ELF.parse(bytes(data), elf._CONFIG_NOSYM)
    assert elf.fast_exports(b2, bytes(data)) is None


@needs_c
def test_fast_exports_failure_falls_back_to_lief(monkeypatch: pytest.MonkeyPatch) -> None:
    """Anything the compiled reader trips over means "ask lief", never a library marked unreadable."""
    from scanner import elf

    def boom(*_a: object) -> object:
        raise ValueError("odd tables")

    data = (FIX / "elf" / "libhello.so").read_bytes()
    want = elf.read_elf(data, "x", "lib/x86_64/libhello.so")
    monkeypatch.setattr(elf, "_c_elf_exports", boom)
    import lief

    assert elf.fast_exports(lief.ELF.parse(data, elf._CONFIG_NOSYM), data) is None
    assert elf.read_elf(data, "x", "lib/x86_64/libhello.so") == want

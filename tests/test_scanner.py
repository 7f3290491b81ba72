"""Scanner readers on toolchain-built fixtures, real samples, malformed inputs and zip bombs."""

from __future__ import annotations

import io
import json
import resource
import struct
import time
import zipfile
from pathlib import Path

import pytest

from scanner.dex import decode_mutf8, read_dex
from scanner.elf import ElfFormatError, read_elf
from scanner.errors import DexFormatError, ReadError, ZipFormatError
from scanner.model import ArtifactKind
from scanner.reader import read_artifact, read_bytes
from scanner.serialize import from_data, to_data
from scanner.model import Inventory
from scanner.sniff import sniff
from scanner.zipread import Budget, Limits, ZipArchive

FIX = Path(__file__).resolve().parent / "fixtures"


# -- DEX (smali-built fixtures) ---------------------------------------------------------------------------


def test_dex_simple_classes_types_strings() -> None:
    d = read_dex((FIX / "dex/simple.dex").read_bytes(), "simple.dex")
    assert d.classes == (
        "com.example.simple.Constants",
        "com.example.simple.Greeter",
        "com.example.simple.Outer",
        "com.example.simple.Outer$Inner",
        "com.example.simple.net.ApiClient",
        "com.example.simple.ui.HomeActivity",
    )
    assert "android.app.Activity" in d.referenced_types
    assert "java.lang.String" in d.referenced_types
    assert "com.example.simple.Outer" not in d.referenced_types
    assert "https://dashscope.aliyuncs.com/api/v1/services/aigc/text-generation/generation" in d.strings
    assert "网信算备110108823483901230015号" in d.strings
    assert "smile\U0001F600\x00end" in d.strings  # surrogate pair and C0 80 NUL decoded
    assert d.version == "035"


def test_dex_multidex_cross_references() -> None:
    a = read_dex((FIX / "dex/multi_a.dex").read_bytes(), "a")
    b = read_dex((FIX / "dex/multi_b.dex").read_bytes(), "b")
    assert a.classes == ("com.example.multi.App", "com.example.multi.Config")
    assert "com.example.multi.Engine" in a.referenced_types
    assert "com.example.multi.Config" in b.referenced_types
    assert "语音合成" in b.strings


def test_mutf8() -> None:
    assert decode_mutf8(b"a\xc0\x80b") == "a\x00b"
    assert decode_mutf8(b"\xed\xa0\xbd\xed\xb8\x80") == "\U0001F600"
    assert decode_mutf8(b"\xff\xfe") == "\ufffd\ufffd"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:50],  # shorter than the header
        lambda b: b"dey\n035\x00" + b[8:],  # bad magic
        lambda b: b[:0x38] + struct.pack("<I", 0x7FFFFFFF) + b[0x3C:],  # huge string count
        lambda b: b[:0x3C] + struct.pack("<I", 0xFFFFFF00) + b[0x40:],  # string table off the end
        lambda b: b[:0x60] + struct.pack("<I", 9999) + b[0x64:],  # class_defs beyond the file
        lambda b: b[:0x28] + struct.pack("<I", 0x78563412) + b[0x2C:],  # wrong endian tag
    ],
)
def test_dex_malformed_raises_own_error(mutate) -> None:  # type: ignore[no-untyped-def]
    data = mutate((FIX / "dex/simple.dex").read_bytes())
    with pytest.raises(DexFormatError):
        read_dex(data, "bad.dex")


def test_dex_string_offset_out_of_range() -> None:
    data = bytearray((FIX / "dex/simple.dex").read_bytes())
    (off,) = struct.unpack_from("<I", data, 0x3C)
    struct.pack_into("<I", data, off, len(data) + 100)
    with pytest.raises(DexFormatError):
        read_dex(bytes(data), "bad.dex")


# -- ELF (gcc-built fixtures) -----------------------------------------------------------------------------


@pytest.mark.parametrize("name,abi", [("libhello.so", "x86_64"), ("libhello_arm64.so", "arm64-v8a"), ("libstripped.so", "x86_64")])
def test_elf_gcc_built(name: str, abi: str) -> None:
    lib = read_elf((FIX / "elf" / name).read_bytes(), name)
    assert lib.soname == name
    assert lib.abi == abi
    assert set(lib.needed) == {"libm.so.6", "libc.so.6"}
    assert {"hello_world", "hello_cbrt", "hello_version", "Java_com_example_Hello_nativeInit"} <= set(lib.exports)
    assert "hello_hidden" not in lib.exports and "helper_static" not in lib.exports


def test_elf_abi_from_apk_path() -> None:
    lib = read_elf((FIX / "elf/libhello.so").read_bytes(), "x.apk!lib/armeabi-v7a/libhello.so", "lib/armeabi-v7a/libhello.so")
    assert lib.abi == "armeabi-v7a"


@pytest.mark.parametrize("data", [b"", b"\x7fELF", b"\x7fELF" + b"\xff" * 60, b"MZ" + b"\x00" * 100])
def test_elf_malformed(data: bytes) -> None:
    with pytest.raises(ElfFormatError):
        read_elf(data, "bad.so")


def test_elf_bogus_section_table() -> None:
    data = bytearray((FIX / "elf/libhello.so").read_bytes())
    struct.pack_into("<Q", data, 0x28, 0xFFFFFFFFFFFF)  # e_shoff far outside
    struct.pack_into("<H", data, 0x3C, 0xFFFF)  # e_shnum huge
    try:
        lib = read_elf(bytes(data), "bogus.so")
        assert lib.soname in (None, "libhello.so")
    except ElfFormatError:
        pass


# -- sniffing ---------------------------------------------------------------------------------------------

MODEL_EXPECT = {
    "caffe2-predict_net.pb": "caffe2_pb",
    "mediapipe_face_detection_short_range.tflite": "tflite",
    "mediapipe_selfie_segmentation.tflite": "tflite",
    "paddle_ch_PP-OCRv4_mobile_cls.nb": "paddle_nb",
    "silero_vad.onnx": "onnx",
    "tensorflow-mobile-7amdhcxt.pb": "tensorflow_pb",
    "ultraface_RFB-320-quant-KL-5792.mnn": "mnn",
    "ultraface_RFB-320.caffemodel": "caffe",
    "ultraface_RFB-320.param": "ncnn_param",
    "ultraface_version-RFB-320_simplified.onnx": "onnx",
    "ultraface_version-slim-320_without_postprocessing.tflite": "tflite",
}


@pytest.mark.parametrize("name,fmt", sorted(MODEL_EXPECT.items()))
def test_sniff_model_samples(samples: Path, name: str, fmt: str) -> None:
    data = (samples / "models" / name).read_bytes()
    assert sniff(data[:4096], name, len(data)) == fmt


def test_sniff_magic_formats() -> None:
    assert sniff(b"GGUF\x03\x00\x00\x00", "x.bin") == "gguf"
    assert sniff(b"\x1c\x00\x00\x00TFL3", "model") == "tflite"
    hdr = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    assert sniff(struct.pack("<Q", len(hdr)) + hdr, "m.safetensors", 8 + len(hdr) + 4) == "safetensors"
    assert sniff(b"\x00\x00\x00\x00ET12", "m.pte") == "executorch"
    assert sniff(b"7767517\n1 1\n", "x.param") == "ncnn_param"
    assert sniff(b"dex\n035\x00", "") == "dex"
    assert sniff(b"PK\x03\x04", "") == "zip"
    assert sniff(b"hello world", "a.txt") == "text"
    assert sniff(b"\x00\x01\x02\x03" * 10, "a.bin") == "data"


def test_sniff_ncnn_bin_has_no_magic(samples: Path) -> None:
    data = (samples / "models/ultraface_RFB-320.bin").read_bytes()
    assert sniff(data[:4096], "RFB-320.bin", len(data)) == "data"


# -- APKs (toolchain fixtures) ----------------------------------------------------------------------------


def test_demo_apk_inventory() -> None:
    inv = read_artifact(FIX / "apk/demo_faceapp.apk")
    assert inv.artifact.kind is ArtifactKind.APK
    assert inv.errors == ()
    m = inv.manifest
    assert m is not None
    assert (m.package, m.version_name, m.version_code, m.label) == ("com.example.synthdemo", "1.2.3", "123", "示例相机")
    assert set(m.permissions) == {"android.permission.CAMERA", "android.permission.RECORD_AUDIO", "android.permission.INTERNET"}
    assert "com.faceunity.wrapper.faceunity" in inv.classes  # from classes2.dex
    libs = {lib.path.rsplit("/", 1)[-1]: lib for lib in inv.native_libs}
    assert libs["libCNamaSDK.so"].needed[0] == "libfuai.so"
    assert "Java_com_faceunity_wrapper_faceunity_fuSetup" in libs["libCNamaSDK.so"].exports
    assert {c.scheme for c in inv.certificates} >= {"v1", "v2", "v3"}
    assert all(c.organization == "北京示例科技有限公司" for c in inv.certificates)
    assert any(f.value == "网信算备110108823483901230015号" for f in inv.strings.filings)
    assert any("beian.cac.gov.cn" in b.value for b in inv.strings.beian_links)
    bundles = [e for e in inv.entries if e.path.endswith(".bundle")]
    assert bundles and all(e.entropy and e.entropy > 7.0 for e in bundles)
    assert inv.dex[0].locator == "demo_faceapp.apk!classes.dex"


def test_v1_only_certificates() -> None:
    inv = read_artifact(FIX / "apk/plain_app.apk")
    assert [c.scheme for c in inv.certificates] == ["v1"]
    assert "O=北京示例科技有限公司" in inv.certificates[0].subject


@pytest.mark.parametrize("name,kind", [("split_app.apks", ArtifactKind.APKS), ("split_app.xapk", ArtifactKind.APKS)])
def test_split_sets_read_as_one_app(name: str, kind: ArtifactKind) -> None:
    inv = read_artifact(FIX / "apk/split" / name)
    assert inv.artifact.kind is kind
    assert inv.errors == ()
    assert inv.manifest is not None and inv.manifest.package == "com.example.split"
    assert inv.classes == ("com.example.split.MainActivity",)
    assert [lib.path for lib in inv.native_libs] == [f"{name}!split_config.arm64_v8a.apk!lib/arm64-v8a/libfuai.so"]


def _aab_manifest(package: str) -> bytes:
    """aapt2 protobuf XmlNode for <manifest package=… versionName=…><uses-permission …/></manifest>."""

    def ld(field: int, payload: bytes) -> bytes:
        out = bytearray([(field << 3) | 2])
        n = len(payload)
        while True:
            b = n & 0x7F
            n >>= 7
            out.append(b | (0x80 if n else 0))
            if not n:
                break
        return bytes(out) + payload

    ns = b"http://schemas.android.com/apk/res/android"

    def attr(name: str, value: str, android: bool = True) -> bytes:
        return ld(4, (ld(1, ns) if android else b"") + ld(2, name.encode()) + ld(3, value.encode()))

    perm = ld(5, ld(1, ld(3, b"uses-permission") + attr("name", "android.permission.CAMERA")))
    root = ld(3, b"manifest") + attr("package", package, android=False) + attr("versionName", "3.1") + attr("versionCode", "31") + perm
    return ld(1, root)


def test_aab_bundle() -> None:
    from rules.fixtures import build_dex, build_elf

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("base/manifest/AndroidManifest.xml", _aab_manifest("com.example.bundle"))
        z.writestr("base/dex/classes.dex", build_dex(["com.example.bundle.Main"]))
        z.writestr("base/lib/arm64-v8a/libfoo.so", build_elf("libfoo.so", ["foo_init"]))
        z.writestr("BundleConfig.pb", b"\x0a\x00")
    inv = read_bytes("app.aab", buf.getvalue())
    assert inv.artifact.kind is ArtifactKind.AAB
    assert inv.manifest is not None
    assert (inv.manifest.package, inv.manifest.version_name) == ("com.example.bundle", "3.1")
    assert inv.manifest.permissions == ("android.permission.CAMERA",)
    assert inv.classes == ("com.example.bundle.Main",)
    assert inv.native_libs[0].abi == "arm64-v8a"


def test_inventory_json_roundtrip() -> None:
    inv = read_artifact(FIX / "apk/demo_faceapp.apk")
    data = json.loads(json.dumps(to_data(inv)))
    assert from_data(Inventory, data) == inv


# -- malformed and hostile inputs ----------------------------------------------------------------------------


def test_every_malformed_sample_gives_inventory_or_error(samples: Path) -> None:
    for path in sorted((samples / "apk/malformed").glob("*.apk")):
        inv = read_artifact(path)
        assert inv.errors or (inv.manifest is not None and inv.dex), path.name


@pytest.mark.parametrize("name", ["apkinspector_minimal_SIZE_ExtraField.apk", "apkinspector_minimal_def_mod.apk"])
def test_android_installable_tampering_yields_classes(samples: Path, name: str) -> None:
    inv = read_artifact(samples / "apk/malformed" / name)
    assert inv.classes == ("com.erev0s.minimal.MainActivity",)
    assert inv.manifest is not None and inv.manifest.package == "com.erev0s.minimal"
    assert inv.notes  # the trick is reported to reviewers


def test_text_empty_and_lfs_pointer_are_unknown(tmp_path: Path) -> None:
    cases = {
        "notes.txt": b"just some text\n",
        "empty.apk": b"",
        "pointer.apk": b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 123\n",
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        inv = read_artifact(p)
        assert inv.artifact.kind is ArtifactKind.UNKNOWN
        assert inv.errors, name


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    inv = read_artifact(tmp_path / "nope.apk")
    assert inv.errors and inv.errors[0].stage == "open"


def _bomb_zip(inner_name: str, size: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open(zipfile.ZipInfo(inner_name), "w", force_zip64=False) as f:
            chunk = b"\x00" * (1 << 20)
            for _ in range(size >> 20):
                f.write(chunk)
    return buf.getvalue()


@pytest.fixture(scope="module")
def gib_bomb() -> bytes:
    """1 GiB of zeros deflated into ~1 MiB, as classes.dex of an otherwise normal APK."""
    from rules.fixtures import build_apk

    base = build_apk({"classes": ["com.example.Bomb"]})
    buf = io.BytesIO(base)
    with zipfile.ZipFile(buf, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open(zipfile.ZipInfo("classes2.dex"), "w") as f:
            chunk = b"\x00" * (1 << 20)
            for _ in range(1024):
                f.write(chunk)
    return buf.getvalue()


def test_zip_bomb_refused_fast_and_small(gib_bomb: bytes, tmp_path: Path) -> None:
    p = tmp_path / "bomb.apk"
    p.write_bytes(gib_bomb)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.monotonic()
    inv = read_artifact(p)
    elapsed = time.monotonic() - t
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert elapsed < 5
    assert (rss1 - rss0) < 200 * 1024  # ru_maxrss is KiB on Linux
    assert any(e.stage == "limits" for e in inv.errors)
    assert "com.example.Bomb" in inv.classes  # the rest of the app is still read


def test_nested_zip_bomb(tmp_path: Path) -> None:
    from rules.fixtures import build_apk

    inner = _bomb_zip("zeros.bin", 256 << 20)
    layer = inner
    for i in range(4):  # zips inside zips, deeper than the depth limit
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(f"layer{i}.zip", layer)
            z.writestr(f"bomb{i}.jar", inner)
        layer = buf.getvalue()
    base = io.BytesIO(build_apk({"classes": ["com.example.Nest"]}))
    with zipfile.ZipFile(base, "a") as z:
        z.writestr("assets/nested.zip", layer)
    p = tmp_path / "nested.apk"
    p.write_bytes(base.getvalue())
    t = time.monotonic()
    inv = read_artifact(p, Limits(max_total_bytes=128 << 20))
    assert time.monotonic() - t < 5
    assert any(e.stage == "limits" for e in inv.errors)


def test_traversal_and_absolute_names_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rules.fixtures import build_apk

    buf = io.BytesIO(build_apk({"classes": ["com.example.T"]}))
    with zipfile.ZipFile(buf, "a") as z:
        z.writestr("../../x", b"escape")
        z.writestr("/etc/evil", b"abs")
        z.writestr("assets/..\\..\\win", b"win")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    p = tmp_path / "trav.apk"
    p.write_bytes(buf.getvalue())
    before = set(tmp_path.rglob("*"))
    inv = read_artifact(p)
    assert set(tmp_path.rglob("*")) == before
    assert not (tmp_path.parent / "x").exists()
    assert any("suspicious entry name" in n.message for n in inv.notes)
    assert any(e.path.endswith("!../../x") for e in inv.entries)


def test_entry_limit(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("AndroidManifest.xml", b"")
        for i in range(300):
            z.writestr(f"assets/{i}.txt", b"x")
    inv = read_bytes("many.apk", buf.getvalue(), Limits(max_entries=100))
    assert any(e.stage == "limits" for e in inv.errors)


def test_time_limit() -> None:
    from rules.fixtures import build_apk

    inv = read_bytes("slow.apk", build_apk({"classes": ["a.b.C"]}), Limits(max_seconds=0.0))
    assert any(e.stage == "limits" for e in inv.errors)


def test_zip_layer_errors() -> None:
    with pytest.raises(ZipFormatError):
        ZipArchive(b"PK\x03\x04short", "x", Budget())
    with pytest.raises(ReadError):
        ZipArchive(b"\x00" * 100, "x", Budget())


def test_corrupt_deflate_entry_is_recorded() -> None:
    from rules.fixtures import build_apk

    data = bytearray(build_apk({"classes": ["com.example.C"]}))
    z = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = z.getinfo("classes.dex")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start, start + min(64, info.compress_size)):
        data[i] ^= 0x5A
    inv = read_bytes("corrupt.apk", bytes(data))
    assert any(e.locator.endswith("classes.dex") for e in inv.errors)



def test_dex_elsewhere_and_nested_archives() -> None:
    from rules.fixtures import build_apk, build_dex, build_elf

    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("classes.dex", build_dex(["com.vendor.plugin.Entry"]))
        z.writestr("lib/arm64-v8a/libplugin.so", build_elf("libplugin.so", ["plugin_init"]))
    buf = io.BytesIO(build_apk({"classes": ["com.example.Host"]}))
    with zipfile.ZipFile(buf, "a") as z:
        z.writestr("assets/payload.dat", build_dex(["com.hidden.Loader"]))  # a DEX by bytes, not by name
        z.writestr("assets/plugins/plugin.jar", inner.getvalue())
    inv = read_bytes("host.apk", buf.getvalue())
    assert {"com.example.Host", "com.hidden.Loader", "com.vendor.plugin.Entry"} <= set(inv.classes)
    locs = {d.locator for d in inv.dex}
    assert "host.apk!assets/payload.dat" in locs
    assert "host.apk!assets/plugins/plugin.jar!classes.dex" in locs
    assert [lib.path for lib in inv.native_libs] == ["host.apk!assets/plugins/plugin.jar!lib/arm64-v8a/libplugin.so"]

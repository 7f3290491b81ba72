"""WeChat wxapkg and Douyin TPKG readers on code-built packages: evidence, locators, encryption, hostility."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from mp_factory import (
    TEST_APPID,
    WECHATSI_PROVIDER,
    app_config,
    build_raw_wxapkg,
    build_ttpkg,
    build_wxapkg,
    cloud_ai_wxapkg,
    encrypt_v1mmwx,
    mac_tag,
    padding,
    wechatsi_wxapkg,
)

from scanner.miniprogram import read_miniprogram
from scanner.miniprogram.errors import TtpkgFormatError, WxapkgDecryptError, WxapkgFormatError
from scanner.miniprogram.ttpkg import parse_ttpkg
from scanner.miniprogram.wxapkg import decrypt_v1mmwx, parse_wxapkg, recover_xor_key
from scanner.model import Artifact, ArtifactKind, Inventory
from scanner.reader import read_artifact
from scanner.zipread import Budget, Limits

ONNX = b"\x08\x07\x12\x07pytorch\x1a\x032.1" + bytes(range(256)) * 40


def read(data: bytes, name: str = "app.wxapkg", appid: str | None = None, kind=ArtifactKind.WXAPKG,
         limits: Limits | None = None) -> Inventory:  # fmt: skip
    art = Artifact(name, "", kind, len(data))
    return read_miniprogram(art, [(name, data)], Budget(limits or Limits()), appid)


# -- evidence ------------------------------------------------------------------------------------------------


def test_wechatsi_plugin_with_locator() -> None:
    inv = read(wechatsi_wxapkg(), "si.wxapkg")
    assert inv.errors == ()
    (p,) = inv.miniprogram.plugins
    assert (p.alias, p.provider, p.version, p.locator) == ("WechatSI", WECHATSI_PROVIDER, "0.3.5",
                                                           "si.wxapkg!/app-config.json")  # fmt: skip
    assert inv.miniprogram.platform == "wechat"


def test_cloud_ai_call_is_a_full_dotted_identifier() -> None:
    inv = read(cloud_ai_wxapkg(), "ai.wxapkg")
    assert ("wx.cloud.extend.AI.createModel", "ai.wxapkg!/app-service.js") in {
        (a.value, a.locator) for a in inv.miniprogram.apis
    }


def test_apis_plugins_libraries_models_and_strings() -> None:
    js = (
        b'const s=wx.createVKSession({track:{face:{mode:1}}});wx["createInferenceSession"]({model:"m.onnx"});'
        b"wx.createCameraContext();wx.startRecord();a.wx.fake();qq.com;"
        b'const p=requirePlugin("wx3e17776051baf153");const c=requirePlugin("chatbot");'
        b'wx.request({url:"https://facefusion.tencentcloudapi.com/?Action=FuseFace"});'
        b'var label="\xe7\xbd\x91\xe4\xbf\xa1\xe7\xae\x97\xe5\xa4\x87110108823483901230031\xe5\x8f\xb7";'
    )
    pkg = build_wxapkg({
        "/app-config.json": app_config(plugins={"chatbot": {"version": "1.2.0", "provider": "wx8c631f7e9f2465e1"}},
                                       subPackages=[{"root": "sub/", "pages": ["pages/a/a"],
                                                     "plugins": {"si": {"version": "0.3.5", "provider": WECHATSI_PROVIDER}}}],
                                       permission={"scope.record": {"desc": "voice"}}),
        "/app-service.js": js,
        "/page-frame.html": b'<wx-x src="plugin://wxa75efa648b60994b/video"></wx-x>',
        "/libs/tf.min.js": b"/** @license Copyright Google LLC. TensorFlow.js */ var tf={};",
        "/workers/ort.js": b"// onnxruntime-web bundle\n",
        "/models/face.onnx": ONNX,
        "/wasm/ort-wasm-simd.wasm": b"\x00asm\x01\x00\x00\x00" + b"onnxruntime" * 10,
        "/miniprogram_npm/@paddlejs/paddlejs-core/index.js": b"module.exports={}",
    })  # fmt: skip
    inv = read(pkg, "x.wxapkg")
    assert inv.errors == ()
    mp = inv.miniprogram
    apis = {a.value for a in mp.apis}
    assert {"wx.createVKSession", "wx.createInferenceSession", "wx.createCameraContext", "wx.startRecord",
            "wx.request"} <= apis  # fmt: skip
    assert not {a for a in apis if a.startswith(("wx.fake", "qq."))}
    assert {'requirePlugin("wx3e17776051baf153")', 'requirePlugin("chatbot")'} <= apis
    assert {(p.alias, p.provider) for p in mp.plugins} == {
        ("chatbot", "wx8c631f7e9f2465e1"), ("si", WECHATSI_PROVIDER),
        ("wx3e17776051baf153", "wx3e17776051baf153"), ("wxa75efa648b60994b", "wxa75efa648b60994b"),
    }  # fmt: skip
    assert "sub/pages/a/a" in mp.pages and inv.manifest.permissions == ("scope.record",)
    libs = {(lib.value, lib.locator) for lib in mp.js_libraries}
    assert ("tfjs", "x.wxapkg!/libs/tf.min.js") in libs
    assert ("onnxruntime-web", "x.wxapkg!/workers/ort.js") in libs
    assert ("onnxruntime-web", "x.wxapkg!/wasm/ort-wasm-simd.wasm") in libs
    assert ("paddlejs", "x.wxapkg!/miniprogram_npm/@paddlejs/paddlejs-core/index.js") in libs
    assert ("npm:@paddlejs/paddlejs-core", "x.wxapkg!/miniprogram_npm/@paddlejs/paddlejs-core/index.js") in libs
    fmts = {e.path: e for e in inv.entries}
    assert fmts["x.wxapkg!/models/face.onnx"].format == "onnx" and fmts["x.wxapkg!/models/face.onnx"].sha256
    assert fmts["x.wxapkg!/wasm/ort-wasm-simd.wasm"].format == "wasm"
    assert ("facefusion.tencentcloudapi.com", "x.wxapkg!/app-service.js") in {(h.value, h.locator) for h in mp.hosts}
    assert [f.value for f in inv.strings.filings] == ["网信算备110108823483901230031号"]


def test_plugin_alias_reference_without_declaration() -> None:
    inv = read(build_wxapkg({"/sub/app-service.js": b'requirePlugin("myAlias")'}))
    assert [(p.alias, p.provider) for p in inv.miniprogram.plugins] == [("myAlias", "")]


def test_bad_config_is_an_error_not_a_crash() -> None:
    inv = read(build_wxapkg({"/app-config.json": b"{not json", "/app-service.js": b"wx.login()"}))
    assert [(e.stage, e.locator) for e in inv.errors] == [("config", "app.wxapkg!/app-config.json")]
    assert [a.value for a in inv.miniprogram.apis] == ["wx.login"]
    deep = b"[" * 100_000 + b"]" * 100_000
    inv = read(build_wxapkg({"/app-config.json": deep}))
    assert inv.errors[0].stage == "config"


def test_appid_from_file_name_when_nothing_else_says() -> None:
    inv = read(build_wxapkg({"/app-service.js": b""}), f"{TEST_APPID}_3.wxapkg")
    assert inv.miniprogram.appid == TEST_APPID
    assert any("not verified" in n.message for n in inv.notes)


def test_reader_entry_point_dispatches_wxapkg_and_ttpkg(tmp_path: Path) -> None:
    p = tmp_path / "a.wxapkg"
    p.write_bytes(cloud_ai_wxapkg())
    inv = read_artifact(p)
    assert inv.artifact.kind is ArtifactKind.WXAPKG and inv.errors == ()
    t = tmp_path / "b.pkg"
    t.write_bytes(build_ttpkg({"app-config.json": json.dumps({"appId": "tt0123456789abcdef01"}).encode(),
                               "app-service.js": b"tt.createEffectCameraStream()"}))  # fmt: skip
    inv = read_artifact(t)
    assert inv.artifact.kind is ArtifactKind.TTPKG and inv.errors == ()
    assert inv.miniprogram.appid == "tt0123456789abcdef01"
    assert [(a.value, a.locator) for a in inv.miniprogram.apis] == [("tt.createEffectCameraStream", "b.pkg!app-service.js")]


# -- index validation -----------------------------------------------------------------------------------------


def test_plain_fixture_keeps_every_invariant() -> None:
    data = build_wxapkg({"/a.js": b"1", "/b.json": b"{}"})
    idx = parse_wxapkg(data)
    assert [(e.name, e.size) for e in idx.entries] == [("/a.js", 1), ("/b.json", 2)]
    assert idx.problems == () and idx.deviations == ()
    assert idx.entries[0].offset == idx.index_end


@pytest.mark.parametrize(
    "data,match",
    [
        (b"", "too short"),
        (b"\xbe" + b"\x00" * 12 + b"\xed", "too short"),
        (b"\xbf" + b"\x00" * 12 + b"\xed\x00\x00\x00\x00", "marks"),
        (build_raw_wxapkg([], count=0xFFFFFFFF), "cannot fit"),
        (build_raw_wxapkg([(b"/" + b"a" * 50, 0, 0)], bytes(20), index_len=4 + 20), "entry 0 .* runs past the end of the index"),
        (build_raw_wxapkg([(b"/" + b"a" * 5000, 0, 0)]), "exceeds 4096"),
        (b"\xbe" + struct.pack(">III", 0, 16, 0) + b"\xed" + struct.pack(">I", 1) + struct.pack(">I", 0xFFFFFFF0) + b"\x00" * 8,
         "exceeds 4096"),
        (build_raw_wxapkg([(b"/a", 0, 0)])[:-3], "cannot fit"),
    ],
)
def test_unwalkable_index_raises_the_readers_error(data: bytes, match: str) -> None:
    with pytest.raises(WxapkgFormatError, match=match):
        parse_wxapkg(data)


def test_entries_out_of_range_overlapping_duplicate_and_hostile_names() -> None:
    names = [b"/ok.js", b"/../../etc/passwd", b"//abs", b"/a\x00b", b"/c:/win", b"/ok.js", b"/into-index", b"/past-end",
             b"/overlap", b"/a\\back"]  # fmt: skip
    n_index = 18 + sum(12 + len(n) for n in names)
    body = b"wx.login();" * 10
    recs = [(names[0], n_index, 11), (names[1], n_index, 11), (names[2], n_index + 11, 11),
            (names[3], n_index + 22, 11), (names[4], n_index + 33, 11), (names[5], n_index + 44, 11),
            (names[6], 5, 11), (names[7], n_index + 100, 2**32 - 1), (names[8], n_index + 50, 20),
            (names[9], n_index + 88, 11)]  # fmt: skip
    data = build_raw_wxapkg(recs, body)
    idx = parse_wxapkg(data)
    text = "\n".join(idx.problems)
    assert "points into the header/index" in text and "runs past the end" in text
    assert "parent directory" in text and "absolute path" in text and "NUL byte" in text
    assert "drive letter" in text and "backslash" in text and "duplicate entry '/ok.js'" in text
    assert "overlaps" in text
    assert {e.name for e in idx.entries} >= {"/ok.js", "/a\\x00b"}  # NUL shown escaped in locators
    inv = read(data, "h.wxapkg")
    assert inv.errors and all(e.stage == "wxapkg" for e in inv.errors)
    assert not any("\x00" in e.path for e in inv.entries)


def test_many_problems_are_summarised() -> None:
    recs = [(b"/x%d" % i, 3, 1) for i in range(500)]
    idx = parse_wxapkg(build_raw_wxapkg(recs, b"z"))
    assert len(idx.problems) == 21 and "480 more" in idx.problems[-1]


def test_header_deviations_are_notes() -> None:
    data = bytearray(build_wxapkg({"/a.js": b"wx.login()"}))
    data[1:5] = b"\x00\x00\x00\x07"  # info
    data[9:13] = b"\x00\x00\x10\x00"  # data_len lies
    idx = parse_wxapkg(bytes(data))
    assert idx.problems == () and len(idx.deviations) == 2
    inv = read(bytes(data))
    assert inv.errors == () and len([n for n in inv.notes if n.stage == "wxapkg"]) == 2


def test_entry_limit_is_the_readers_error() -> None:
    data = build_wxapkg({f"/f{i}": b"" for i in range(50)})
    with pytest.raises(WxapkgFormatError) as ei:
        parse_wxapkg(data, max_entries=10)
    assert ei.value.stage == "limits"


def test_budget_limits_are_recorded() -> None:
    data = build_wxapkg({"/a.js": b"x" * 5000, "/b.js": b"y" * 5000})
    inv = read(data, limits=Limits(max_total_bytes=6000))
    assert any(e.stage == "limits" for e in inv.errors)


# -- TPKG -------------------------------------------------------------------------------------------------------


def test_ttpkg_layouts_and_errors() -> None:
    idx = parse_ttpkg(build_ttpkg({"app-config.json": b"{}", "a.js": b"1"}))
    assert [e.name for e in idx.entries] == ["app-config.json", "a.js"] and idx.deviations == ()
    old = parse_ttpkg(build_ttpkg({"a.js": b"1"}, reserved=False))
    assert [e.name for e in old.entries] == ["a.js"] and "reserved" in old.deviations[0]
    with pytest.raises(TtpkgFormatError, match="magic"):
        parse_ttpkg(b"TPKX" + b"\x00" * 20)
    with pytest.raises(TtpkgFormatError, match="__ttks"):
        parse_ttpkg(b"TPKG" + struct.pack("<III", 2, 64, 20) + b'JSON{"__ttks":1}' + b"\x00" * 64)
    with pytest.raises(TtpkgFormatError, match="cannot fit"):
        parse_ttpkg(b"TPKG" + struct.pack("<III", 2, 0, 0xFFFFFFFF) + b"\x00" * 20)
    bad = parse_ttpkg(build_ttpkg({"/abs.js": b"1", "../x.js": b"2"}))
    assert len(bad.problems) == 2


# -- encryption -------------------------------------------------------------------------------------------------


def _big_app() -> bytes:
    return build_wxapkg({
        "/app-config.json": app_config(plugins={"WechatSI": {"version": "0.3.5", "provider": WECHATSI_PROVIDER}}),
        "/image/a.png": padding(1500),
        "/app-service.js": b'function f(){return wx.cloud.extend.AI.createModel("deepseek")} var j=".json";' * 20,
        "/pages/index/index.html": b"<html></html>",
    })  # fmt: skip


def test_v1mmwx_roundtrip_with_metadata_appid() -> None:
    plain = _big_app()
    enc = encrypt_v1mmwx(plain, TEST_APPID)
    assert len(enc) == len(plain) + 7
    assert decrypt_v1mmwx(enc, TEST_APPID) == plain
    inv = read(enc, "__APP__.wxapkg", TEST_APPID)
    assert inv.errors == () and inv.miniprogram.encrypted and inv.miniprogram.appid == TEST_APPID
    assert {e.path for e in inv.entries} == {e.path for e in read(plain, "__APP__.wxapkg").entries}


def test_v1mmwx_without_appid_recovers_xor_and_reports_the_lock() -> None:
    plain = _big_app()
    enc = encrypt_v1mmwx(plain, TEST_APPID)
    key, body = recover_xor_key(enc)
    assert chr(key) == TEST_APPID[-2] and body == plain[1023:]
    inv = read(enc, "__APP__.wxapkg")
    (err,) = inv.errors
    assert err.stage == "decrypt" and "not clean" in err.message
    apis = {a.value for a in inv.miniprogram.apis}
    assert "wx.cloud.extend.AI.createModel" in apis  # the XOR body was scanned
    assert inv.miniprogram.encrypted


def test_v1mmwx_appid_in_body_is_verified_and_used() -> None:
    plain = build_wxapkg({"/image/a.png": padding(1500), "/app-service.js": f'var appid="{TEST_APPID}";'.encode() * 3})
    inv = read(encrypt_v1mmwx(plain, TEST_APPID), "__APP__.wxapkg")
    assert inv.errors == () and inv.miniprogram.appid == TEST_APPID


def test_v1mmwx_hostile() -> None:
    with pytest.raises(WxapkgDecryptError, match="too short"):
        decrypt_v1mmwx(b"V1MMWX" + b"\x00" * 100, TEST_APPID)
    inv = read(b"V1MMWX" + b"\x00" * 100)
    assert inv.errors[0].stage == "decrypt"
    inv = read(b"V1MMWX" + bytes(4000))  # zeros: no XOR key makes it readable
    assert inv.errors[0].stage == "decrypt" and "16 candidates" in inv.errors[0].message


def test_mac_tagged_package_is_partially_scanned() -> None:
    plain = _big_app()
    inv = read(mac_tag(plain), "__APP__.wxapkg")
    (err,) = inv.errors
    assert "macOS" in err.message and inv.miniprogram.encrypted
    assert "wx.cloud.extend.AI.createModel" in {a.value for a in inv.miniprogram.apis}


def test_folder_of_plain_packages_main_first(tmp_path: Path) -> None:
    (tmp_path / "pkgs").mkdir()
    (tmp_path / "pkgs" / "_sub_.wxapkg").write_bytes(build_wxapkg({"/sub/app-service.js": b'requirePlugin("WechatSI")'}))
    (tmp_path / "pkgs" / "__APP__.wxapkg").write_bytes(wechatsi_wxapkg())
    (tmp_path / "pkgs" / "notes.txt").write_text("hello")
    inv = read_artifact(tmp_path / "pkgs")
    assert inv.errors == () and inv.artifact.kind is ArtifactKind.WXAPKG
    assert inv.entries[0].path == "pkgs/__APP__.wxapkg"
    assert [(p.alias, p.provider) for p in inv.miniprogram.plugins] == [("WechatSI", WECHATSI_PROVIDER)]
    assert any(n.locator == "pkgs/notes.txt" for n in inv.notes)


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "e").mkdir()
    inv = read_artifact(tmp_path / "e")
    assert inv.errors and inv.errors[0].stage == "sniff"


def test_unwalkable_index_still_scans_the_raw_bytes() -> None:
    data = bytearray(cloud_ai_wxapkg())
    data[14:18] = struct.pack(">I", 0xFFFF)  # a count that cannot fit
    inv = read(bytes(data), "c.wxapkg")
    assert [e.stage for e in inv.errors] == ["wxapkg"]
    assert "wx.cloud.extend.AI.createModel" in {a.value for a in inv.miniprogram.apis}
    assert inv.entries[0].path.startswith("c.wxapkg!<unparsed bytes 0-")


def test_inventory_round_trips_through_the_serializer() -> None:
    from scanner.serialize import from_data, to_data

    inv = read(wechatsi_wxapkg(), "si.wxapkg")
    data = to_data(inv)
    assert data["miniprogram"]["plugins"][0]["provider"] == WECHATSI_PROVIDER
    assert from_data(Inventory, json.loads(json.dumps(data))) == inv

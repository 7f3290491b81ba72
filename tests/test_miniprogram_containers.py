"""Zip/tar based containers and source trees, built in code: rpk, hap/.app, Nebula amr, source zip and folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mp_factory import WECHATSI_PROVIDER, build_amr, build_hap, build_rpk, build_zip

from scanner.miniprogram import read_folder, read_miniprogram
from scanner.model import Artifact, ArtifactKind, Inventory
from scanner.reader import read_artifact
from scanner.zipread import Budget


def read(data: bytes, kind: ArtifactKind, name: str) -> Inventory:
    return read_miniprogram(Artifact(name, "", kind, len(data)), [(name, data)], Budget(), None)


def test_rpk_manifest_features_pages_and_sniffing(tmp_path: Path) -> None:
    manifest = {"package": "com.example.tts", "name": "读书", "versionName": "2.0.1", "versionCode": 7,
                "features": [{"name": "service.texttoaudio"}, {"name": "system.record"}, {"bad": 1}, "x"],
                "router": {"entry": "Home", "pages": {"Home": {"component": "index"}, "Read": {}}}}  # fmt: skip
    js = b'var t=$app_require$("@app-module/service.asr");fetch("https://tts.example.com/v1")'
    p = tmp_path / "app.rpk"
    p.write_bytes(build_rpk(manifest, {"Home/index.js": js}))
    inv = read_artifact(p)
    assert inv.artifact.kind is ArtifactKind.RPK and inv.errors == ()
    mp = inv.miniprogram
    assert (mp.platform, mp.appid, mp.name) == ("quickapp", "com.example.tts", "读书")
    assert inv.artifact.version == "2.0.1" and inv.manifest.version_code == "7"
    assert ("service.texttoaudio", "app.rpk!manifest.json") in {(a.value, a.locator) for a in mp.apis}
    assert ("service.asr", "app.rpk!Home/index.js") in {(a.value, a.locator) for a in mp.apis}
    assert mp.pages == ("Home", "Read")
    assert any("no RPK signing block" in n.message for n in inv.notes)


def test_rpk_without_manifest_is_an_error() -> None:
    inv = read(build_zip({"app.js": b"1"}), ArtifactKind.RPK, "x.rpk")
    assert [e.stage for e in inv.errors] == ["config"]


def test_hap_module_permissions_pages_and_native_lib(tmp_path: Path) -> None:
    module = {"app": {"bundleName": "com.example.avatar", "versionName": "1.2.0", "versionCode": 3, "label": "$string:x"},
              "module": {"name": "entry", "pages": "$profile:main_pages",
                         "requestPermissions": [{"name": "ohos.permission.CAMERA"}, {"name": "ohos.permission.MICROPHONE"}]}}  # fmt: skip
    abc = b"PANDA\x00\x00\x00" + b"\x00\x17@ohos:multimedia.camera\x00\x11@kit.CoreSpeechKit\x00https://ai.example.cn/x\x00"
    p = tmp_path / "entry.hap"
    p.write_bytes(build_hap(module, {"ets/modules.abc": abc, "resources/base/profile/main_pages.json": b'{"src":["pages/Index"]}',
                                     "libs/arm64-v8a/libx.so": b"not an elf but named so"}))  # fmt: skip
    inv = read_artifact(p)
    assert inv.artifact.kind is ArtifactKind.HAP and inv.errors == ()
    mp = inv.miniprogram
    assert (mp.platform, mp.appid, mp.name) == ("harmonyos", "com.example.avatar", None)
    assert inv.manifest.permissions == ("ohos.permission.CAMERA", "ohos.permission.MICROPHONE")
    assert mp.pages == ("pages/Index",)
    assert {"@ohos.multimedia.camera", "@kit.CoreSpeechKit"} <= {a.value for a in mp.apis}
    assert "ai.example.cn" in {h.value for h in inv.strings.hosts}


def test_app_pack_of_haps_is_read_one_level_deep() -> None:
    inner = build_hap({"app": {"bundleName": "com.example.pack"}, "module": {}})
    pack = build_zip({"entry-default.hap": inner, "pack.info": b"{}"})
    inv = read(pack, ArtifactKind.HAP, "x.app")
    assert inv.errors == () and inv.miniprogram.appid == "com.example.pack"
    assert "x.app!entry-default.hap!module.json" in {e.path for e in inv.entries}
    nested = build_zip({"a.hap": pack, "pack.info": b"{}"})
    inv = read(nested, ArtifactKind.HAP, "y.app")
    assert any(e.stage == "limits" for e in inv.errors)


def test_amr_manifest_tar_and_hostile_tar_members() -> None:
    files = {"hpmfile.json": json.dumps({"appid": "70000001", "launchParams": {"url": "/www/index.html"}}).encode(),
             "www/index.html": b'<script>my.call("x");fetch("https://api.example.com/chat")</script>',
             "../escape.js": b"1", "/abs.js": b"2"}  # fmt: skip
    inv = read(build_amr("70000001", files, links={"www/link": "/etc/passwd"}), ArtifactKind.AMR, "70000001_1.amr")
    mp = inv.miniprogram
    assert (mp.platform, mp.appid, inv.artifact.version) == ("alipay", "70000001", "1.0.0.1")
    assert "www/index" in mp.pages
    assert "70000001_1.amr!70000001.tar!www/index.html" in {e.path for e in inv.entries}
    msgs = " | ".join(f"{e.locator}: {e.message}" for e in inv.errors)
    assert "parent directory" in msgs and "absolute path" in msgs and "link member" in msgs
    assert all(e.stage == "tar" for e in inv.errors)


def test_amr_with_garbage_tar_and_xml_bombs() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<package><uid>&b;</uid></package>")  # fmt: skip
    z = build_zip({"Manifest.xml": bomb, "CERT.json": b"{}", "1.tar": b"\x00garbage" * 100})
    inv = read(z, ArtifactKind.AMR, "b.amr")
    stages = {e.stage for e in inv.errors}
    assert "config" in stages and "tar" in stages
    assert inv.miniprogram.appid is None


def _source_files() -> dict[str, bytes]:
    app = {"pages": ["pages/index/index"], "subpackages": [{"root": "pkgA", "pages": ["pages/x"]}],
           "plugins": {"WechatSI": {"version": "0.3.5", "provider": WECHATSI_PROVIDER}}}  # fmt: skip
    return {
        "proj/project.config.json": json.dumps({"appid": "wx00000000000000aa", "projectname": "demo",
                                                "miniprogramRoot": "miniprogram/"}).encode(),
        "proj/miniprogram/app.json": json.dumps(app).encode(),
        "proj/miniprogram/pages/index/index.js": b"wx.createInferenceSession({model:'/m/x.onnx'})",
        "proj/miniprogram/pages/index/index.json": b'{"usingComponents":{"c":"plugin://WechatSI/voice"}}',
        "proj/miniprogram/pages/index/index.wxml": b"<view>\xe7\xbd\x91\xe4\xbf\xa1\xe7\xae\x97\xe5\xa4\x87110108823483901230031\xe5\x8f\xb7</view>",
        "proj/cloudfunctions/chat/package.json": b'{"dependencies":{"openai":"^4.0.0"},"devDependencies":{"jest":"1"}}',
        "proj/cloudfunctions/chat/index.js": b'const OpenAI=require("openai")',
        "proj/node_modules/left-pad/package.json": b'{"dependencies":{"noise":"1"}}',
    }


def test_source_zip(tmp_path: Path) -> None:
    p = tmp_path / "src.zip"
    p.write_bytes(build_zip(_source_files()))
    inv = read_artifact(p)
    assert inv.artifact.kind is ArtifactKind.MINIPROGRAM_SOURCE and inv.errors == ()
    mp = inv.miniprogram
    assert (mp.platform, mp.appid, mp.name) == ("wechat", "wx00000000000000aa", "demo")
    assert mp.pages == ("pages/index/index", "pkgA/pages/x")
    assert [(p.alias, p.provider) for p in mp.plugins] == [("WechatSI", WECHATSI_PROVIDER)]
    assert ("npm:openai", "src.zip!proj/cloudfunctions/chat/package.json") in {(x.value, x.locator) for x in mp.js_libraries}
    assert not {x.value for x in mp.js_libraries} & {"npm:jest", "npm:noise"}
    assert ("wx.createInferenceSession", "src.zip!proj/miniprogram/pages/index/index.js") in {
        (a.value, a.locator) for a in mp.apis
    }
    assert [f.locator for f in inv.strings.filings] == ["src.zip!proj/miniprogram/pages/index/index.wxml"]


def test_source_folder_and_symlinks_out(tmp_path: Path) -> None:
    root = tmp_path / "myapp"
    for name, data in _source_files().items():
        f = root / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
    outside = tmp_path / "secret.js"
    outside.write_text("wx.secret()")
    os.symlink(outside, root / "proj" / "miniprogram" / "link.js")
    inv = read_artifact(root)
    assert inv.artifact.kind is ArtifactKind.MINIPROGRAM_SOURCE and inv.errors == ()
    assert inv.miniprogram.appid == "wx00000000000000aa"
    assert "myapp/proj/miniprogram/pages/index/index.js" in {e.path for e in inv.entries}
    assert "wx.secret" not in {a.value for a in inv.miniprogram.apis}
    # Handed a symlink directly, read_folder refuses it.
    art = Artifact(str(root), "", ArtifactKind.UNKNOWN, 0)
    inv = read_folder(art, root, [root / "proj" / "miniprogram" / "link.js"], Budget(), None)
    assert [e.stage for e in inv.errors][0] == "read"


def test_source_zip_hostile_names_and_missing_app_json() -> None:
    z = build_zip({"app.json": b'{"pages":["a"]}', "../../evil.js": b"wx.x()", "/abs.js": b"1"})
    inv = read(z, ArtifactKind.MINIPROGRAM_SOURCE, "s.zip")
    assert {e.stage for e in inv.errors} == {"zip"} and len(inv.errors) == 2
    inv = read(build_zip({"readme.md": b"hi"}), ArtifactKind.MINIPROGRAM_SOURCE, "n.zip")
    assert inv.errors[-1].stage == "config"


@pytest.mark.parametrize("kind", [ArtifactKind.RPK, ArtifactKind.HAP, ArtifactKind.AMR, ArtifactKind.MINIPROGRAM_SOURCE])
def test_zip_kinds_on_garbage_never_raise(kind: ArtifactKind) -> None:
    for data in (b"", b"PK\x03\x04" + bytes(40), b"PK\x05\x06" + bytes(18), os.urandom(3000)):
        inv = read(data, kind, "g")
        assert inv.errors

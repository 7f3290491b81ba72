"""Every real sample in ../shared/samples/miniprogram parses (or fails as documented); encrypted twins match.

Skips when ../shared is absent (conftest ``samples`` fixture).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from scanner.miniprogram import read_miniprogram
from scanner.miniprogram.errors import WxapkgFormatError
from scanner.miniprogram.wxapkg import decrypt_v1mmwx, head_ok, parse_wxapkg
from scanner.model import Artifact, ArtifactKind
from scanner.reader import read_artifact
from scanner.zipread import Budget

PAIRS = [
    ("wankko17___APP___V1MMWX_wx6e24c691f9a50e44.wxapkg", "wankko17___APP___plain_with_plugin.wxapkg",
     "wx6e24c691f9a50e44"),
    ("wankko17__packageA__V1MMWX_wx6e24c691f9a50e44.wxapkg", "wankko17__packageA__plain_subpackage.wxapkg",
     "wx6e24c691f9a50e44"),
]  # fmt: skip
XIA = ("xia___APP___V1MMWX_wx01bb1ef166cd3f4e.wxapkg", "wx01bb1ef166cd3f4e")

#: What each sample yields: kind, platform, appid, plugin providers, number of files (entries), errors.
EXPECTED: dict[str, tuple[str, str | None, str | None, set[str], int]] = {
    "wechat/jamielhf_test_plain_app.wxapkg": ("wxapkg", "wechat", None, set(), 125),
    "wechat/tracy_test_plain_app.wxapkg": ("wxapkg", "wechat", None, set(), 58),
    "wechat/xia_calculator_plain_app.wxapkg": ("wxapkg", "wechat", None, set(), 21),
    "wechat/xia_tiaoyitiao_minigame.wxapkg": ("wxapkg", "wechat", None, set(), 177),
    "wechat/zaratustra_framework_WA.wxapkg": ("wxapkg", "wechat", None, set(), 5),
    "wechat/wankko17___APP___plain_with_plugin.wxapkg": ("wxapkg", "wechat", None, {"wxa75efa648b60994b"}, 64),
    "wechat/wankko17___APP___V1MMWX_wx6e24c691f9a50e44.wxapkg":
        ("wxapkg", "wechat", "wx6e24c691f9a50e44", {"wxa75efa648b60994b"}, 64),
    "wechat/wankko17__packageA__plain_subpackage.wxapkg": ("wxapkg", "wechat", None, {"wxa75efa648b60994b", ""}, 95),
    "wechat/wankko17__packageA__V1MMWX_wx6e24c691f9a50e44.wxapkg":
        ("wxapkg", "wechat", "wx6e24c691f9a50e44", {"wxa75efa648b60994b", ""}, 95),
    "wechat/xia___APP___V1MMWX_wx01bb1ef166cd3f4e.wxapkg": ("wxapkg", "wechat", "wx01bb1ef166cd3f4e", set(), 109),
    "douyin/xuedugu_038d897_TPKG_app.ttpkg.js": ("ttpkg", "douyin", "tt451e33a3da20bd7e01", set(), 30),
    "douyin/xuedugu_e2670a8_TPKG_official_demo.pkg": ("ttpkg", "douyin", "tt07e3715e98c9aac0", set(), 1721),
    "douyin/zero199901_29cd3f51_TPKG_app.ttpkg.js": ("ttpkg", "douyin", "ttc6a8b015599fe90101", set(), 84),
    "quickapp/hapjs_Helloworld_signed.rpk": ("rpk", "quickapp", "Helloworld", set(), 4),
    "harmonyos/ohresearch_entry-default-signed.hap": ("hap", "harmonyos", "com.example.helloworld", set(), 8),
    "nebula/mpaas-demo_70000000_1.0.0.6.amr": ("amr", "alipay", "70000000", set(), 11),
    "nebula/OOOOOldZhu_20201126_0.0.0.2.amr": ("amr", "alipay", "20201126", set(), 6),
}  # fmt: skip


@pytest.fixture(scope="module")
def mp(samples: Path) -> Path:
    d = samples / "miniprogram"
    if not d.is_dir():
        pytest.skip("no mini-program samples")
    return d


def test_every_sample_is_covered(mp: Path) -> None:
    """SOURCES.tsv lists no sample this test file forgot."""
    with open(mp / "SOURCES.tsv", encoding="utf-8") as f:
        listed = {row["local_path"] for row in csv.DictReader(f, delimiter="\t")}
    documented = set(EXPECTED) | {"wechat/jamielhf_test1_malformed_36B.wxapkg", "ipa/akali_minimal_empty_plist.ipa"}
    assert listed == documented


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_sample_parses(mp: Path, rel: str) -> None:
    kind, platform, appid, providers, nfiles = EXPECTED[rel]
    inv = read_artifact(mp / rel)
    assert inv.errors == ()
    assert inv.artifact.kind.value == kind
    assert inv.miniprogram is not None
    assert inv.miniprogram.platform == platform
    assert inv.miniprogram.appid == appid
    assert {p.provider for p in inv.miniprogram.plugins} == providers
    assert len(inv.entries) == nfiles
    name = Path(rel).name
    assert all(e.path.startswith(name + "!") for e in inv.entries)
    if kind == "wxapkg":
        assert all(e.path.startswith(name + "!/") for e in inv.entries)


def test_wechat_plugin_declaration_and_references(mp: Path) -> None:
    inv = read_artifact(mp / "wechat/wankko17___APP___plain_with_plugin.wxapkg")
    (p,) = inv.miniprogram.plugins
    assert (p.alias, p.provider, p.version) == ("tencentvideo", "wxa75efa648b60994b", "1.2.4")
    assert p.locator == "wankko17___APP___plain_with_plugin.wxapkg!/app-config.json"
    assert "packageA/pages/video/video" in inv.miniprogram.pages
    apis = {a.value for a in inv.miniprogram.apis}
    assert {"wx.createVideoContext", "wx.request"} <= apis
    assert any(a.locator.endswith("!/app-service.js") for a in inv.miniprogram.apis)


def test_main_and_subpackage_together_resolve_the_alias(mp: Path) -> None:
    files = [(n, (mp / "wechat" / n).read_bytes()) for n in
             ("wankko17___APP___plain_with_plugin.wxapkg", "wankko17__packageA__plain_subpackage.wxapkg")]
    art = Artifact("x", "", ArtifactKind.WXAPKG, 0)
    inv = read_miniprogram(art, files, Budget(), None)
    assert inv.errors == ()
    assert [(p.alias, p.provider) for p in inv.miniprogram.plugins] == [("tencentvideo", "wxa75efa648b60994b")]
    assert len(inv.entries) == 64 + 95 + 2  # both packages' files plus the two packages themselves


def test_douyin_demo_apis(mp: Path) -> None:
    inv = read_artifact(mp / "douyin/xuedugu_e2670a8_TPKG_official_demo.pkg")
    apis = {a.value for a in inv.miniprogram.apis}
    assert {"tt.createEffectCameraStream", "tt.getRecorderManager"} <= apis
    assert "pages/index/index" in inv.miniprogram.pages


def test_quickapp_features_hap_and_nebula(mp: Path) -> None:
    rpk = read_artifact(mp / "quickapp/hapjs_Helloworld_signed.rpk")
    assert [(a.value, a.locator) for a in rpk.miniprogram.apis] == [
        ("system.network", "hapjs_Helloworld_signed.rpk!manifest.json")
    ]
    assert rpk.artifact.version == "1.0.0" and rpk.miniprogram.name == "demo"
    assert any("RPK Sig Block 42" in n.message for n in rpk.notes)
    hap = read_artifact(mp / "harmonyos/ohresearch_entry-default-signed.hap")
    assert hap.miniprogram.pages == ("pages/Index",)
    assert "@ohos.hilog" in {a.value for a in hap.miniprogram.apis}
    assert hap.manifest is not None and hap.manifest.version_name == "1.0.0"
    amr = read_artifact(mp / "nebula/mpaas-demo_70000000_1.0.0.6.amr")
    assert amr.artifact.version == "1.0.0.6"
    assert "mpaas-demo_70000000_1.0.0.6.amr!70000000.tar!index.html" in {e.path for e in amr.entries}
    assert "70000000.h5app.alipay.com" in {h.value for h in amr.strings.hosts}


def test_malformed_36_byte_sample_is_a_documented_error(mp: Path) -> None:
    path = mp / "wechat/jamielhf_test1_malformed_36B.wxapkg"
    inv = read_artifact(path)
    assert inv.artifact.kind is ArtifactKind.UNKNOWN
    assert [e.stage for e in inv.errors] == ["sniff"]
    # Forced through the wxapkg reader it fails with the reader's own error, recorded not raised.
    with pytest.raises(WxapkgFormatError, match="marks are 0x3f"):
        parse_wxapkg(path.read_bytes())
    inv = read_miniprogram(Artifact(str(path), "", ArtifactKind.WXAPKG, 36), [(path.name, path.read_bytes())], Budget(), None)
    assert [(e.stage, e.locator) for e in inv.errors] == [("wxapkg", path.name)]


def test_ipa_is_not_a_miniprogram(mp: Path) -> None:
    inv = read_artifact(mp / "ipa/akali_minimal_empty_plist.ipa")
    assert inv.artifact.kind is ArtifactKind.UNKNOWN and inv.errors[0].stage == "sniff"


@pytest.mark.parametrize("enc,plain,appid", PAIRS)
def test_encrypted_decrypts_byte_identical(mp: Path, enc: str, plain: str, appid: str) -> None:
    raw = (mp / "wechat" / enc).read_bytes()
    assert head_ok(raw, appid)
    assert decrypt_v1mmwx(raw, appid) == (mp / "wechat" / plain).read_bytes()


def test_xia_decrypts_to_a_valid_package(mp: Path) -> None:
    raw = (mp / "wechat" / XIA[0]).read_bytes()
    idx = parse_wxapkg(decrypt_v1mmwx(raw, XIA[1]))
    assert len(idx.entries) == 109 and idx.problems == () and idx.deviations == ()


def _files(inv) -> list[tuple[str, int, str | None]]:
    return [(e.path.split("!", 1)[1], e.size, e.sha256) for e in inv.entries]


@pytest.mark.parametrize("enc,plain,appid", PAIRS)
def test_same_file_list_with_or_without_the_appid(mp: Path, enc: str, plain: str, appid: str) -> None:
    """With the appid from the metadata, or none (the file name carries it), the twin's file list comes out."""
    want = _files(read_artifact(mp / "wechat" / plain))
    with_meta = read_artifact(mp / "wechat" / enc, wxapkg_appid=appid)
    without = read_artifact(mp / "wechat" / enc)
    assert _files(with_meta) == want and _files(without) == want
    assert with_meta.errors == () and without.errors == ()
    assert without.miniprogram.encrypted and without.miniprogram.appid == appid


def test_no_appid_anywhere_recovers_it_from_the_contents(mp: Path, tmp_path: Path) -> None:
    """xia's appid occurs in its own app-service.js: found via the XOR body and verified by decryption."""
    p = tmp_path / "__APP__.wxapkg"
    shutil.copyfile(mp / "wechat" / XIA[0], p)
    inv = read_artifact(p)
    assert inv.errors == () and inv.miniprogram.appid == XIA[1] and len(inv.entries) == 109
    assert any("package contents" in n.message for n in inv.notes)


def test_no_appid_anywhere_reports_what_stayed_locked(mp: Path, tmp_path: Path) -> None:
    """wankko's appid is nowhere in the package: the index tail is listed, the rest is reported, never clean."""
    enc, plain, _ = PAIRS[0]
    p = tmp_path / "__APP__.wxapkg"
    shutil.copyfile(mp / "wechat" / enc, p)
    inv = read_artifact(p)
    (err,) = inv.errors
    assert err.stage == "decrypt" and "Partially scanned" in err.message and "1023" in err.message
    plain_files = {(n, size, sha) for n, size, sha in _files(read_artifact(mp / "wechat" / plain))}
    named = [f for f in _files(inv) if f[0].startswith("/")]
    assert len(named) == 35 and set(named) <= plain_files  # the readable tail, byte-identical
    blob = [f for f in _files(inv) if not f[0].startswith("/")]
    assert len(blob) == 1 and blob[0][0].startswith("<unnamed bytes 2250-")
    assert inv.miniprogram.encrypted and inv.miniprogram.appid is None
    assert "wxa75efa648b60994b" in {p.provider for p in inv.miniprogram.plugins}


def test_wrong_metadata_appid_falls_back_to_the_file_name(mp: Path) -> None:
    enc, plain, appid = PAIRS[1]
    inv = read_artifact(mp / "wechat" / enc, wxapkg_appid="wx0000000000000000")
    assert inv.errors == () and inv.miniprogram.appid == appid
    assert any("did not decrypt" in n.message and "wx0000000000000000" in n.message for n in inv.notes)


def test_folder_of_encrypted_packages_is_one_app(mp: Path, tmp_path: Path) -> None:
    d = tmp_path / "wx6e24c691f9a50e44" / "17"
    d.mkdir(parents=True)
    shutil.copyfile(mp / "wechat" / PAIRS[0][0], d / "__APP__.wxapkg")
    shutil.copyfile(mp / "wechat" / PAIRS[1][0], d / "_packageA_.wxapkg")
    inv = read_artifact(tmp_path / "wx6e24c691f9a50e44")
    assert inv.errors == ()
    assert inv.artifact.kind is ArtifactKind.WXAPKG and inv.miniprogram.appid == "wx6e24c691f9a50e44"
    assert [(p.alias, p.provider) for p in inv.miniprogram.plugins] == [("tencentvideo", "wxa75efa648b60994b")]
    assert "wx6e24c691f9a50e44/17/__APP__.wxapkg!/app-service.js" in {e.path for e in inv.entries}
    assert len(inv.entries) == 64 + 95 + 2

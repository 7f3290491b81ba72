"""Detection on real and toolchain-built apps (issue #3 acceptance 3 and 4) and matcher context rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.fixtures import build_apk
from rules.loader import default_pack
from rules.matcher import evaluate
from rules.model import Capability
from scanner.reader import read_artifact, read_bytes

FIX = Path(__file__).resolve().parent / "fixtures"
PACK = default_pack()
DS = {c.value for c in Capability if c.is_deep_synthesis}


def test_sample_apps_have_no_deep_synthesis(samples: Path) -> None:
    for p in sorted((samples / "apk").glob("*/*.apk")):
        found = [f.rule_id for f in evaluate(read_artifact(p), PACK) if f.capability in DS]
        assert found == [], (p.name, found)


def test_obfuscated_faceunity_app_is_high_confidence_face_manipulation() -> None:
    inv = read_artifact(FIX / "apk/obfuscated_faceapp.apk")
    assert all("faceunity" not in c.lower() for c in inv.classes)  # really obfuscated
    f = next(f for f in evaluate(inv, PACK) if f.rule_id == "face_manipulation.faceunity_nama")
    assert f.capability == "face_manipulation" and f.confidence.value == "high"
    kinds = {e.kind for e in f.evidence}
    assert "native_lib" in kinds and ({"asset", "encrypted_model"} & kinds)
    assert any(e.locator == "obfuscated_faceapp.apk!lib/arm64-v8a/libCNamaSDK.so" for e in f.evidence)


def test_runtime_alone_is_not_deep_synthesis() -> None:
    inv = read_bytes("rt.apk", build_apk({"native_libs": ["libtensorflowlite_jni.so"], "classes": ["org.tensorflow.lite.Interpreter"]}))
    found = evaluate(inv, PACK)
    assert any(f.capability == "ml_runtime" for f in found)
    assert not any(f.capability in DS for f in found)


def test_tts_inside_navigation_sdk_is_ambiguous() -> None:
    nui = PACK.get("speech_synthesis.alibaba_nui_tts")
    navi = PACK.get("speech_synthesis.amap_navi_voice")
    assert nui is not None and navi is not None
    spec: dict = {}
    for part in (nui.fixtures["positive"], navi.fixtures["positive"]):
        for k, v in part.items():
            spec.setdefault(k, [] if isinstance(v, list) else {})
            if isinstance(v, list):
                spec[k] += v
            else:
                spec[k].update(v)
    found = {f.rule_id: f for f in evaluate(read_bytes("navi.apk", build_apk(spec)), PACK)}
    assert found["speech_synthesis.alibaba_nui_tts"].ambiguous
    assert found["speech_synthesis.alibaba_nui_tts"].confidence.value != "high"


def test_liveness_sdk_is_biometric_not_synthesis() -> None:
    rule = PACK.get("biometric_recognition.megvii_faceid")
    assert rule is not None
    found = evaluate(read_bytes("id.apk", build_apk(rule.fixtures["positive"])), PACK)
    assert any(f.capability == "biometric_recognition" for f in found)
    assert not any(f.capability in DS for f in found)


@pytest.mark.parametrize("rule", [r for r in PACK.rules if r.capability is not None], ids=lambda r: r.id)
def test_every_capability_rule_has_a_reference_and_vendor(rule) -> None:  # type: ignore[no-untyped-def]
    assert rule.references and rule.vendor.strip()


def test_wxapkg_wechatsi_is_speech_synthesis_with_plugin_locator() -> None:
    from rules.mpfixtures import build_mp_fixture

    data = build_mp_fixture({"plugins": {"mySI": "wx069ba97219f66d99"}, "js": 'requirePlugin("mySI").textToSpeech({})'})
    inv = read_bytes("si.wxapkg", data)
    f = next(f for f in evaluate(inv, PACK) if f.rule_id == "speech_synthesis.wechat_si_plugin")
    assert f.capability == "speech_synthesis"
    assert f.evidence[0].kind == "mp_plugin" and f.evidence[0].locator == "si.wxapkg!/app-config.json"
    assert "wx069ba97219f66d99" in f.evidence[0].value


def test_wxapkg_cloud_ai_is_text_generation() -> None:
    from rules.mpfixtures import build_mp_fixture

    inv = read_bytes("ai.wxapkg", build_mp_fixture({"js": 'wx.cloud.extend.AI.createModel("deepseek").streamText({})'}))
    f = next(f for f in evaluate(inv, PACK) if f.rule_id == "text_generation.wechat_cloud_ai")
    assert f.capability == "text_generation" and f.confidence.value == "high"
    assert f.evidence[0].locator == "ai.wxapkg!/app-service.js"

"""Code evidence in text: API identifiers, plugin references, bundled libraries (by banner and by path)."""

from __future__ import annotations

import pytest

from scanner.miniprogram.evidence import code_evidence, libraries_by_name, npm_package


def test_code_evidence() -> None:
    text = (
        'wx.cloud.extend.AI.createModel("x").generateText();tt.createEffectCameraStream();my.ap.nsf();'
        'swan.ai.textToAudio();qq.startRecord();wx["createVKSession"]();xwx.bad();o.wx.bad();"//qq.com/x";'
        'requirePlugin("WechatSI");requirePlugin("plugin://wx8c631f7e9f2465e1");'
        '"plugin-private://wxa75efa648b60994b/c.json";import tts from "@service.texttoaudio";'
        "$app_require$('@app-module/system.record');'@ohos:multimedia.camera';import x from '@kit.CoreSpeechKit';"
        "/* @tensorflow/tfjs-core */ ONNX Runtime Web MediaPipe"
    )
    hits = [(h.kind, h.value) for h in code_evidence(text)]
    apis = [v for k, v in hits if k == "api"]
    assert apis[:6] == ["wx.cloud.extend.AI.createModel", "tt.createEffectCameraStream", "my.ap.nsf",
                        "swan.ai.textToAudio", "qq.startRecord", "wx.createVKSession"]  # fmt: skip
    assert not [a for a in apis if "bad" in a or a.startswith("qq.com")]
    assert {"service.texttoaudio", "system.record", "@ohos.multimedia.camera", "@kit.CoreSpeechKit"} <= set(apis)
    assert ("plugin_require", "WechatSI") in hits and ("plugin_require", "plugin://wx8c631f7e9f2465e1") in hits
    assert ("plugin_ref", "wxa75efa648b60994b") in hits
    assert {v for k, v in hits if k == "library"} == {"tfjs", "onnxruntime-web", "mediapipe"}


@pytest.mark.parametrize(
    "path,libs",
    [
        ("/libs/tf.min.js", ["tfjs"]),
        ("/miniprogram_npm/@tensorflow/tfjs-core/index.js", ["tfjs"]),
        ("/ort-wasm-simd-threaded.wasm", ["onnxruntime-web"]),
        ("/utils/ort.min.js", ["onnxruntime-web"]),
        ("/paddlejs/core.js", ["paddlejs"]),
        ("/mediapipe/face_mesh_solution_simd_wasm_bin.wasm", ["mediapipe"]),
        ("/static/opencv.js", ["opencv.js"]),
        ("/pages/index/index.js", []),
        ("/utils/sort.js", []),
    ],
)
def test_libraries_by_name(path: str, libs: list[str]) -> None:
    assert libraries_by_name(path) == libs


def test_npm_package() -> None:
    assert npm_package("/miniprogram_npm/@vant/weapp/button/index.js") == "@vant/weapp"
    assert npm_package("cloudfunctions/x/node_modules/openai/index.js") == "openai"
    assert npm_package("/pages/index.js") is None

"""Text evidence: the windowed string scan equals a full scan; API/plugin/library extraction."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.miniprogram.evidence import code_evidence, libraries_by_name, npm_package, scan_strings
from scanner.miniprogram.ttpkg import parse_ttpkg
from scanner.miniprogram.wxapkg import parse_wxapkg
from scanner.strings import StringCollector

TRICKY = [
    "x" * 5000 + "网信算备110108823483901230031号" + "y" * 5000,
    "a" * 3000 + "京ICP备2023031661号-3A" + "z" * 3000,
    "filler " * 900 + "以上内容由 AI 生成" + " filler" * 900,
    "q" * 4000 + "Beijing-YunQue-20230821" + "w" * 4000,
    "k" * 4000 + "XYZBeijing-YunQue-20230821 and https://beian.cac.gov.cn/#/index" + "k" * 100,
    "-" * 4000 + "https://api.example.com/" + "p" * 90_000 + " end",
    "TC260:AIGC " + "m" * 6000 + '{"AIGC":{"ContentProducer":"x"}} c2pa.created trainedAlgorithmicMedia',
    "v" * 9000 + "http://www.tc260.org.cn/ns/AIGC/1.0/" + "v" * 10,
]


def _both(text: str) -> tuple[object, object]:
    a, b = StringCollector(), StringCollector()
    scan_strings(a, text, "t")
    b.scan_text(text, "t")
    return a.result(), b.result()


@pytest.mark.parametrize("text", TRICKY)
def test_windowed_scan_equals_full_scan(text: str) -> None:
    windowed, full = _both(text)
    assert windowed == full


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(["网信算备", "110108823483901230031", "号", "https://", "a.example.com/x", "ICP备",
                                  "京", "2023031661", "由AI生成", " ", "-", "Beijing", "Yun", "-20230821", "AIGC",
                                  "beian.cac.gov.cn", "x" * 700, "中" * 300, "\n", '"', "c2pa.actions"]),
                max_size=60))  # fmt: skip
def test_windowed_scan_equals_full_scan_property(parts: list[str]) -> None:
    windowed, full = _both("".join(parts))
    assert windowed == full


def test_windowed_scan_equals_full_scan_on_samples(samples: Path) -> None:
    for p in sorted((samples / "miniprogram").glob("*/*")):
        data = p.read_bytes()
        if data[:1] == b"\xbe":
            idx = parse_wxapkg(data)
        elif data[:4] == b"TPKG":
            idx = parse_ttpkg(data)
        else:
            continue
        for e in idx.entries:
            if e.name.endswith((".js", ".json", ".html", ".wxss")):
                text = data[e.offset : e.offset + e.size].decode("utf-8", "replace")
                windowed, full = _both(text)
                assert windowed == full, (p.name, e.name)


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

"""Code evidence in mini-program text: platform API calls, plugin references, bundled JS libraries.

Mini-program code is big minified JS (app-service.js is 0.5–1.5 MB, demo packages carry 1,700 files), so
each text gets two literal-led regex passes and a few ``in`` tests (~20 ms per MB). Strings of interest
(URLs, hosts, filing numbers) come from :class:`~scanner.strings.StringCollector`. The scanner decides
nothing: library ids below name what is bundled, not a capability.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_NOT_API = frozenset("com cn net org io html htm js json png jpg jpeg gif css wxss wxml ttml axml swan qml".split())

# Platform objects whose members are APIs: wx (WeChat), tt (Douyin), my (Alipay), swan (Baidu), qq (QQ).
# Three passes, each with a rare first character, beat one alternation with a look-behind by 5×.
_API = re.compile(
    r"(?:wx|tt|my|swan|qq)(?:(?:\.[A-Za-z_$][\w$]*){1,8}|\[\s*[\"'](?P<member>[A-Za-z_$][\w$]*)[\"']\s*\])",
    re.ASCII,
)
_API_BEFORE = frozenset("$./@-_" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_MISC = re.compile(
    r"requirePlugin\(\s*[\"'](?P<req>[^\"'\\\s]{1,200})[\"']"
    r"|plugin(?:-private)?://(?P<pref>[A-Za-z0-9_\-]{1,64})"
    r"|@(?:app-module/)?(?P<qa>(?:system|service)\.[A-Za-z0-9_.]{1,80})"
    r"|@(?P<oh>ohos|hms|kit)[:.](?P<ohm>[A-Za-z][A-Za-z0-9_.]{0,120})",
    re.ASCII,
)

#: Banner/import strings → library id.
_LIB_BANNERS = {
    "@tensorflow/tfjs": "tfjs", "tfjs-core": "tfjs", "TensorFlow.js": "tfjs",
    "onnxruntime-web": "onnxruntime-web", "onnxruntime_web": "onnxruntime-web",
    "ONNX Runtime Web": "onnxruntime-web", "ort-wasm": "onnxruntime-web",
    "@paddlejs": "paddlejs", "paddlejs": "paddlejs",
    "@mediapipe/": "mediapipe", "MediaPipe": "mediapipe",
    "face-api.js": "face-api.js", "opencv.js": "opencv.js", "OpenCV.js": "opencv.js",
    "@xenova/transformers": "transformers.js", "@huggingface/transformers": "transformers.js",
}  # fmt: skip

#: File-name patterns → library id (bundled builds keep their dist names: tf.min.js, ort-wasm-simd.wasm…).
_LIB_FILES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("tfjs", re.compile(
        r"(?:^|/)(?:tf|tfjs)(?:[.-][\w.-]*)?\.js$|@tensorflow/|(?:^|/)tfjs[\w-]*/|tfjs-backend-wasm[\w-]*\.wasm$"
    )),
    ("onnxruntime-web", re.compile(r"(?:^|/)ort(?:\.[\w-]+)*\.m?js$|ort-wasm[\w-]*\.wasm$|onnxruntime[-_]web")),
    ("paddlejs", re.compile(r"paddlejs|paddle-js")),
    ("mediapipe", re.compile(r"mediapipe|vision_wasm_internal|(?:^|/)face_mesh[\w.]*$|selfie_segmentation")),
    ("opencv.js", re.compile(r"(?:^|/)opencv(?:[.-][\w.-]*)?\.js$|opencv_js\.wasm$")),
    ("face-api.js", re.compile(r"face-api(?:\.min)?\.js$|(?:^|/)face-api\.js/")),
    ("transformers.js", re.compile(r"@xenova/transformers|@huggingface/transformers|(?:^|/)transformers(?:\.min)?\.js$")),
)
_NPM_DIR = re.compile(r"(?:^|/)(?:miniprogram_npm|node_modules)/((?:@[\w.-]+/)?[\w.-]+)/")

@dataclass(frozen=True)
class CodeHit:
    """One piece of code evidence: ``kind`` is api | plugin_require | plugin_ref | library."""

    kind: str
    value: str


def code_evidence(text: str) -> Iterator[CodeHit]:
    """API identifiers, plugin references and library banners in one text (not deduplicated)."""
    for m in _API.finditer(text):
        i = m.start()
        if i and text[i - 1] in _API_BEFORE:  # part of a longer name (``a.wx.x``, ``xwx.y``, ``qq.com/``)
            continue
        v = m.group()
        member = m.group("member")
        if member:
            v = f"{v[: v.index('[')]}.{member}"
        elif v.split(".")[1] in _NOT_API:
            continue
        yield CodeHit("api", v)
    for m in _MISC.finditer(text):
        g = m.lastgroup
        if g == "req":
            yield CodeHit("plugin_require", m.group("req"))
        elif g == "pref":
            yield CodeHit("plugin_ref", m.group("pref"))
        elif g == "qa":
            yield CodeHit("api", m.group("qa").rstrip("."))
        elif g == "ohm":
            yield CodeHit("api", f"@{m.group('oh')}.{m.group('ohm').rstrip('.')}")
    for banner, lib in _LIB_BANNERS.items():
        if banner in text:
            yield CodeHit("library", lib)


def libraries_by_name(path: str) -> list[str]:
    """Library ids a file's path alone points to (``tf.min.js`` → tfjs, ``ort-wasm-simd.wasm`` → onnxruntime-web)."""
    low = path.lower()
    return [lib for lib, rx in _LIB_FILES if rx.search(low)]


def npm_package(path: str) -> str | None:
    """The npm package a bundled file belongs to (``miniprogram_npm/<pkg>/…``, ``node_modules/<pkg>/…``)."""
    m = _NPM_DIR.search(path)
    return m.group(1) if m else None

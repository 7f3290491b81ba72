"""Evidence from mini-program text: platform API calls, plugin references, bundled JS libraries, strings.

Mini-program code is big minified JS (app-service.js is 0.5–1.5 MB, demo packages carry 1,700 files), so
each text is scanned by one combined regex for the code evidence, and strings of interest are extracted
by :class:`~scanner.strings.StringCollector` only from windows around cheap anchors ("://", "备", "ICP",
"生成"…): the collector's full regex costs ~0.2 s per MB, the anchor pass ~6 ms, with the same result.
The scanner decides nothing: library ids below are names for what is bundled, not capabilities.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from scanner.strings import StringCollector

#: Platform objects whose members are mini-program APIs (WeChat, Douyin, Alipay, Baidu, QQ).
PLATFORM_PREFIXES = ("wx", "tt", "my", "swan", "qq")
_NOT_API = frozenset("com cn net org io html htm js json png jpg jpeg gif css wxss wxml ttml axml swan qml".split())

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
    ("tfjs", re.compile(r"(?:^|/)(?:tf|tfjs)(?:[.-][\w.-]*)?\.js$|@tensorflow/|(?:^|/)tfjs[\w-]*/|tfjs-backend-wasm[\w-]*\.wasm$")),
    ("onnxruntime-web", re.compile(r"(?:^|/)ort(?:\.[\w-]+)*\.m?js$|ort-wasm[\w-]*\.wasm$|onnxruntime[-_]web")),
    ("paddlejs", re.compile(r"paddlejs|paddle-js")),
    ("mediapipe", re.compile(r"mediapipe|vision_wasm_internal|(?:^|/)face_mesh[\w.]*$|selfie_segmentation")),
    ("opencv.js", re.compile(r"(?:^|/)opencv(?:[.-][\w.-]*)?\.js$|opencv_js\.wasm$")),
    ("face-api.js", re.compile(r"face-api(?:\.min)?\.js$|(?:^|/)face-api\.js/")),
    ("transformers.js", re.compile(r"@xenova/transformers|@huggingface/transformers|(?:^|/)transformers(?:\.min)?\.js$")),
)
_NPM_DIR = re.compile(r"(?:^|/)(?:miniprogram_npm|node_modules)/((?:@[\w.-]+/)?[\w.-]+)/")

#: Strings of interest can only start near one of these (see module docstring).
_ANCHOR = re.compile(
    r"://|备|ICP|beian|AIGC|TC260|ContentProducer|ReservedCode1|PropagateID|trainedAlgorithmicMedia|c2pa"
    r"|生成|合成|AI创作|-\d{8}"
)
_TOKEN_PUNCT = frozenset("-_.:/%~")
_URL_END = re.compile(r"[^A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%{}|^]")
_BACK = 128
_AHEAD = 256


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


def scan_strings(collector: StringCollector, text: str, locator: str) -> None:
    """``collector.scan_text`` over only the windows of ``text`` where a string of interest can start."""
    start = end = -1
    for m in _ANCHOR.finditer(text):
        a = m.start()
        if a < end:  # inside the current window: extend it (only when it reaches past; keeps this linear)
            if a + len(m.group()) + _AHEAD > end:
                end = _right(text, a + len(m.group()) + _AHEAD)
            continue
        if end >= 0:
            collector.scan_text(text[start:end], locator)
        start = _left(text, max(0, a - _BACK))
        end = _right(text, a + len(m.group()) + _AHEAD)
    if end >= 0:
        collector.scan_text(text[start:end], locator)


def _left(text: str, s: int) -> int:
    """Move a window start back to a token boundary so no match starts mid-token."""
    lo = max(0, s - _BACK)
    while s > lo and (text[s - 1].isalnum() or text[s - 1] in _TOKEN_PUNCT):
        s -= 1
    return s


def _right(text: str, e: int) -> int:
    """Move a window end forward past the URL-ish run it may cut (texts are capped, so this is bounded)."""
    if e >= len(text):
        return len(text)
    m = _URL_END.search(text, e)
    return m.start() if m else len(text)

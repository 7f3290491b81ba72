"""Format detection by bytes (extensions only break ties for formats that have no magic).

Model formats follow ``../shared/reference/sdk-signatures.md`` §9 and the real samples in
``../shared/samples/models``; an extension never makes a format on its own except where the format has
no magic at all (ncnn ``.bin``, MNN), and then only together with a plausibility check on the bytes.
"""

from __future__ import annotations

import math
import struct
from collections import Counter

try:  # compiled twin of entropy_py (scanner/_speedups.c)
    from scanner._speedups import entropy as _c_entropy
except ImportError:  # pragma: no cover - built by `pip install`; absent only without a C compiler
    _c_entropy = None

#: Formats that are (or are likely to be) ML models; their entries get a hash and an entropy figure.
MODEL_FORMATS = frozenset(
    {
        "tflite", "gguf", "onnx", "ncnn_param", "ncnn_bin", "mnn", "paddle_nb", "caffe", "caffe2_pb",
        "tensorflow_pb", "pytorch", "executorch", "safetensors", "tnn", "ort", "encrypted_blob",
    }
)

#: File suffixes ModelXRay treats as model candidates (RiS3-Lab/ModelXRay:modelxray.config).
MODEL_SUFFIXES = frozenset(
    "pb model bin rf tflite param proto androidmodel rpnmodel prototxt pbtxt caffemodel caffe modle lite ckpt "
    "tensorflow dlc params tfl onnx ort mnn nb gguf ptl pte safetensors tnnproto tnnmodel ms bundle".split()
)

TEXT_SUFFIXES = frozenset("js json html htm txt xml wxml wxss css mjs cjs ts vue md yaml yml properties csv".split())


def sniff(prefix: bytes, name: str = "", size: int | None = None) -> str:
    """Name the format of a blob from its first bytes (4 KiB is plenty) and, for magic-less formats, its name."""
    p = prefix
    low = name.lower()
    ext = low.rsplit(".", 1)[-1] if "." in low.rsplit("/", 1)[-1] else ""
    if len(p) >= 8 and p[:4] == b"dex\n" and p[7] == 0:
        return "dex"
    if p[:4] == b"\x7fELF":
        return "elf"
    if p[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if len(p) >= 8 and p[4:8] == b"TFL3":
        return "tflite"
    if p[:4] == b"GGUF":
        return "gguf"
    if len(p) >= 8 and p[4:8] in (b"ET12", b"ET13", b"ET14", b"ET15"):
        return "executorch"
    if p[:7] == b"7767517":
        return "ncnn_param"
    if p[:6] == b"V1MMWX" or (len(p) >= 14 and p[0] == 0xBE and p[13] == 0xED):
        return "wxapkg"
    if p[:4] == b"TPKG":
        return "ttpkg"
    if p[:4] == b"\x00asm":
        return "wasm"
    if p[:4] == b"\x03\x00\x08\x00":
        return "axml"
    if p[:4] == b"\x02\x00\x0c\x00":
        return "arsc"
    if p[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if p[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if p[:4] == b"RIFF" and p[8:12] == b"WEBP":
        return "webp"
    if p[:4] in (b"GIF8",):
        return "gif"
    if p[:4] == b"OggS":
        return "ogg"
    if p[:3] == b"ID3" or (len(p) > 1 and p[0] == 0xFF and (p[1] & 0xE0) == 0xE0 and ext == "mp3"):
        return "mp3"
    if p[4:8] == b"ftyp":
        return "mp4"
    if p[:4] in (b"\x00\x01\x00\x00", b"OTTO", b"true") and ext in ("ttf", "otf"):
        return "font"
    if p[:2] == b"\x1f\x8b":
        return "gzip"
    if len(p) >= 262 and p[257:262] == b"ustar":
        return "tar"
    if _is_safetensors(p, size):
        return "safetensors"
    if ext == "onnx" or _looks_onnx(p):
        return "onnx"
    if ext == "ort" and p[4:8] == b"ORTM":
        return "ort"
    if ext == "nb" and len(p) > 4 and p[2:3] == b"v" and p[3:4].isdigit():
        return "paddle_nb"
    if ext == "caffemodel" and p[:1] == b"\x0a":
        return "caffe"
    if ext == "pb" and p[:1] == b"\x0a":
        if p[:3] == b"\x0a\x00\x12":
            return "caffe2_pb"
        return "tensorflow_pb"
    if ext == "mnn" and len(p) >= 8:
        (root,) = struct.unpack_from("<I", p, 0)
        if 4 <= root < 4096 and root % 4 == 0:
            return "mnn"
    if ext in ("tnnproto", "tnnmodel"):
        return "tnn"
    if _is_text(p):
        if ext == "json" or p.lstrip()[:1] in (b"{", b"["):
            return "json"
        if ext in ("html", "htm") or p.lstrip()[:5].lower() in (b"<!doc", b"<html"):
            return "html"
        if ext in ("js", "mjs", "cjs"):
            return "js"
        if p.lstrip()[:5] == b"<?xml" or ext in ("xml", "wxml"):
            return "xml"
        return "text"
    return "data"


def _is_safetensors(p: bytes, size: int | None) -> bool:
    if len(p) < 10:
        return False
    (n,) = struct.unpack_from("<Q", p, 0)
    return 2 <= n < 100_000_000 and p[8:9] == b"{" and (size is None or n + 8 <= size) and p[9:10] in (b'"', b" ", b"\n")


def _looks_onnx(p: bytes) -> bool:
    # ModelProto: field 1 ir_version (varint, 1..12), then field 2 producer_name (string) — see samples.
    return len(p) > 8 and p[0] == 0x08 and 1 <= p[1] <= 12 and p[2] == 0x12 and 1 <= p[3] <= 64 and p[4:5].isalpha()


def _is_text(p: bytes) -> bool:
    if not p:
        return False
    sample = p[:1024]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        return exc.start >= len(sample) - 3  # a multi-byte char cut by the sample end


def entropy_py(data: bytes) -> float:
    """Shannon entropy in bits per byte (ModelXRay: > 7.5 suggests an encrypted or compressed blob).

    The specification of the compiled ``entropy``: terms in first-occurrence order, summed left to right
    (an explicit loop, so the bits do not depend on how a Python version's ``sum`` adds floats)."""
    if not data:
        return 0.0
    n = len(data)
    total = 0.0
    for c in Counter(data).values():
        total += c / n * math.log2(c / n)
    return -total


def entropy(data: bytes) -> float:
    """:func:`entropy_py`, compiled where scanner._speedups is built (same bits, ~50x faster)."""
    return _c_entropy(data) if _c_entropy is not None else entropy_py(data)

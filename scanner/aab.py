"""Android App Bundle manifests: aapt2's protobuf ``XmlNode`` (Resources.proto) → the Manifest tree.

Hand-written wire-format decoding of the five fields needed: shipping aapt2's .proto files and generated
classes for one message would be heavier than these forty lines, and no kept PyPI package provides them.
"""

from __future__ import annotations

from lxml import etree

from scanner.errors import ReadError
from scanner.manifest import ManifestError, manifest_from_tree
from scanner.model import Manifest

_MAX_DEPTH = 64


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes):  # type: ignore[no-untyped-def]
    """Yield (field number, wire type, value) for one message; length-delimited values as bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = _varint(buf, pos)
        elif wt == 2:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("length-delimited field overruns its message")
            val, pos = buf[pos : pos + n], pos + n
        elif wt == 5:
            val, pos = buf[pos : pos + 4], pos + 4
        elif wt == 1:
            val, pos = buf[pos : pos + 8], pos + 8
        else:
            raise ValueError(f"unsupported wire type {wt}")
        yield num, wt, val


def _element(buf: bytes, depth: int):  # type: ignore[no-untyped-def]
    if depth > _MAX_DEPTH:
        raise ValueError("XML nesting too deep")
    name, attrs, children = "", [], []
    for num, wt, val in _fields(buf):
        if num == 3 and wt == 2:
            name = val.decode("utf-8", "replace")
        elif num == 4 and wt == 2:
            ns = an = av = ""
            for n2, w2, v2 in _fields(val):
                if w2 != 2:
                    continue
                if n2 == 1:
                    ns = v2.decode("utf-8", "replace")
                elif n2 == 2:
                    an = v2.decode("utf-8", "replace")
                elif n2 == 3:
                    av = v2.decode("utf-8", "replace")
            attrs.append((ns, an, av))
        elif num == 5 and wt == 2:
            for n2, w2, v2 in _fields(val):
                if n2 == 1 and w2 == 2:
                    children.append(_element(v2, depth + 1))
    el = etree.Element(name or "unnamed")
    for ns, an, av in attrs:
        if an:
            el.set(f"{{{ns}}}{an}" if ns else an, av)
    for c in children:
        el.append(c)
    return el


def parse_proto_manifest(data: bytes, locator: str) -> Manifest:
    """Parse a bundle module's protobuf AndroidManifest.xml."""
    try:
        root = None
        for num, wt, val in _fields(data):
            if num == 1 and wt == 2:
                root = _element(val, 0)
                break
    except (ValueError, etree.LxmlError) as exc:
        raise ManifestError(f"protobuf manifest unreadable: {exc}", locator, "manifest") from exc
    if root is None:
        raise ManifestError("protobuf manifest has no root element", locator, "manifest")
    try:
        return manifest_from_tree(root, None, locator)
    except ReadError:
        raise

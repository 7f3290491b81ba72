"""parse_manifest's event-driven reader against the AXMLPrinter tree it replaced (the oracle).

Real manifests (../shared samples when present, the fixture APKs always), hand-built binary XML that walks
the printer's odd corners (fixed names, comments, text, stray tags, bad namespaces, bad values), and
seeded mutations: the result must be the same Manifest, or the same ManifestError.
"""

from __future__ import annotations

import random
import re
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from scanner import manifest as mf
from scanner.manifest import ManifestError, parse_manifest
from scanner.model import Manifest
from scanner.zipread import Budget, ZipArchive

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parents[1] / "shared" / "samples" / "apk"
SAMPLE_APKS = sorted(SAMPLES.rglob("*.apk")) if SAMPLES.is_dir() else []
FIXTURE_APKS = sorted((HERE / "fixtures").rglob("*.apk"))
ANDROID = "http://schemas.android.com/apk/res/android"
LOC = "t.apk!AndroidManifest.xml"
_RANDOM_NAME = re.compile(r"UNKNOWN_SYSTEM_ATTRIBUTE_[0-9a-f]{8}")


def _outcome(fn: Callable[[bytes, bytes | None, str], object], axml: bytes, arsc: bytes | None) -> object:
    """The Manifest, or (exception type, message): what callers can observe."""
    try:
        return fn(axml, arsc, LOC)
    except Exception as exc:  # the comparison decides whether it is the expected kind
        # androguard names an attribute missing from the pool with a random number: mask it
        return type(exc), _RANDOM_NAME.sub("UNKNOWN_SYSTEM_ATTRIBUTE_*", str(exc))


def _assert_same(axml: bytes, arsc: bytes | None = None) -> object:
    new = _outcome(parse_manifest, axml, arsc)
    assert new == _outcome(mf._parse_manifest_printer, axml, arsc)
    if isinstance(new, tuple):
        assert new[0] is ManifestError, new  # never another exception type
    return new


def _members(path: Path) -> tuple[bytes, bytes | None] | None:
    """AndroidManifest.xml and resources.arsc through the scanner's own zip layer (None when it has none or
    the archive is unreadable: an unreadable archive is another test's subject)."""
    try:
        za = ZipArchive(path.read_bytes(), str(path), Budget())
        by_name = {m.name: m for m in za.members}
        if "AndroidManifest.xml" not in by_name:
            return None
        axml = za.read(by_name["AndroidManifest.xml"])
        arsc = za.read(by_name["resources.arsc"]) if "resources.arsc" in by_name else None
    except Exception:  # noqa: BLE001
        return None
    return axml, arsc


# Only samples that carry a readable manifest are compared (an LFS pointer and two manifest-less zips are not).
SAMPLES_WITH_MANIFEST = [p for p in SAMPLE_APKS if _members(p) is not None]


@pytest.mark.skipif(not SAMPLE_APKS, reason="../shared/samples is not present")
@pytest.mark.parametrize("path", SAMPLES_WITH_MANIFEST, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_samples_match_printer(path: Path) -> None:
    got = _members(path)
    assert got is not None
    _assert_same(*got)


@pytest.mark.parametrize("path", FIXTURE_APKS, ids=lambda p: str(p.relative_to(HERE / "fixtures")))
def test_fixtures_match_printer(path: Path) -> None:
    got = _members(path)
    assert got is not None
    axml, arsc = got
    assert mf._scan_events(axml) is not None  # ordinary manifests take the fast path, not the fallback
    _assert_same(axml, arsc)


# -- hand-built binary XML ---------------------------------------------------------------------------------


class Axml:
    """A minimal AXML writer: chunks in the order they are added, one UTF-16 string pool."""

    def __init__(self, mapped: tuple[tuple[str, int], ...] = (("name", 0x01010003), ("label", 0x01010001))) -> None:
        self.pool: list[str] = [n for n, _ in mapped]
        self.resmap = [i for _, i in mapped]
        self.chunks = bytearray()

    def s(self, text: str | None) -> int:
        if text is None:
            return 0xFFFFFFFF
        if text not in self.pool:
            self.pool.append(text)
        return self.pool.index(text)

    def _node(self, typ: int, body: bytes, comment: str | None = None) -> Axml:
        self.chunks += struct.pack("<HHIII", typ, 16, 16 + len(body), 1, self.s(comment)) + body
        return self

    def ns(self, prefix: str, uri: str, end: bool = False) -> Axml:
        return self._node(0x0101 if end else 0x0100, struct.pack("<II", self.s(prefix), self.s(uri)))

    def start(self, tag: str, attrs: Sequence[tuple] = (), uri: str | None = None, comment: str | None = None) -> Axml:
        """``attrs``: (uri or None, name, value) with value a str, an int, or (type, data)."""
        body = struct.pack("<IIHHHHHH", self.s(uri), self.s(tag), 20, 20, len(attrs), 0, 0, 0)
        for a_uri, name, value in attrs:
            if isinstance(value, str):
                raw, typ, data = self.s(value), 0x03, self.s(value)
            elif isinstance(value, int):
                raw, typ, data = 0xFFFFFFFF, 0x10, value
            else:
                raw, (typ, data) = 0xFFFFFFFF, value
            body += struct.pack("<IIIHBBI", self.s(a_uri), self.s(name), raw, 8, 0, typ, data)
        return self._node(0x0102, body, comment)

    def end(self, tag: str, uri: str | None = None) -> Axml:
        return self._node(0x0103, struct.pack("<II", self.s(uri), self.s(tag)))

    def text(self, text: str) -> Axml:
        return self._node(0x0104, struct.pack("<IHBBI", self.s(text), 8, 0, 0, 0))

    def build(self) -> bytes:
        data = bytearray()
        offsets = []
        for text in self.pool:
            offsets.append(len(data))
            raw = text.encode("utf-16-le", "surrogatepass")
            data += struct.pack("<H", len(raw) // 2) + raw + b"\x00\x00"
        while len(data) % 4:
            data.append(0)
        start = 28 + 4 * len(self.pool)
        pool = struct.pack("<HHIIIIII", 0x0001, 28, start + len(data), len(self.pool), 0, 0, start, 0)
        pool += b"".join(struct.pack("<I", o) for o in offsets) + bytes(data)
        resmap = b"".join(struct.pack("<I", i) for i in self.resmap)
        body = pool + struct.pack("<HHI", 0x0180, 8, 8 + len(resmap)) + resmap + bytes(self.chunks)
        return struct.pack("<HHI", 0x0003, 8, 8 + len(body)) + body


def _open(doc: Axml | None = None, comment: str | None = None) -> Axml:
    doc = (doc or Axml()).ns("android", ANDROID)
    return doc.start(
        "manifest",
        [(None, "package", "com.ex"), (ANDROID, "versionCode", 7), (ANDROID, "versionName", "1.0"),
         (None, "versionName", "bare")],
        comment=comment,
    )


def _close(doc: Axml) -> bytes:
    return doc.end("manifest").ns("android", ANDROID, end=True).build()


def _rich() -> Axml:
    doc = _open()
    doc.start("uses-sdk", [(ANDROID, "minSdkVersion", 21), (ANDROID, "targetSdkVersion", "34")]).end("uses-sdk")
    for perm in ("android.permission.CAMERA", "CAMERA", "android.permission.CAMERA", ".Local"):
        doc.start("uses-permission", [(ANDROID, "name", perm)]).end("uses-permission")
    doc.start("uses-permission", [(None, "name", "bare.only")]).end("uses-permission")
    doc.start("uses-permission", [(None, "name", "bare.loses"), (ANDROID, "name", "ns.wins")]).end("uses-permission")
    doc.start("uses-permission-sdk-23", [(ANDROID, "name", "p23")]).end("uses-permission-sdk-23")
    doc.start("uses-permission-sdk-23", [(ANDROID, "name", "p23")]).end("uses-permission-sdk-23")
    doc.start("application", [(ANDROID, "label", (0x01, 0x7F0B0001)), (ANDROID, "debuggable", (0x12, 1))])
    doc.start("activity", [(ANDROID, "name", ".Main"), (ANDROID, "name", "second.wins")]).end("activity")
    doc.start("activity", [(ANDROID, "name", "Plain")])
    doc.start("meta-data", [(ANDROID, "name", "inner"), (ANDROID, "resource", (0x01, 0x7F020001))]).end("meta-data")
    doc.end("activity")
    doc.start("activity", [(ANDROID, "exported", (0x12, 0))]).end("activity")  # no name: dropped
    doc.start("activity", [(ANDROID, "name", "ns.Activity")], uri=ANDROID).end("activity", uri=ANDROID)
    doc.start("activity-alias", [(ANDROID, "name", ".Alias")]).end("activity-alias")
    doc.start("service", [(ANDROID, "name", ".S"), (ANDROID, "process", ":remote")]).end("service")
    doc.start("receiver", [(ANDROID, "name", ".R")]).end("receiver")
    doc.start("provider", [(ANDROID, "name", ".P"), (ANDROID, "initOrder", (0x11, 0xFF))]).end("provider")
    doc.start("meta-data", [(ANDROID, "name", "k"), (ANDROID, "value", "v")]).end("meta-data")
    doc.start("meta-data", [(ANDROID, "name", "f"), (ANDROID, "value", (0x04, 0x3F800000))]).end("meta-data")
    doc.start("meta-data", [(ANDROID, "name", "d"), (ANDROID, "value", (0x05, 0x00000101))]).end("meta-data")
    doc.start("meta-data", [(ANDROID, "name", "c"), (ANDROID, "value", (0x1C, 0xFF00FF00))]).end("meta-data")
    doc.start("meta-data", [(ANDROID, "name", "n"), (ANDROID, "value", (0x10, 0xFFFFFFFF))]).end("meta-data")
    doc.start("meta-data", [(ANDROID, "name", "nul"), (ANDROID, "value", "a\x00b")]).end("meta-data")
    doc.start("meta-data", [(ANDROID, "name", "ctl"), (ANDROID, "value", "a\x01b\ud800")]).end("meta-data")
    doc.start("", [(ANDROID, "name", "unread")])  # a nameless element: skipped, its children kept
    doc.start("service", [(ANDROID, "name", "under.nameless")]).end("service")
    doc.end("")
    doc.end("application")
    doc.start("application", [(ANDROID, "label", "second app")], uri=ANDROID).end("application", uri=ANDROID)
    return doc


def test_rich_manifest_fast_path_matches() -> None:
    axml = _close(_rich())
    assert mf._scan_events(axml) is not None
    man = _assert_same(axml)
    assert isinstance(man, Manifest)
    assert man.permissions[:3] == ("android.permission.CAMERA", "com.ex.CAMERA", "com.ex.Local")
    assert man.version_name == "1.0" and man.label == "@7F0B0001"
    assert man.services[-1] == "under.nameless"
    assert man.activities[-2:] == ("ns.Activity", "com.ex.Alias")


def _attr_case(attrs: list[tuple]) -> bytes:
    doc = _open()
    doc.start("application", attrs).end("application")
    return _close(doc)


CASES: dict[str, Callable[[], bytes]] = {
    # names the printer rewrites (and lxml may then refuse)
    "prefix in attribute name": lambda: _attr_case([(None, "android:label", "L")]),
    "unknown prefix in name": lambda: _attr_case([(None, "x:label", "L"), (ANDROID, "label", "M")]),
    "name starting with a digit": lambda: _attr_case([(None, "1label", "L")]),
    "invalid after prefix strip": lambda: _attr_case([(None, "android:1x", "L")]),
    "invalid characters": lambda: _attr_case([(None, "la bel", "L"), (ANDROID, "label", "ok")]),
    "trailing newline": lambda: _attr_case([(None, "label\n", "L")]),
    "empty after strip": lambda: _attr_case([(None, "android:", "L")]),
    "unmapped empty name": lambda: _attr_case([(ANDROID, "", "L"), (ANDROID, "label", "ok")]),
    "other namespace": lambda: _attr_case([("http://other", "label", "L")]),
    "uri with a space": lambda: _attr_case([("http://a b", "label", "L"), (ANDROID, "label", "ok")]),
    "uri with a brace": lambda: _attr_case([("a}b", "label", "L")]),
    "android uri with a blank": lambda: _attr_case([(ANDROID + " ", "label", "L")]),
    # values format_value cannot format
    "dimension with a bad unit": lambda: _attr_case([(ANDROID, "width", (0x05, 0x107))]),
    "fraction with a bad unit": lambda: _attr_case([(ANDROID, "width", (0x06, 0x103))]),
    "unknown value type": lambda: _attr_case([(ANDROID, "label", (0x09, 5))]),
    "string index out of range": lambda: _attr_case([(ANDROID, "label", (0x03, 99999))]),
    # element names, comments, text, structure
    "element name fixed": lambda: _close(_open().start("1app", [(ANDROID, "name", "x")]).end("1app")),
    "element name invalid": lambda: _close(_open().start("android:1app").end("android:1app")),
    "element name with prefix": lambda: _close(
        _open().start("android:application", [(ANDROID, "label", "p")]).end("android:application")),
    "element in other namespace": lambda: _close(
        _open().start("application", [(ANDROID, "label", "o")], uri="http://o").end("application", uri="http://o")),
    "element in invalid namespace": lambda: _close(
        _open().start("application", uri="http://a b").end("application", uri="http://a b")),
    "comment on root": lambda: _close(_open(comment="hello")),
    "comment inside": lambda: _close(_open().start("application", comment="c").end("application")),
    "bad comment inside": lambda: _close(_open().start("application", comment="a--b").end("application")),
    "text inside": lambda: _close(_open().text("  hi  ")),
    "control text inside": lambda: _close(_open().text("a\x01")),
    "text before root": lambda: _close(_open(Axml().text("early"))),
    "end tag before root": lambda: _close(_open(Axml().end("x"))),
    "stray end tag": lambda: _open().end("manifest").end("manifest").build(),
    "second root": lambda: _open().end("manifest").start("uses-permission", [(ANDROID, "name", "p")]).build(),
    "second root with comment": lambda: _open().end("manifest").start("x", comment="c").build(),
    "unclosed": lambda: _open().start("application").build(),
    "root is not manifest": lambda: Axml().start("application").end("application").build(),
    "no element": lambda: Axml().ns("android", ANDROID).build(),
    "invalid prefix repaired": lambda: _close(_open(Axml().ns("1p", "http://p"))),
    "invalid namespace uri": lambda: _close(_open(Axml().ns("p", "http://a b"))),
    "namespace with empty uri": lambda: _close(_open(Axml().ns("p", ""))),
    "prefix mapped twice": lambda: _close(_open(Axml().ns("android", "http://other"))),
    "no resource map": lambda: _close(_open(Axml(mapped=()))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_crafted_cases_match_printer(name: str) -> None:
    _assert_same(CASES[name]())


def _mutants(seed: int, count: int) -> list[bytes]:
    """Seeded single and double byte changes to real and crafted manifests, concentrated on the headers."""
    rnd = random.Random(seed)
    bases = [_close(_rich())] + [_members_or_none(p) for p in FIXTURE_APKS]
    bases = [b for b in bases if b]
    out = []
    for _ in range(count):
        data = bytearray(rnd.choice(bases))
        for _ in range(rnd.choice((1, 1, 2))):
            pos = rnd.randrange(min(len(data), 1024) if rnd.random() < 0.7 else len(data))
            data[pos] = rnd.choice((0x00, 0xFF, 0x01, 0x7F, 0x80, rnd.randrange(256)))
        out.append(bytes(data))
    return out


def _members_or_none(path: Path) -> bytes | None:
    try:
        za = ZipArchive(path.read_bytes(), str(path), Budget())
        m = next(m for m in za.members if m.name == "AndroidManifest.xml")
        return za.read(m)
    except Exception:
        return None


@pytest.mark.parametrize("seed", range(4))
def test_mutated_manifests_match_printer(seed: int) -> None:
    for axml in _mutants(seed, 150):
        _assert_same(axml)


def test_malformed_inputs_raise_manifest_error() -> None:
    good = _close(_rich())
    rnd = random.Random(7)
    bad = [b"", b"\x03\x00", b"\x03\x00\x08\x00", good[:8], good[:40], good[: len(good) // 2], good[:-1]]
    bad += [bytes(rnd.randrange(256) for _ in range(n)) for n in (1, 7, 16, 64, 512, 4096)]
    bad.append(b"\x03\x00\x08\x00" + struct.pack("<I", 1 << 20) + bytes(64))  # declared far larger than it is
    bad.append(good[:12] + struct.pack("<I", 0xFFFFFFF0) + good[16:])  # the string pool guard
    for axml in bad:
        with pytest.raises(ManifestError):
            parse_manifest(axml, None, LOC)
        _assert_same(axml)

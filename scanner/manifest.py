"""AndroidManifest.xml and resources.arsc through androguard's AXML/ARSC parsers.

Only the manifest tree and the resource table's global string pool are read; the full ARSC table is parsed
lazily, and only when the app label is a resource reference that needs resolving.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

from androguard.core.axml import (
    END_DOCUMENT,
    END_TAG,
    START_TAG,
    TEXT,
    TYPE_DIMENSION,
    TYPE_FRACTION,
    TYPE_STRING,
    AXMLParser,
    AXMLPrinter,
    format_value,
)
from loguru import logger as _loguru
from lxml import etree

from scanner.arsc import pool_strings, resolve_string
from scanner.errors import ReadError
from scanner.model import Manifest, MetaData

_loguru.disable("androguard")  # its DEBUG chatter would drown stderr; failures surface as ScanErrors

NS_ANDROID = "{http://schemas.android.com/apk/res/android}"
_RES_REF = re.compile(r"^@(?:[\w.]+:)?([0-9A-Fa-f]{8})$")


class ManifestError(ReadError):
    """The binary manifest could not be parsed."""


def _get(tag, attr: str) -> str | None:  # type: ignore[no-untyped-def]
    v = tag.get(NS_ANDROID + attr)
    return v if v is not None else tag.get(attr)


def _fmt(value: str | None, package: str | None) -> str | None:
    """androguard's ``_format_value``: ``.Foo`` and dot-less names get the package prefix."""
    if value and package:
        dot = value.find(".")
        if dot == 0:
            return package + value
        if dot == -1:
            return package + "." + value
    return value


def _find(root, tag: str) -> list:  # type: ignore[no-untyped-def]
    if root.tag == tag:
        return [root]
    found = list(root.iterfind(".//" + tag)) + list(root.iterfind(".//" + NS_ANDROID + tag))
    return found


def _check_pool_size(axml: bytes, locator: str) -> None:
    """Refuse a string pool declared larger than the file before androguard allocates it."""
    if len(axml) >= 16 and struct.unpack_from("<I", axml, 12)[0] > len(axml):
        # androguard reads the string pool with BufferedReader.read(declared size), which allocates that size
        # up front: a 1 KB manifest declaring a 4 GiB pool would cost 4 GiB (Android rejects it too).
        raise ManifestError("string pool chunk is larger than the binary XML file", locator, "manifest")


def parse_manifest(axml: bytes, arsc: bytes | None, locator: str) -> Manifest:
    """Read the fields of :class:`Manifest` from binary XML; resolve a resource-id label through the ARSC.

    The event-driven reader below gives the same result as androguard's ``AXMLPrinter`` tree in about half the
    time (no lxml tree, only the attributes used get formatted); whenever it meets something it does not
    replay exactly, any error included, the printer path decides, so results and errors stay the printer's.
    """
    _check_pool_size(axml, locator)
    try:
        scanned = _scan_events(axml)
    except Exception:  # anything odd is the printer's call (it raises or reads it its way)
        scanned = None
    if scanned is None:
        return _parse_manifest_printer(axml, arsc, locator)
    root, index = scanned
    return _build_manifest(root, lambda t: index.get(t, []) + index.get(NS_ANDROID + t, []), arsc, locator)


def _parse_manifest_printer(axml: bytes, arsc: bytes | None, locator: str) -> Manifest:
    """The reference path: androguard's full ``AXMLPrinter`` lxml tree (the fast path's oracle and fallback)."""
    _check_pool_size(axml, locator)
    try:
        printer = AXMLPrinter(axml)
        root = printer.get_xml_obj() if printer.is_valid() else None
    except Exception as exc:  # androguard raises assorted errors on tampered AXML
        raise ManifestError(f"binary XML could not be parsed: {exc}", locator, "manifest") from exc
    if root is None:
        raise ManifestError("binary XML is not valid", locator, "manifest")
    return manifest_from_tree(root, arsc, locator)


# -- event-driven reading --------------------------------------------------------------------------------


class _Node:
    """The little of an lxml element :func:`_build_manifest` reads: the tag and the attributes it needs."""

    __slots__ = ("attrib", "tag")

    def __init__(self, tag: str, attrib: dict[str, str]) -> None:
        self.tag = tag
        self.attrib = attrib

    def get(self, key: str) -> str | None:
        return self.attrib.get(key)


class _Fallback(Exception):
    """The event reader met something only ``AXMLPrinter`` reproduces faithfully (or that makes it fail)."""


def _keys(*names: str) -> frozenset[str]:
    return frozenset(n for name in names for n in (name, NS_ANDROID + name))


#: Attributes :func:`_build_manifest` reads, per element it looks up (bare and android-namespaced tags).
_ROOT_KEYS = _keys("package", "versionName", "versionCode")
_WANTED: dict[str, frozenset[str]] = {
    prefix + tag: keys
    for tag, keys in {
        "uses-permission": _keys("name"),
        "uses-permission-sdk-23": _keys("name"),
        "uses-sdk": _keys("minSdkVersion", "targetSdkVersion"),
        "application": _keys("label"),
        "activity": _keys("name"),
        "activity-alias": _keys("name"),
        "service": _keys("name"),
        "receiver": _keys("name"),
        "provider": _keys("name"),
        "meta-data": _keys("name", "value", "resource"),
    }.items()
    for prefix in ("", NS_ANDROID)
}
# Names lxml accepts as they are (AXMLPrinter._fix_name already reduced them to [a-zA-Z0-9._-]).
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*")
_NO_NS = 0xFFFFFFFF  # "no string" in AXML string references


def _scan_events(axml: bytes) -> tuple[_Node, dict[str, list[_Node]]] | None:
    """Replay ``AXMLPrinter.__init__`` over the parser's events without building the lxml tree.

    Every string the printer decodes is decoded here too (a corrupt one raises in both), names and values
    go through the printer's own ``_fix_name``/``_fix_value`` (on a printer whose ``__init__`` never ran), but
    only the attributes :func:`_build_manifest` reads are formatted, and lxml's name checks run once per
    distinct name. Returns None (or raises) where the printer would fail or do something this does not
    replay (comments inside the tree, stray end tags, invalid names): the caller then runs the printer.
    """
    p = AXMLParser(axml)
    if not p.is_valid():
        return None
    printer = AXMLPrinter.__new__(AXMLPrinter)  # only for its helpers; its constructor would build the tree
    printer.axml, printer.packerwarning, printer.root = p, False, None
    fix_value = printer._fix_value
    get_string = p.sb.getString
    nsmaps: dict[tuple, dict] = {}  # namespace stack → its nsmap, once lxml accepted it
    tags: dict[tuple, str] = {}  # (namespace stack, uri index, name index) → element tag
    attr_keys: dict[tuple, dict[tuple[int, int], str]] = {}  # (stack, resource ids) → (uri, name index) → key
    root: _Node | None = None
    index: dict[str, list[_Node]] = {}
    depth = 0  # len(cur) in AXMLPrinter
    # p._valid is what p.is_valid() returns, without the debug log call per event
    while p._valid:
        event = next(p)
        if event == START_TAG:
            name_i = p.m_name
            if not get_string(name_i):
                continue  # the printer skips nameless elements (attributes unread); children stay in place
            uri_i = p.m_namespaceUri
            if uri_i != _NO_NS:
                get_string(uri_i)
            ns_key = tuple(p.namespaces)
            if ns_key not in nsmaps:
                nsmap = p.nsmap
                etree.Element("x", nsmap=nsmap)  # an invalid prefix or URI: lxml raises (the printer may repair)
                nsmaps[ns_key] = nsmap
            tag = tags.get((ns_key, uri_i, name_i))
            if tag is None:
                tag = tags[(ns_key, uri_i, name_i)] = _element_tag(printer, p)
            if p.m_comment_index != _NO_NS and get_string(p.m_comment_index) and root is not None:
                raise _Fallback("comment inside the tree")
            if root is None:
                keys: frozenset[str] | None = _ROOT_KEYS
            else:
                keys = _WANTED.get(tag) if depth else None  # a second top-level element is read, then dropped
            wanted: dict[str, str] = {}
            memo_key = (ns_key, len(p.m_resourceIDs))
            memo = attr_keys.get(memo_key)
            if memo is None:
                memo = attr_keys[memo_key] = {}
            a = p.m_attributes
            for i in range(p.m_attribute_count):
                o = i * 5
                ids = (a[o], a[o + 1])
                key = memo.get(ids)
                if key is None:
                    key = memo[ids] = _attribute_key(printer, p, i)
                # AXMLPrinter._get_attribute_value (format_value, strings from the pool), where it can fail or matters
                vtype = a[o + 3]
                use = keys is not None and key in keys
                if vtype == TYPE_STRING:
                    value = get_string(a[o + 2])  # decoded even when unused: a corrupt string fails the printer
                elif use or vtype == TYPE_DIMENSION or vtype == TYPE_FRACTION:
                    value = format_value(vtype, a[o + 4])  # an unknown dimension/fraction unit raises IndexError
                else:
                    continue
                if use:
                    wanted[key] = fix_value(value)  # a repeated attribute overwrites, as lxml's set does
            if root is None:
                root = _Node(tag, wanted)
            elif not depth:
                break  # a second top-level element: the printer stops reading here
            elif keys is not None:
                index.setdefault(tag, []).append(_Node(tag, wanted))
            depth += 1
        elif event == END_TAG:
            if not depth:
                raise _Fallback("end tag without an open element")  # the printer fails on cur[-1]
            if get_string(p.m_name):
                if p.m_namespaceUri != _NO_NS:
                    get_string(p.m_namespaceUri)
                depth -= 1
        elif event == TEXT:
            if not depth:
                raise _Fallback("text outside the tree")
            etree.Element("x").text = p.text  # lxml rejects control characters, as in the printer's tree
        elif event == END_DOCUMENT:
            break
    if root is None or not p.is_valid():
        return None
    return root, index


def _element_tag(printer: AXMLPrinter, p: AXMLParser) -> str:
    """The printer's tag for the current start tag, checked the way ``etree.Element`` would check it."""
    uri, name = printer._fix_name(printer._print_namespace(p.namespace), p.name)
    tag = f"{uri}{name}"
    if not _PLAIN_NAME.fullmatch(name):
        raise _Fallback(f"element name {name!r}")
    if uri and uri != NS_ANDROID:
        etree.Element(tag)  # lxml checks the namespace URI of a tag
    return tag


def _attribute_key(printer: AXMLPrinter, p: AXMLParser, i: int) -> str:
    """The printer's key for attribute ``i`` of the current start tag, checked the way ``elem.set`` checks it."""
    uri, name = printer._fix_name(printer._print_namespace(p.getAttributeNamespace(i)), p.getAttributeName(i))
    key = f"{uri}{name}"
    if not _PLAIN_NAME.fullmatch(name):
        raise _Fallback(f"attribute name {key!r}")
    if uri and uri != NS_ANDROID:
        etree.Element("x").set(key, "")  # lxml splits the key at the first "}" and checks the name it gets
    return key


# -- the Manifest ----------------------------------------------------------------------------------------

#: ``find(tag)``: the elements below the root with that tag, bare ones then android-namespaced ones.
_Finder = Callable[[str], list]


def manifest_from_tree(root, arsc: bytes | None, locator: str) -> Manifest:  # type: ignore[no-untyped-def]
    """The :class:`Manifest` fields from a parsed manifest element tree (binary AXML or AAB protobuf)."""
    return _build_manifest(root, lambda tag: _find(root, tag), arsc, locator)


def _build_manifest(root, find: _Finder, arsc: bytes | None, locator: str) -> Manifest:  # type: ignore[no-untyped-def]
    """The fields from the root element and the elements ``find`` gives (lxml elements or :class:`_Node`)."""
    if root.tag != "manifest":
        raise ManifestError(f"root element is <{root.tag}>, not <manifest>", locator, "manifest")
    package = root.get("package")
    perms: list[str] = []
    seen: set[str] = set()
    for tag in find("uses-permission"):
        v = _fmt(_get(tag, "name"), package)
        if v is not None and v not in seen:
            seen.add(v)
            perms.append(v)
    perms23 = tuple(dict.fromkeys(v for t in find("uses-permission-sdk-23") if (v := _get(t, "name"))))
    sdk = find("uses-sdk")
    app = find("application")
    label = _get(app[0], "label") if app else None
    if label and label.startswith("@") and arsc:
        label = resolve_label(label, arsc) or label

    def comps(name: str) -> tuple[str, ...]:
        out = []
        for t in find(name):
            v = _fmt(_get(t, "name"), package)
            if v:
                out.append(v)
        return tuple(out)

    meta = tuple(
        MetaData(_get(t, "name") or "", _get(t, "value") or _get(t, "resource") or "") for t in find("meta-data")
    )
    return Manifest(
        package=package,
        version_name=_get(root, "versionName"),
        version_code=_get(root, "versionCode"),
        label=label,
        min_sdk=_get(sdk[0], "minSdkVersion") if sdk else None,
        target_sdk=_get(sdk[0], "targetSdkVersion") if sdk else None,
        permissions=tuple(perms),
        permissions_sdk23=perms23,
        activities=comps("activity") + comps("activity-alias"),
        services=comps("service"),
        receivers=comps("receiver"),
        providers=comps("provider"),
        meta_data=meta,
    )


def resolve_label(ref: str, arsc: bytes) -> str | None:
    """Resolve ``@7F0B0001``-style references in the default configuration (None when unresolvable)."""
    m = _RES_REF.match(ref)
    if not m:
        return None
    return resolve_string(arsc, int(m.group(1), 16))


def arsc_strings(arsc: bytes, limit: int = 200_000) -> list[str]:
    """The resource table's global string pool (every string value the app ships in resources)."""
    try:
        (typ, hsize, _size) = struct.unpack_from("<HHI", arsc, 0)
        if typ != 0x0002:
            raise ValueError(f"not a resource table (chunk type {typ:#x})")
        return [s for s in pool_strings(arsc, hsize, limit) if s]
    except (ValueError, struct.error) as exc:
        raise ReadError(f"resource string pool unreadable: {exc}", "", "resources") from exc

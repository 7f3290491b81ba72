"""AndroidManifest.xml and resources.arsc through androguard's AXML/ARSC parsers.

Only the manifest tree and the resource table's global string pool are read; the full ARSC table is parsed
lazily, and only when the app label is a resource reference that needs resolving.
"""

from __future__ import annotations

import re
import struct

from androguard.core.axml import AXMLPrinter

from loguru import logger as _loguru

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


def parse_manifest(axml: bytes, arsc: bytes | None, locator: str) -> Manifest:
    """Read the fields of :class:`Manifest` from binary XML; resolve a resource-id label through the ARSC."""
    if len(axml) >= 16 and struct.unpack_from("<I", axml, 12)[0] > len(axml):
        # androguard reads the string pool with BufferedReader.read(declared size), which allocates that size
        # up front: a 1 KB manifest declaring a 4 GiB pool would cost 4 GiB (Android rejects it too).
        raise ManifestError("string pool chunk is larger than the binary XML file", locator, "manifest")
    try:
        printer = AXMLPrinter(axml)
        root = printer.get_xml_obj() if printer.is_valid() else None
    except Exception as exc:  # androguard raises assorted errors on tampered AXML
        raise ManifestError(f"binary XML could not be parsed: {exc}", locator, "manifest") from exc
    if root is None:
        raise ManifestError("binary XML is not valid", locator, "manifest")
    return manifest_from_tree(root, arsc, locator)


def manifest_from_tree(root, arsc: bytes | None, locator: str) -> Manifest:  # type: ignore[no-untyped-def]
    """The :class:`Manifest` fields from a parsed manifest element tree (binary AXML or AAB protobuf)."""
    if root.tag != "manifest":
        raise ManifestError(f"root element is <{root.tag}>, not <manifest>", locator, "manifest")
    package = root.get("package")
    perms: list[str] = []
    seen: set[str] = set()
    for tag in _find(root, "uses-permission"):
        v = _fmt(_get(tag, "name"), package)
        if v is not None and v not in seen:
            seen.add(v)
            perms.append(v)
    perms23 = tuple(dict.fromkeys(v for t in _find(root, "uses-permission-sdk-23") if (v := _get(t, "name"))))
    sdk = _find(root, "uses-sdk")
    app = _find(root, "application")
    label = _get(app[0], "label") if app else None
    if label and label.startswith("@") and arsc:
        label = resolve_label(label, arsc) or label

    def comps(name: str) -> tuple[str, ...]:
        out = []
        for t in _find(root, name):
            v = _fmt(_get(t, "name"), package)
            if v:
                out.append(v)
        return tuple(out)

    meta = tuple(
        MetaData(_get(t, "name") or "", _get(t, "value") or _get(t, "resource") or "") for t in _find(root, "meta-data")
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

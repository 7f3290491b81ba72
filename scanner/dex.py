"""DEX table reader: defined classes, referenced types and the string table, straight from the index tables.

Hand-written for speed: androguard's ``DEX()`` parses every method and takes ~10 s and 500 MiB on a 25 MB
APK, and ``lief.DEX`` builds full class/method objects too. A store needs only three tables here (string_ids,
type_ids, class_defs), which read in a fraction of the time it takes to inflate the file. Every offset and
count is checked against the buffer, so a hostile header yields :class:`DexFormatError`, never a crash.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass

from scanner.errors import DexFormatError
from scanner.model import DexFile

try:  # the compiled twin of read_tables (scanner/_speedups.c); the pure-Python one below is the specification
    from scanner._speedups import dex_tables as _c_dex_tables
except ImportError:  # pragma: no cover - built by `pip install`; absent only without a C compiler
    _c_dex_tables = None

DEX_MAGIC = b"dex\n"
_HEADER_SIZE = 0x70
_NO_INDEX = 0xFFFFFFFF


@dataclass(frozen=True)
class DexHeader:
    """The header fields this reader uses."""

    version: str
    file_size: int
    string_ids: tuple[int, int]  # (size, offset)
    type_ids: tuple[int, int]
    class_defs: tuple[int, int]


def is_dex(prefix: bytes) -> bool:
    """True when the bytes start like a DEX file (``dex\\n0NN\\0``)."""
    return len(prefix) >= 8 and prefix[:4] == DEX_MAGIC and prefix[7] == 0 and prefix[4:7].isdigit()


def read_header(data: bytes, locator: str = "") -> DexHeader:
    """Parse and bounds-check the header."""
    if len(data) < _HEADER_SIZE or not is_dex(data[:8]):
        raise DexFormatError("not a DEX file (bad magic or shorter than the header)", locator, "dex")
    (file_size, header_size, endian) = struct.unpack_from("<III", data, 0x20)
    if endian != 0x12345678:
        raise DexFormatError(f"unsupported endian tag {endian:#x}", locator, "dex")
    if header_size < _HEADER_SIZE:
        raise DexFormatError(f"header size {header_size} too small", locator, "dex")
    (s_n, s_off, t_n, t_off) = struct.unpack_from("<IIII", data, 0x38)
    (c_n, c_off) = struct.unpack_from("<II", data, 0x60)
    n = len(data)
    for what, count, off, item in (("string_ids", s_n, s_off, 4), ("type_ids", t_n, t_off, 4), ("class_defs", c_n, c_off, 32)):
        if count and (off < _HEADER_SIZE or off + count * item > n):
            raise DexFormatError(f"{what} table ({count} items at {off:#x}) lies outside the file", locator, "dex")
    if t_n > 65536:
        raise DexFormatError(f"type_ids count {t_n} exceeds the DEX format's 65536", locator, "dex")
    return DexHeader(data[4:7].decode("ascii"), file_size, (s_n, s_off), (t_n, t_off), (c_n, c_off))


def decode_mutf8(raw: bytes) -> str:
    """Decode Modified UTF-8 (``C0 80`` for NUL, surrogate pairs as two 3-byte sequences)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # CESU-8 surrogates decode with surrogatepass; C0 80 is NUL. Then join surrogate pairs.
    if b"\xc0\x80" in raw:
        raw = raw.replace(b"\xc0\x80", b"\x00")
    try:
        s = raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:  # not (M)UTF-8 at all: total, never raises (fuzzing found C0 80 then a bad byte)
        return raw.decode("utf-8", "replace")
    try:
        return s.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        return s.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def read_strings(data: bytes, header: DexHeader, locator: str = "") -> list[str]:
    """The whole string table, in index order."""
    count, off = header.string_ids
    if not count:
        return []
    offsets = struct.unpack_from(f"<{count}I", data, off)
    n = len(data)
    out: list[str] = []
    append = out.append
    find = data.find
    for p in offsets:
        if p >= n:
            raise DexFormatError(f"string data offset {p:#x} outside the file", locator, "dex")
        # skip the ULEB128 utf16 length (at most 5 bytes)
        q = p
        while data[q] & 0x80:
            q += 1
            if q - p > 4 or q >= n:
                raise DexFormatError("malformed string length", locator, "dex")
        q += 1
        end = find(b"\x00", q)
        if end < 0:
            raise DexFormatError("unterminated string data", locator, "dex")
        raw = data[q:end]
        if raw.isascii():
            append(raw.decode("ascii"))
        else:
            append(decode_mutf8(raw))
    return out


def _dotted(desc: str) -> str | None:
    if len(desc) > 2 and desc[0] == "L" and desc[-1] == ";":
        return desc[1:-1].replace("/", ".")
    return None


def _digest(data: bytes, sha256: str | Callable[[], str] | None) -> str:
    if callable(sha256):
        return sha256()
    return sha256 or hashlib.sha256(data).hexdigest()


def read_tables_py(data: bytes, header: DexHeader, locator: str = "") -> tuple[list[str], list[str], list[str]]:
    """The string table plus the dotted names of defined and referenced class types (unsorted, pure Python)."""
    strings = read_strings(data, header, locator)
    t_n, t_off = header.type_ids
    type_string_idx = struct.unpack_from(f"<{t_n}I", data, t_off) if t_n else ()
    ns = len(strings)
    descriptors: list[str] = []
    for si in type_string_idx:
        if si >= ns:
            raise DexFormatError(f"type_id points at string {si} of {ns}", locator, "dex")
        descriptors.append(strings[si])
    c_n, c_off = header.class_defs
    defined: list[str] = []
    defined_idx: set[int] = set()
    for i in range(c_n):
        (ti,) = struct.unpack_from("<I", data, c_off + 32 * i)
        if ti >= t_n:
            raise DexFormatError(f"class_def {i} points at type {ti} of {t_n}", locator, "dex")
        name = _dotted(descriptors[ti])
        if name is not None:
            defined.append(name)
            defined_idx.add(ti)
    referenced = []
    for i, d in enumerate(descriptors):
        if i in defined_idx:
            continue
        name = _dotted(d)
        if name is not None:
            referenced.append(name)
    return strings, defined, referenced


def read_tables(data: bytes, header: DexHeader, locator: str = "") -> tuple[list[str], list[str], list[str]]:
    """:func:`read_tables_py`, through the compiled twin when it is built (same results, same errors)."""
    if _c_dex_tables is None:
        return read_tables_py(data, header, locator)
    try:
        return _c_dex_tables(data, *header.string_ids, *header.type_ids, *header.class_defs, decode_mutf8)  # type: ignore[no-any-return]
    except ValueError as exc:
        raise DexFormatError(str(exc), locator, "dex") from None


def read_dex(data: bytes, locator: str, sha256: str | Callable[[], str] | None = None) -> DexFile:
    """Read one DEX file into a :class:`DexFile` (classes and referenced types dotted; strings verbatim).

    ``sha256``: the file's hash, or a call that collects it (the walker hashes on a native thread meanwhile)."""
    header = read_header(data, locator)
    strings, defined, referenced = read_tables(data, header, locator)
    return DexFile(
        locator=locator,
        size=len(data),
        sha256=_digest(data, sha256),
        version=header.version,
        classes=tuple(sorted(set(defined))),
        referenced_types=tuple(sorted(set(referenced))),
        strings=tuple(strings),
    )

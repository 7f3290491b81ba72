"""Douyin / ByteDance ``TPKG`` packages (``.pkg``, ``.ttpkg.js``): a little-endian flat index.

Hand-written for the same reasons as the wxapkg reader (tiny format, no library, unpackers write to disk).
Layout (``miniprogram-formats.md`` §3): ``"TPKG" | u32 version | u32 reserved | u32 count`` then
``count × {u32 name_len, name (no leading "/"), u32 offset (absolute), u32 size}``. ttpkgUnpacker also
meets files without the reserved word, so that layout is tried second and reported as a deviation. The
``__ttks`` mini-game variant obfuscates its index and is refused with a clear error.
"""

from __future__ import annotations

import struct

from scanner.miniprogram.errors import TtpkgFormatError
from scanner.miniprogram.index import MAX_NAME_LEN, PackageIndex, check_entries
from scanner.miniprogram.wxapkg import Buffer, records

MAGIC = b"TPKG"


def parse_ttpkg(buf: Buffer, locator: str = "", max_entries: int = 200_000) -> PackageIndex:
    """Parse and validate a TPKG index; raise :class:`TtpkgFormatError` when it cannot be walked."""
    size = len(buf)
    if size < 16:
        raise TtpkgFormatError(f"{size} bytes: too short for a TPKG header (16 bytes)", locator, "ttpkg")
    if bytes(buf[:4]) != MAGIC:
        raise TtpkgFormatError(f"not a TPKG package (magic {bytes(buf[:4])!r})", locator, "ttpkg")
    if b"__ttks" in bytes(buf[8:4096]):
        raise TtpkgFormatError(
            "__ttks mini-game package: its index is obfuscated and not supported; contents not readable",
            locator,
            "ttpkg",
        )
    try:
        return _parse(buf, 12, 16, locator, max_entries, [])
    except TtpkgFormatError as first:
        if first.stage == "limits":
            raise
        try:
            alt = _parse(buf, 8, 12, locator, max_entries, ["no reserved word after the version (older layout)"])
        except TtpkgFormatError:
            raise first from None
        if not alt.entries:  # an empty reading of another layout explains nothing
            raise first from None
        return alt


def _parse(buf: Buffer, count_at: int, first: int, locator: str, max_entries: int, deviations: list[str]) -> PackageIndex:
    size = len(buf)
    (version,) = struct.unpack_from("<I", buf, 4)
    (count,) = struct.unpack_from("<I", buf, count_at)
    max_fit = (size - first) // 12
    if count > max_fit:
        raise TtpkgFormatError(f"file count {count} cannot fit in the file (at most {max_fit} entries)", locator, "ttpkg")
    if count > max_entries:
        raise TtpkgFormatError(f"file count {count} exceeds the limit of {max_entries} entries", locator, "limits")
    p = first
    max_off = 0
    for i in range(count):
        if p + 4 > size:
            raise TtpkgFormatError(f"index ends inside entry {i} of {count}", locator, "ttpkg")
        (nlen,) = struct.unpack_from("<I", buf, p)
        if nlen > MAX_NAME_LEN:
            raise TtpkgFormatError(f"entry {i}: name length {nlen} exceeds {MAX_NAME_LEN}", locator, "ttpkg")
        if p + 4 + nlen + 8 > size:
            raise TtpkgFormatError(f"entry {i} (name length {nlen}) runs past the end of the file", locator, "ttpkg")
        (off,) = struct.unpack_from("<I", buf, p + 4 + nlen)
        max_off = max(max_off, off)
        p += 12 + nlen
    if count and count_at == 12 and max_off < p:
        # No record points past the index: the layout guess is wrong (or the index damaged); caller retries.
        raise TtpkgFormatError("no entry points past the index (wrong layout or damaged index)", locator, "ttpkg")
    deviations = list(deviations)
    if version != 2:
        deviations.append(f"version {version} (2 in every known package)")
    entries, problems, more = check_entries(records(buf, count, first, "<"), p, size, leading_slash=False)
    if entries and max(e.offset + e.size for e in entries) != size:
        more.append("the last entry does not end at the end of the file")
    return PackageIndex(tuple(entries), p, tuple(problems), tuple(deviations + more), count)

"""Resolve one string resource (the app label) straight from resources.arsc.

Hand-written for speed: androguard's ``ARSCParser`` analyses every package, type and config up front
(0.4–0.7 s on a mid-sized app) when the label needs one entry of one type. This walks the chunk headers,
reads only type chunks of the wanted type id, and prefers the default configuration. Bounds are checked
everywhere; anything odd returns ``None`` (the caller keeps the raw ``@7F…`` reference).
"""

from __future__ import annotations

import struct

try:  # the compiled twin of pool_strings' loop (scanner/_speedups.c)
    from scanner._speedups import arsc_pool as _c_arsc_pool
except ImportError:  # pragma: no cover - built by `pip install`; absent only without a C compiler
    _c_arsc_pool = None

_RES_TABLE = 0x0002
_STRING_POOL = 0x0001
_PACKAGE = 0x0200
_TYPE = 0x0201
_NO_ENTRY = 0xFFFFFFFF


def _chunk(buf: bytes, off: int) -> tuple[int, int, int] | None:
    if off + 8 > len(buf):
        return None
    typ, hsize, size = struct.unpack_from("<HHI", buf, off)
    if hsize < 8 or size < hsize or off + size > len(buf):
        return None
    return typ, hsize, size


def resolve_string(arsc: bytes, res_id: int, depth: int = 0) -> str | None:
    """The default-config string value of resource ``res_id`` (follows references a few levels)."""
    if depth > 4:
        return None
    top = _chunk(arsc, 0)
    if top is None or top[0] != _RES_TABLE:
        return None
    pkg_id, type_id, entry_id = res_id >> 24, (res_id >> 16) & 0xFF, res_id & 0xFFFF
    off = top[1]
    pool: int | None = None  # offset of the global string pool chunk
    candidates: list[tuple[bool, int, int]] = []  # (is_default, value_type, data)
    while off < len(arsc):
        ch = _chunk(arsc, off)
        if ch is None:
            break
        typ, hsize, size = ch
        if typ == _STRING_POOL and pool is None:
            pool = off
        elif typ == _PACKAGE and off + 12 <= len(arsc):
            (pid,) = struct.unpack_from("<I", arsc, off + 8)
            if pid == pkg_id:
                inner = off + hsize
                end = off + size
                while inner < end:
                    ich = _chunk(arsc, inner)
                    if ich is None:
                        break
                    ityp, ihsize, isize = ich
                    if ityp == _TYPE and inner + 20 <= end and arsc[inner + 8] == type_id:
                        v = _entry(arsc, inner, ihsize, isize, entry_id)
                        if v is not None:
                            candidates.append(v)
                    inner += isize
        off += size
    if not candidates or pool is None:
        return None
    candidates.sort(key=lambda c: not c[0])
    is_default, vtype, data = candidates[0]
    if vtype == 0x03:
        return pool_string(arsc, pool, data)
    if vtype == 0x01 and data:
        return resolve_string(arsc, data, depth + 1)
    return None


def _entry(buf: bytes, off: int, hsize: int, size: int, entry_id: int) -> tuple[bool, int, int] | None:
    flags = buf[off + 9]
    entry_count, entries_start = struct.unpack_from("<II", buf, off + 12)
    cfg_size = struct.unpack_from("<I", buf, off + 20)[0] if off + 24 <= len(buf) else 0
    cfg = buf[off + 24 : off + 20 + cfg_size] if 4 <= cfg_size <= 256 else b"\x01"
    is_default = not any(cfg)
    idx_off = off + hsize
    if flags & 0x01:  # sparse: (u16 index, u16 offset/4) pairs
        offset = None
        for i in range(min(entry_count, (size - hsize) // 4)):
            idx, o = struct.unpack_from("<HH", buf, idx_off + 4 * i)
            if idx == entry_id:
                offset = o * 4
                break
        if offset is None:
            return None
    elif flags & 0x02:  # 16-bit offsets (/4), 0xFFFF = none
        if entry_id >= entry_count or idx_off + 2 * entry_id + 2 > off + size:
            return None
        (o16,) = struct.unpack_from("<H", buf, idx_off + 2 * entry_id)
        if o16 == 0xFFFF:
            return None
        offset = o16 * 4
    else:
        if entry_id >= entry_count or idx_off + 4 * entry_id + 4 > off + size:
            return None
        (offset,) = struct.unpack_from("<I", buf, idx_off + 4 * entry_id)
        if offset == _NO_ENTRY:
            return None
    e = off + entries_start + offset
    if e + 16 > off + size:
        return None
    esize, eflags = struct.unpack_from("<HH", buf, e)
    if eflags & 0x0001:  # complex (bag) entry: not a plain string
        return None
    vtype = buf[e + esize + 3] if e + esize + 8 <= off + size else None
    if vtype is None:
        return None
    (data,) = struct.unpack_from("<I", buf, e + esize + 4)
    return is_default, vtype, data


def _len8(buf: bytes, pos: int) -> tuple[int, int]:
    n = buf[pos]
    if n & 0x80:
        return ((n & 0x7F) << 8) | buf[pos + 1], pos + 2
    return n, pos + 1


def pool_string(buf: bytes, off: int, index: int) -> str | None:
    """String ``index`` of the ResStringPool chunk at ``off`` (None when out of range or unreadable); decoded
    like :func:`pool_strings`, without building androguard's StringBlock for the whole pool."""
    ch = _chunk(buf, off)
    if ch is None or ch[0] != _STRING_POOL or off + 28 > len(buf):
        return None
    _, hsize, size = ch
    count, _styles, flags, strings_start = struct.unpack_from("<IIII", buf, off + 8)
    if index >= count or off + hsize + 4 * index + 4 > off + size:
        return None
    (o,) = struct.unpack_from("<I", buf, off + hsize + 4 * index)
    # The one-entry view of the offset table: same decoding rules as the whole-pool reader.
    return _decode_at(buf, off + strings_start + o, off + size, bool(flags & 0x100))


def _decode_at(buf: bytes, p: int, end: int, utf8: bool) -> str:
    if p >= end:
        return ""
    try:
        if utf8:
            _, p = _len8(buf, p)  # utf-16 length, unused
            n, p = _len8(buf, p)
            return buf[p : min(end, p + n)].decode("utf-8", "replace")
        n, p = _len16(buf, p)
        return buf[p : min(end, p + 2 * n)].decode("utf-16-le", "replace")
    except (IndexError, struct.error):
        return ""


def _len16(buf: bytes, pos: int) -> tuple[int, int]:
    (n,) = struct.unpack_from("<H", buf, pos)
    if n & 0x8000:
        (lo,) = struct.unpack_from("<H", buf, pos + 2)
        return ((n & 0x7FFF) << 16) | lo, pos + 4
    return n, pos + 2


def pool_strings(buf: bytes, off: int, limit: int = 200_000, compiled: bool = True) -> list[str]:
    """Every string of the ResStringPool chunk at ``off`` (UTF-8 or UTF-16), bounds-checked.

    Hand-written for speed: androguard's StringBlock decodes one string per Python call chain and took most
    of the resource step on big apps; this is one tight loop over the offset table.
    """
    ch = _chunk(buf, off)
    if ch is None or ch[0] != _STRING_POOL:
        raise ValueError("no string pool chunk here")
    _, hsize, size = ch
    count, _styles, flags, strings_start = struct.unpack_from("<IIII", buf, off + 8)
    end = off + size
    table = off + hsize
    if table + 4 * count > end:
        raise ValueError("string pool offset table overruns the chunk")
    base = off + strings_start
    utf8 = bool(flags & 0x100)
    if compiled and _c_arsc_pool is not None:
        return _c_arsc_pool(buf, table, min(count, limit), base, end, utf8)  # type: ignore[no-any-return]
    offsets = struct.unpack_from(f"<{min(count, limit)}I", buf, table)
    return [_decode_at(buf, base + o, end, utf8) for o in offsets]

"""WeChat ``.wxapkg``: the plain big-endian index, and the PC client's ``V1MMWX`` encryption.

Hand-written: the format is a 14-byte header and a flat index (``../shared/reference/miniprogram-formats.md``
§2); no maintained Python library reads it, and the unpackers that exist extract to disk. Everything here
works on ``bytes``/``mmap`` slices in memory and raises only :class:`WxapkgFormatError` /
:class:`WxapkgDecryptError`.

``V1MMWX``: the first 1023 plaintext bytes are AES-256-CBC under a key derived from the appid (PBKDF2),
the rest is XORed with one byte (the appid's second-to-last character). Without the appid the XOR byte is
recovered from its 16 candidates, which opens everything but the first 1023 bytes (header and the start
of the index); :func:`recover_index_tail` then lists the entries whose index records lie past that point.
"""

from __future__ import annotations

import hashlib
import mmap
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from scanner.miniprogram.errors import WxapkgDecryptError, WxapkgFormatError
from scanner.miniprogram.index import MAX_NAME_LEN, IndexEntry, PackageIndex, check_entries

Buffer = bytes | bytearray | mmap.mmap | memoryview

HEADER_LEN = 18  # 14-byte header + the u32 file count
V1MMWX_MAGIC = b"V1MMWX"
MAC_TAG = b"WAPkgEncryptedTagForMac"
AES_LEN = 1024  # ciphertext bytes after the magic
HEAD_PLAIN = 1023  # plaintext bytes they hold (PKCS#7 pad byte 0x01 makes 1024)
BODY_START = len(V1MMWX_MAGIC) + AES_LEN  # 1030: the XORed tail starts here
_SALT = b"saltiest"
_IV = b"the iv: 16 bytes"
_HEX = "0123456789abcdef"
APPID_RE = re.compile(r"wx[0-9a-f]{16}", re.IGNORECASE)
_APPID_BYTES = re.compile(rb"wx[0-9a-f]{16}")
#: Tokens that show up in a correctly XOR-decoded body (file names, JS), used to pick the XOR byte.
_BODY_TOKENS = (b".js", b".json", b".html", b".png", b"function", b"return ", b"var ", b"/pages/", b".wxss")
_SCORE_SAMPLE = 1 << 20
#: At most this many appid-looking strings from the body are trial-decrypted (each costs one PBKDF2).
MAX_APPID_TRIALS = 64


def is_v1mmwx(buf: Buffer) -> bool:
    """The PC client's encrypted variant (magic ``V1MMWX``)."""
    return bytes(buf[:6]) == V1MMWX_MAGIC


def is_mac_tagged(buf: Buffer) -> bool:
    """The macOS 3.x variant: first 1024 bytes AES-ECB under a runtime key, tag at the end."""
    return len(buf) >= len(MAC_TAG) + AES_LEN and bytes(buf[-len(MAC_TAG) :]) == MAC_TAG


def parse_wxapkg(buf: Buffer, locator: str = "", max_entries: int = 200_000) -> PackageIndex:
    """Parse and validate a plain wxapkg index (big-endian); raise :class:`WxapkgFormatError` if unusable.

    Hard failures (the index cannot be walked): too short, wrong marks, a count that cannot fit, a name
    length beyond :data:`MAX_NAME_LEN` or an entry running past the index. Per-entry damage is returned as
    problems; deviations from the invariants every real package keeps are returned as notes.
    """
    size = len(buf)
    if size < HEADER_LEN:
        raise WxapkgFormatError(f"{size} bytes: too short for a wxapkg header ({HEADER_LEN} bytes)", locator, "wxapkg")
    if buf[0] != 0xBE or buf[13] != 0xED:
        raise WxapkgFormatError(
            f"not a wxapkg: marks are {buf[0]:#04x}/{buf[13]:#04x}, expected 0xbe/0xed", locator, "wxapkg"
        )
    info, index_len, data_len, count = struct.unpack_from(">IIIxI", buf, 1)
    deviations: list[str] = []
    declared_end = 14 + index_len
    bound = declared_end
    if not HEADER_LEN <= declared_end <= size:
        deviations.append(f"index_len {index_len} does not fit the file ({size} bytes); bounded by the file size")
        bound = size
    max_fit = (bound - HEADER_LEN) // 12
    if count > max_fit:
        raise WxapkgFormatError(
            f"file count {count} cannot fit in the index (at most {max_fit} entries of ≥12 bytes)", locator, "wxapkg"
        )
    if count > max_entries:
        raise WxapkgFormatError(f"file count {count} exceeds the limit of {max_entries} entries", locator, "limits")
    # Pass 1 walks the index (and raises); pass 2 re-reads it lazily, so no raw copy of it is ever held.
    p = HEADER_LEN
    unpack = struct.unpack_from
    for i in range(count):
        if p + 4 > bound:
            raise WxapkgFormatError(f"index ends inside entry {i} of {count}", locator, "wxapkg")
        (nlen,) = unpack(">I", buf, p)
        if nlen > MAX_NAME_LEN:
            raise WxapkgFormatError(f"entry {i}: name length {nlen} exceeds {MAX_NAME_LEN}", locator, "wxapkg")
        if p + 4 + nlen + 8 > bound:
            raise WxapkgFormatError(f"entry {i} (name length {nlen}) runs past the end of the index", locator, "wxapkg")
        p += 12 + nlen
    index_end = p
    if index_end != declared_end and bound == declared_end:
        deviations.append(f"index ends at {index_end}, header says {declared_end}")
    if declared_end + data_len != size:
        deviations.append(f"header sizes ({declared_end}+{data_len}) do not add up to the file size {size}")
    if info != 0:
        deviations.append(f"header info field is {info:#x} (0 in every known package)")
    entries, problems, more = check_entries(records(buf, count, HEADER_LEN, ">"), index_end, size, leading_slash=True)
    return PackageIndex(tuple(entries), index_end, tuple(problems), tuple(deviations + more), count)


def records(buf: Buffer, count: int, start: int, order: str) -> Iterator[tuple[bytes, int, int]]:
    """``(name, offset, size)`` of an index already walked (bounds checked) by the caller."""
    p = start
    fmt_len, fmt_rec = order + "I", order + "II"
    for _ in range(count):
        (nlen,) = struct.unpack_from(fmt_len, buf, p)
        off, size = struct.unpack_from(fmt_rec, buf, p + 4 + nlen)
        yield bytes(buf[p + 4 : p + 4 + nlen]), off, size
        p += 12 + nlen


# -- V1MMWX ------------------------------------------------------------------------------------------------


def xor_key_for(appid: str) -> int:
    """The XOR byte of the body: the appid's second-to-last character (0x66 for degenerate appids)."""
    return ord(appid[-2]) & 0xFF if len(appid) >= 2 else 0x66


def _xor_table(key: int) -> bytes:
    return bytes(i ^ key for i in range(256))


def _aes_head(raw: Buffer, appid: str) -> bytes:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = hashlib.pbkdf2_hmac("sha1", appid.encode("utf-8", "replace"), _SALT, 1000, 32)
    dec = Cipher(algorithms.AES(key), modes.CBC(_IV)).decryptor()
    return dec.update(bytes(raw[6:BODY_START])) + dec.finalize()


def decrypt_v1mmwx(raw: Buffer, appid: str, locator: str = "") -> bytes:
    """Decrypt a ``V1MMWX`` package with ``appid``; a wrong appid gives garbage, so check :func:`head_ok`."""
    if not is_v1mmwx(raw):
        raise WxapkgDecryptError("not a V1MMWX package (magic missing)", locator, "decrypt")
    if len(raw) < BODY_START:
        raise WxapkgDecryptError(
            f"{len(raw)} bytes: too short for a V1MMWX package ({BODY_START} bytes of header)", locator, "decrypt"
        )
    head = _aes_head(raw, appid)
    return head[:HEAD_PLAIN] + bytes(raw[BODY_START:]).translate(_xor_table(xor_key_for(appid)))


def head_ok(raw: Buffer, appid: str) -> bool:
    """Cheap appid check: the AES head must end in the pad byte 0x01 and start with the wxapkg marks."""
    if not is_v1mmwx(raw) or len(raw) < BODY_START:
        return False
    head = _aes_head(raw, appid)
    return head[HEAD_PLAIN] == 1 and head[0] == 0xBE and head[13] == 0xED


def recover_xor_key(raw: Buffer, locator: str = "") -> tuple[int, bytes]:
    """The body's XOR byte, chosen among the 16 hex characters by plausibility; also the decoded body.

    Raises :class:`WxapkgDecryptError` when no candidate makes the body look like a package.
    """
    if not is_v1mmwx(raw) or len(raw) < BODY_START:
        raise WxapkgDecryptError("not a complete V1MMWX package", locator, "decrypt")
    sample = bytes(raw[BODY_START : BODY_START + _SCORE_SAMPLE])
    scores: list[tuple[int, int]] = []
    for ch in _HEX:
        k = ord(ch)
        dec = sample.translate(_xor_table(k))
        scores.append((sum(dec.count(t) for t in _BODY_TOKENS), k))
    scores.sort(reverse=True)
    best, key = scores[0]
    if best == 0:
        raise WxapkgDecryptError(
            "no XOR key among the 16 candidates makes the body readable (not a V1MMWX package as documented)",
            locator,
            "decrypt",
        )
    if scores[1][0] * 2 > best:
        raise WxapkgDecryptError(
            f"XOR key ambiguous ({chr(key)!r} scores {best}, {chr(scores[1][1])!r} scores {scores[1][0]})",
            locator,
            "decrypt",
        )
    return key, bytes(raw[BODY_START:]).translate(_xor_table(key))


def appids_in(data: Buffer, xor_key: int | None = None, limit: int = MAX_APPID_TRIALS) -> list[str]:
    """Distinct ``wx`` + 16-hex strings in ``data`` (first seen first); with ``xor_key`` only matching ones."""
    out: list[str] = []
    seen: set[bytes] = set()
    for m in _APPID_BYTES.finditer(data):
        v = m.group()
        if v in seen:
            continue
        seen.add(v)
        if xor_key is None or v[-2] == xor_key:
            out.append(v.decode("ascii"))
            if len(out) >= limit:
                break
    return out


@dataclass(frozen=True)
class PartialIndex:
    """What an encrypted package shows without its key: the index tail, and where unnamed data lies."""

    entries: tuple[IndexEntry, ...]
    index_end: int | None  # None: no index record was readable
    unnamed: tuple[int, int]  # plaintext byte range of data whose names stayed locked
    locked: int  # plaintext bytes that stayed encrypted (from 0)


def recover_index_tail(body: Buffer, locked: int, total: int) -> PartialIndex:
    """List the index records that lie past the ``locked`` plaintext prefix (``body`` starts there).

    The first record boundary after the locked prefix lies within one maximal record; from each candidate
    start a chain of records is walked while names look like wxapkg names, and the first chain whose
    entries point inside the data area, past the chain's end, without overlapping, is taken.
    """
    n = len(body)
    limit = min(n, 4 + MAX_NAME_LEN + 8 + 1)
    walked: set[int] = set()  # record starts already inside a rejected chain: never walked twice (linear time)
    for s in range(limit):
        if s in walked or s + 5 > n or body[s] != 0 or body[s + 1] > (MAX_NAME_LEN >> 8) or body[s + 4] != 0x2F:
            continue
        chain = _chain(body, s)
        if not chain:
            continue
        end = locked + chain[-1][0]
        recs = [e for _, e in chain]
        if all(end <= e.offset and e.offset + e.size <= total for e in recs) and _disjoint(recs):
            first_data = min(e.offset for e in recs)
            return PartialIndex(tuple(recs), end, (end, first_data), locked)
        walked.update(p for p, _ in chain)
    return PartialIndex((), None, (locked, total), locked)


def _chain(body: Buffer, p: int, max_records: int = 200_000) -> list[tuple[int, IndexEntry]]:
    """Records from ``p`` while they look like wxapkg records; each item is (next record start, entry)."""
    out: list[tuple[int, IndexEntry]] = []
    n = len(body)
    while p + 4 <= n and len(out) < max_records:
        (nlen,) = struct.unpack_from(">I", body, p)
        if not 1 <= nlen <= MAX_NAME_LEN or p + 4 + nlen + 8 > n:
            break
        raw = bytes(body[p + 4 : p + 4 + nlen])
        if raw[:1] != b"/" or b"\x00" in raw:
            break
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            break
        if not name.isprintable():
            break
        off, size = struct.unpack_from(">II", body, p + 4 + nlen)
        p += 12 + nlen
        out.append((p, IndexEntry(name, off, size)))
    return out


def _disjoint(entries: list[IndexEntry]) -> bool:
    end = -1
    for e in sorted(entries, key=lambda e: e.offset):
        if e.size and e.offset < end:
            return False
        end = max(end, e.offset + e.size)
    return True


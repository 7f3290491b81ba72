"""A zip reader that reads archives the way Android's installer does, under hard resource limits.

Hand-written on purpose: Python's ``zipfile`` rejects archives Android installs (corrupt extra fields,
bogus compression methods, a central directory whose size field lies), and apkInspector (which androguard
uses) loads the whole file and has no budget for bombs. This reader works on a memory map, trusts the
central directory like Android's libziparchive (falling back to a local-header scan when the directory is
broken), treats unknown compression methods as stored, and inflates only what it is asked for, counting
every byte against the artifact's :class:`Budget`.
"""

from __future__ import annotations

import mmap
import struct
import threading
import time
import types
import zlib

_inflate_mod: types.ModuleType
try:  # ISA-L's inflate is ~2x zlib's on APK entries (bench/bench_inventory.py); zlib is the fallback
    from isal import isal_zlib as _inflate_mod

    _INFLATE_ERRORS: tuple[type[BaseException], ...] = (zlib.error, _inflate_mod.error)
except ImportError:  # pragma: no cover - isal ships wheels for every platform CI uses
    _inflate_mod = zlib
    _INFLATE_ERRORS = (zlib.error,)
try:  # inflate + SHA-256 on a native thread, without the GIL (scanner/_speedups.c)
    from scanner._speedups import inflate_job as _c_inflate_job
    from scanner._speedups import inflate_prefix as _c_inflate_prefix
    from scanner._speedups import cd_records as _c_cd_records
except ImportError:  # pragma: no cover - built by `pip install`; absent only without a C compiler
    _c_inflate_job = None
    _c_inflate_prefix = None
    _c_cd_records = None
_ISAL_MIN = 16 * 1024  # compressed bytes from which ISA-L's faster inflate pays for its set-up
from dataclasses import dataclass, field

from scanner.errors import BudgetSpent, LimitExceeded, ReadError, ZipFormatError
from scanner.model import ScanError, ScanNote

_EOCD = b"PK\x05\x06"
_CDH = b"PK\x01\x02"
_LFH = b"PK\x03\x04"
_EOCD_MAX_SEARCH = 65535 + 22


@dataclass(frozen=True)
class Limits:
    """Per-artifact resource limits; hitting one records an error (→ needs_review), never a crash."""

    max_total_bytes: int = 2 * 1024**3  # bytes inflated or read whole, over the whole artifact
    max_entry_bytes: int = 512 * 1024**2  # one member read whole
    max_entries: int = 200_000  # members over all (nested) archives
    max_depth: int = 3  # nesting of archives inside archives
    max_ratio: int = 200  # uncompressed/compressed, checked for members > ratio_floor
    ratio_floor: int = 16 * 1024**2
    max_seconds: float = 120.0  # wall time for reading one artifact
    text_asset_bytes: int = 8 * 1024**2  # at most this much of one text asset is scanned for strings


@dataclass
class Budget:
    """The running account of one artifact's reading against its :class:`Limits` (the one mutable helper)."""

    limits: Limits = field(default_factory=Limits)
    started: float = field(default_factory=time.monotonic)
    bytes_used: int = 0
    entries_seen: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def charge(self, nbytes: int, locator: str) -> None:
        """Account for bytes read or inflated; raise when the artifact's total is exceeded (thread-safe)."""
        with self._lock:
            self.bytes_used += nbytes
        if self.bytes_used > self.limits.max_total_bytes:
            raise BudgetSpent(
                f"total bytes read exceed the limit of {self.limits.max_total_bytes}", locator, "limits"
            )

    def remaining(self) -> int:
        """Bytes still allowed for this artifact."""
        return max(0, self.limits.max_total_bytes - self.bytes_used)

    def count_entries(self, n: int, locator: str) -> None:
        """Account for archive members; raise past the entry limit."""
        self.entries_seen += n
        if self.entries_seen > self.limits.max_entries:
            raise LimitExceeded(f"more than {self.limits.max_entries} archive entries", locator, "limits")

    def check_time(self, locator: str) -> None:
        """Raise when the wall-time budget for this artifact is spent."""
        if time.monotonic() - self.started > self.limits.max_seconds:
            raise BudgetSpent(f"reading took longer than {self.limits.max_seconds:.0f} s", locator, "limits")


@dataclass(frozen=True)
class Member:
    """One archive member as the central directory (or a local header, when salvaging) describes it."""

    name: str
    method: int
    flags: int
    crc: int
    csize: int
    usize: int
    header_offset: int

    @property
    def is_dir(self) -> bool:
        """Directory entries carry no data."""
        return self.name.endswith("/")


class ZipArchive:
    """Read-only view over zip bytes (``bytes`` or a read-only ``mmap``); ``locator`` names it in evidence."""

    def __init__(self, buf: bytes | mmap.mmap, locator: str, budget: Budget) -> None:
        self.buf = buf
        self.size = len(buf)
        self.locator = locator
        self.budget = budget
        self.notes: list[ScanNote] = []
        self.errors: list[ScanError] = []  # structural faults Android's installer rejects (→ needs_review)
        self.name_fault: ScanError | None = None  # the one fault summarising escaping entry names, if any
        self.members: list[Member] = []
        self.salvaged = False
        self.cd_offset = 0
        self._shift = 0
        self._offsets: dict[int, int] = {}  # local header offset -> data offset (overlap check, then reads)
        self._parse()

    # -- structure -------------------------------------------------------------------------------------

    def _note(self, message: str, locator: str | None = None) -> None:
        self.notes.append(ScanNote("zip", locator or self.locator, message))

    def _fault(self, message: str) -> None:
        """A structural fault Android's installer would refuse: reading goes on, but the scan is incomplete."""
        self.errors.append(ScanError("zip", self.locator, message))

    def _find_eocd(self) -> int:
        buf = self.buf
        lo = max(0, self.size - _EOCD_MAX_SEARCH)
        pos = self._rfind(_EOCD, lo, self.size)
        candidates = 0
        while pos >= 0 and candidates < 64:
            candidates += 1
            if self._eocd_plausible(pos):
                if pos + 22 + struct.unpack_from("<H", buf, pos + 20)[0] != self.size:
                    self._note("end-of-central-directory record is not at the end of the file")
                return pos
            pos = self._rfind(_EOCD, lo, pos)
            if pos < 0 and lo > 0:  # EOCD hidden before trailing data: search the whole file once
                lo = 0
                pos = self._rfind(_EOCD, 0, max(0, self.size - _EOCD_MAX_SEARCH) + 3)
        return -1

    def _rfind(self, needle: bytes, lo: int, hi: int) -> int:
        return self.buf.rfind(needle, lo, hi)

    def _eocd_plausible(self, pos: int) -> bool:
        if pos + 22 > self.size:
            return False
        _, _, _, _, count, cd_size, cd_off, _ = struct.unpack_from("<IHHHHIIH", self.buf, pos)
        if count == 0:
            return cd_off <= pos
        # Accept a directory that starts where it says, or one shifted by prepended data.
        for start in (cd_off, pos - cd_size):
            if 0 <= start < pos and self.buf[start : start + 4] == _CDH:
                return True
        return False

    def _parse(self) -> None:
        if self.size < 22:
            raise ZipFormatError("too small to be a zip archive", self.locator, "zip")
        eocd = self._find_eocd()
        if eocd < 0:
            if self.buf[:4] == _LFH:
                self._note("no end-of-central-directory record; entries salvaged from local headers")
                self._salvage()
                return
            raise ZipFormatError("not a zip archive (no end-of-central-directory record)", self.locator, "zip")
        _, disk, _, _, count, cd_size, cd_off, _ = struct.unpack_from("<IHHHHIIH", self.buf, eocd)
        if count == 0xFFFF or cd_off == 0xFFFFFFFF:
            self._note("zip64 markers present; only the classic directory is read")
        if self.buf[cd_off : cd_off + 4] != _CDH and count:
            shifted = eocd - cd_size
            self._shift = shifted - cd_off
            cd_off = shifted
            self._fault(f"central directory found {self._shift:+d} bytes from its declared offset (Android rejects this)")
        self.cd_offset = cd_off
        if cd_off + cd_size > eocd:
            self._fault("central directory size overlaps the end-of-central-directory record (Android rejects this)")
        self.budget.count_entries(count, self.locator)
        pos = prev_start = cd_off
        members: list[Member] = []
        names: set[str] = set()
        escaping: list[str] = []  # names that would escape an extraction directory
        links: list[str] = []  # Unix symlink entries
        # The well-formed run of records is read in C (scanner._speedups.cd_records); from the first odd one
        # on, the loop below reads and resynchronises as before.
        fast: list[tuple[str, int, int, int, int, int, int, int, int]] = []
        if _c_cd_records is not None and count:
            fast, _done, fast_end, last_start = _c_cd_records(self.buf, pos, count, eocd)
        for i in range(count):
            if i % 4096 == 0:
                self.budget.check_time(self.locator)
            if i < len(fast):
                name, method, flags, crc, csize, usize, lho, vm, ea = fast[i]
                if i == len(fast) - 1:
                    pos, prev_start = fast_end, last_start
            else:
                name, method, flags, crc, csize, usize, lho, vm, ea, pos, prev_start = self._cd_record(
                    i, count, pos, prev_start, eocd)
                if pos < 0:
                    break
            members.append(Member(name, method, flags, crc, csize, usize, lho + self._shift))
            if name in names:
                self._note(f"duplicate entry name {name!r}", f"{self.locator}!{name}")
            names.add(name)
            if _suspicious_name(name):
                self._note(f"suspicious entry name {name!r} (absolute, parent or NUL); never extracted",
                           f"{self.locator}!{name}")
                escaping.append(name)
            if vm >> 8 == 3 and (ea >> 16) & 0o170000 == 0o120000:  # made on Unix, st_mode S_IFLNK
                links.append(name)
        self.members = members
        self._after_directory(members, escaping, links)

    def _cd_record(
        self, i: int, count: int, pos: int, prev_start: int, eocd: int
    ) -> tuple[str, int, int, int, int, int, int, int, int, int, int]:
        """Record ``i`` at ``pos`` (resynchronising on the next signature when lengths lie); pos -1 = stop."""
        if pos + 46 > eocd or self.buf[pos : pos + 4] != _CDH:
            # An entry's length fields lie (tampering); resynchronise on the next header signature.
            nxt = self.buf.find(_CDH, max(prev_start + 46, pos - 256), min(eocd, pos + 65536))
            if nxt < 0 or nxt + 46 > eocd:
                self._note(f"central directory truncated after {i} of {count} entries")
                self.salvaged = True
                return ("", 0, 0, 0, 0, 0, 0, 0, 0, -1, prev_start)
            self._note(f"central directory entry {i} does not start where the previous one ends; resynchronised")
            pos = nxt
        prev_start = pos
        (
            _sig, vm, _vn, flags, method, _t, _d, crc, csize, usize, nlen, elen, clen, _dn, _ia, ea, lho,
        ) = struct.unpack_from("<IHHHHHHIIIHHHHHII", self.buf, pos)
        raw = bytes(self.buf[pos + 46 : pos + 46 + nlen])
        name = _decode_name(raw, flags)
        pos += 46 + nlen + elen + clen
        return name, method, flags, crc, csize, usize, lho, vm, ea, pos, prev_start

    def _after_directory(self, members: list[Member], escaping: list[str], links: list[str]) -> None:
        # Hostile tells (they only ever serve to attack extractors): reading goes on, the scan is not clean.
        if escaping:
            self._fault(f"{len(escaping)} entry name(s) would escape an extraction directory (absolute, parent, "
                        f"drive or NUL), e.g. {', '.join(map(repr, escaping[:3]))}; never extracted")
            self.name_fault = self.errors[-1]
        if links:
            self._fault(f"{len(links)} symlink entr{'y' if len(links) == 1 else 'ies'}, e.g. "
                        f"{', '.join(map(repr, links[:3]))}; never followed or extracted")
        if self.salvaged:
            known = {m.header_offset for m in members}
            self._salvage(skip=known)
        else:
            self._check_overlaps()

    def _check_overlaps(self) -> None:
        """Entries sharing local data, or data running into the next entry or the central directory (bomb
        and "archive containing itself" constructions; apksigner/zipalign never write them)."""
        spans: list[tuple[int, int, str]] = []
        for m in self.members:
            try:
                start = self._data_offset(m)
            except ZipFormatError:
                continue
            spans.append((m.header_offset, start + m.csize, m.name))
        spans.sort()
        shared = into_next = 0
        example = ""
        for (off, end, name), (off2, _end2, name2) in zip(spans, spans[1:]):
            if off2 == off:
                shared += 1
            elif off2 < end:
                into_next += 1
            else:
                continue
            example = example or f"{name!r} and {name2!r}"
        if shared or into_next:
            self._fault(f"overlapping entries: {shared} share another entry's local data, {into_next} run into the "
                        f"next entry (e.g. {example}); a zip-bomb or parser-confusion construction")
        past = [name for _off, end, name in spans if end > self.cd_offset]
        if past:
            self._fault(f"entry data runs into the central directory ({', '.join(map(repr, past[:3]))}): the archive "
                        f"contains its own directory")

    def _salvage(self, skip: set[int] | None = None) -> None:
        """Recover members from local file headers (a broken or missing central directory)."""
        self.salvaged = True
        skip = skip or set()
        buf = self.buf
        pos = buf.find(_LFH)
        found = 0
        while 0 <= pos and pos + 30 <= self.size:
            if found % 4096 == 0:
                self.budget.check_time(self.locator)
            _sig, _v, flags, method, _t, _d, crc, csize, usize, nlen, elen = struct.unpack_from(
                "<IHHHHHIIIHH", buf, pos
            )
            name = _decode_name(bytes(buf[pos + 30 : pos + 30 + nlen]), flags)
            data_start = pos + 30 + nlen + elen
            if pos not in skip and nlen:
                if flags & 0x08 and csize == 0 and method == 8:
                    csize = self._deflate_extent(data_start)
                self.members.append(Member(name, method, flags, crc, csize, usize, pos))
                found += 1
                self.budget.count_entries(1, self.locator)
            nxt = data_start + csize if csize and data_start + csize <= self.size else pos + 4
            pos = buf.find(_LFH, nxt)
        self._note(f"{found} entries salvaged from local headers")

    def _deflate_extent(self, start: int) -> int:
        """Length of a raw deflate stream starting at ``start`` (for data-descriptor entries)."""
        d = _inflate_mod.decompressobj(-15)
        pos = start
        out = 0
        lim = self.budget.limits
        try:
            while not d.eof and pos < self.size:
                chunk = bytes(self.buf[pos : pos + 65536])
                out += len(d.decompress(chunk, 1 << 20))
                self.budget.charge(0, self.locator)
                self.budget.check_time(self.locator)
                pos += len(chunk) - len(d.unused_data)
                if d.unconsumed_tail:
                    pos -= len(d.unconsumed_tail)
                # A bomb stream would cost ~1000x its size in CPU per salvaged entry: stop at the ratio limit.
                if out > lim.max_entry_bytes or out > max(lim.ratio_floor, lim.max_ratio * (pos - start)):
                    break
        except _INFLATE_ERRORS:
            pass
        return max(0, pos - start)

    # -- data ----------------------------------------------------------------------------------------

    def _data_offset(self, m: Member) -> int:
        pos = m.header_offset
        hit = self._offsets.get(pos)
        if hit is not None:
            return hit
        buf = self.buf
        if pos < 0 or pos + 30 > self.size or buf[pos : pos + 4] != _LFH:
            raise ZipFormatError("local file header missing or out of range", f"{self.locator}!{m.name}", "zip")
        nlen, elen = struct.unpack_from("<HH", buf, pos + 26)
        self._offsets[pos] = start = pos + 30 + nlen + elen
        return start

    def _plan(self, m: Member, max_bytes: int | None) -> tuple[str, int, int, int, bool, int]:
        """Checks before reading ``m``: (locator, cap, data start, compressed length, deflated, bomb limit)."""
        loc = f"{self.locator}!{m.name}"
        lim = self.budget.limits
        cap = min(lim.max_entry_bytes, self.budget.remaining())
        if max_bytes is not None:
            cap = min(cap, max_bytes)
        if m.usize > lim.max_entry_bytes:
            raise LimitExceeded(f"entry declares {m.usize} bytes, over the per-entry limit", loc, "limits")
        if m.usize > lim.ratio_floor and m.csize and m.usize / m.csize > lim.max_ratio:
            raise LimitExceeded(
                f"compression ratio {m.usize // max(1, m.csize)}:1 over the limit {lim.max_ratio}:1 (zip bomb?)",
                loc,
                "limits",
            )
        start = self._data_offset(m)
        if start + m.csize > self.size:
            raise ZipFormatError("entry data runs past the end of the file", loc, "zip")
        deflated = m.method == 8
        if m.method not in (0, 8):
            self._note(f"unknown compression method {m.method}; read as stored, like Android", loc)
        # The declared size can lie: the ratio limit also bounds what the real compressed bytes may inflate to.
        bomb = max(lim.ratio_floor, lim.max_ratio * m.csize)
        return loc, cap, start, m.csize, deflated, bomb

    def read(self, m: Member, max_bytes: int | None = None) -> bytes:
        """The member's full content, within the per-entry and artifact byte limits."""
        loc, cap, start, csize, deflated, bomb = self._plan(m, max_bytes)
        raw = self.buf[start : start + csize]
        if not deflated:
            return self._finish(m, loc, bytes(raw[:cap]), True, cap, bomb, deflated)
        # ISA-L inflates ~2x faster but costs ~2 us more to set up: zlib for small entries.
        d = (_inflate_mod if csize >= _ISAL_MIN else zlib).decompressobj(-15)
        try:
            data = d.decompress(raw, min(cap, bomb) + 1)
        except _INFLATE_ERRORS as exc:
            # Android's installer would fail too; the entry is recorded as unreadable.
            raise ZipFormatError(f"deflate stream is corrupt: {exc}", loc, "zip") from exc
        return self._finish(m, loc, data, d.eof, cap, bomb, deflated)

    def read_async(self, m: Member) -> AsyncRead:
        """Start reading ``m`` on a native thread (``scanner._speedups``); ``result()`` gives what :meth:`read`
        gives and raises what it raises, then ``digest()`` its SHA-256 (hashed on that thread meanwhile). Without the extension it reads on
        ``result()``. The job keeps the buffer exported: ``close()`` every one not collected."""
        return AsyncRead(self, m)

    def _finish(self, m: Member, loc: str, data: bytes, eof: bool, cap: int, bomb: int, deflated: bool) -> bytes:
        """Limits and notes after reading ``m`` (shared by the in-thread and native-thread reads)."""
        lim = self.budget.limits
        if deflated:
            if len(data) > bomb:
                raise LimitExceeded(f"entry inflates past {bomb} bytes from {m.csize} (declared {m.usize}); over the "
                                    f"compression ratio limit {lim.max_ratio}:1 (zip bomb?)", loc, "limits")
            if len(data) > cap:
                raise LimitExceeded(f"entry inflates past {cap} bytes (declared {m.usize})", loc, "limits")
            if not eof:
                self._note("deflate stream ends early (truncated entry)", loc)
        self.budget.charge(len(data), loc)
        if m.usize != len(data) and not (m.flags & 0x08 and m.usize == 0):
            self._note(f"declared size {m.usize} but {len(data)} bytes read", loc)
        return data

    def read_prefix(self, m: Member, n: int = 4096, compiled: bool = True) -> bytes:
        """The first ``n`` bytes of a member, inflating no more than needed (for sniffing)."""
        try:
            start = self._data_offset(m)
        except ZipFormatError:
            return b""
        end = min(self.size, start + m.csize)
        if m.method != 8:
            return bytes(self.buf[start : min(end, start + n)])
        step = max(1024, n // 2)
        if compiled and _c_inflate_prefix is not None and n <= 1 << 24:
            return _c_inflate_prefix(self.buf, start, end, n, step)  # type: ignore[no-any-return]
        d = zlib.decompressobj(-15)  # a prefix is small: zlib sets up faster than ISA-L
        out = b""
        pos = start
        try:
            while len(out) < n and pos < end and not d.eof:
                out += d.decompress(self.buf[pos : min(end, pos + step)], n - len(out))
                pos += step
                if d.unconsumed_tail:
                    break
        except zlib.error:
            return out
        return out[:n]


class AsyncRead:
    """A member read started by :meth:`ZipArchive.read_async`."""

    def __init__(self, za: ZipArchive, m: Member) -> None:
        self.za, self.m = za, m
        self._job = None
        self._plan: tuple[str, int, int, int, bool, int] | None = None
        self._error: Exception | None = None
        if _c_inflate_job is None:
            return
        try:
            self._plan = _loc, cap, start, csize, deflated, bomb = za._plan(m, None)
        except (ReadError, ValueError) as exc:
            self._error = exc
            return
        limit = min(cap, bomb) + 1 if deflated else cap
        try:
            # Same library choice as read(): ISA-L from _ISAL_MIN compressed bytes, zlib below.
            # The thread hashes the bytes after inflating them, while the caller already parses them.
            self._job = _c_inflate_job(za.buf, start, csize, deflated, limit, m.usize, csize >= _ISAL_MIN)
        except (OSError, MemoryError):  # no thread to be had (process limits): read() on result() instead
            self._job = None
            self._plan = None

    def result(self) -> bytes:
        """The content; raises the read's LimitExceeded/ZipFormatError."""
        if self._error is not None:
            raise self._error
        if self._job is None or self._plan is None:
            return self.za.read(self.m)
        data, eof, err = self._job.data()  # the artifact's buffer is released here; the hash may still run
        loc, cap, _start, _csize, deflated, bomb = self._plan
        if err is not None:
            self.close()
            raise ZipFormatError(f"deflate stream is corrupt: {err}", loc, "zip")
        return self.za._finish(self.m, loc, data, eof, cap, bomb, deflated)

    def digest(self) -> str | None:
        """SHA-256 hex of the content :meth:`result` gave (None without the native thread or after a failure)."""
        if self._job is None:
            return None
        job, self._job = self._job, None
        return job.digest()  # type: ignore[no-any-return]

    def close(self) -> None:
        """Wait for the native thread and release the buffer (the mmap can close then)."""
        if self._job is not None:
            self._job.close()
            self._job = None


def _decode_name(raw: bytes, flags: int) -> str:
    if flags & 0x800:
        return raw.decode("utf-8", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp437")


def _suspicious_name(name: str) -> bool:
    if name.startswith(("/", "\\")) or "\x00" in name or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in name and ".." in name.replace("\\", "/").split("/")  # the split only when it can matter

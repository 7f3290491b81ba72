"""Shared pieces of the two flat package indexes (wxapkg, TPKG): entries, name hygiene, range checks.

Both formats are a count, then ``{name_len, name, offset, size}`` records, then the file bodies. Real
packages never overlap, point into their own index or use ``..``; anything else is recorded as a problem
(forcing ``needs_review``) while the readable entries are still scanned in memory — nothing is extracted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: Longest entry name accepted (KillWxapkg caps at 1024, ttpkgUnpacker at 4096); longer means garbage.
MAX_NAME_LEN = 4096
#: Problems of one kind listed individually before they are summarised (hostile files can have 100k).
MAX_LISTED = 20

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One file of a flat package index; ``name`` is display-safe (control bytes escaped)."""

    name: str
    offset: int
    size: int


@dataclass(frozen=True)
class PackageIndex:
    """A parsed and range-checked index: usable entries, hard problems, and soft deviations from the norm."""

    entries: tuple[IndexEntry, ...]
    index_end: int
    problems: tuple[str, ...] = ()  # tampering or damage: recorded as errors
    deviations: tuple[str, ...] = ()  # unusual but harmless: recorded as notes
    declared_count: int = 0


def display_name(raw: bytes) -> tuple[str, bool]:
    """Decode a stored name for locators (UTF-8 with replacement, control bytes escaped); say if it was lossy."""
    try:
        text = raw.decode("utf-8")
        lossy = False
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "replace")
        lossy = True
    if _CONTROL.search(text):
        text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text, lossy


def name_problem(raw: bytes, leading_slash: bool) -> str | None:
    """Why a stored name would be dangerous to extract (absolute, parent, NUL, drive, backslash), or None."""
    if not raw:
        return "empty name"
    if b"\x00" in raw:
        return "NUL byte in name"
    body = raw[1:] if leading_slash and raw[:1] == b"/" else raw
    if body[:1] in (b"/", b"\\"):
        return "absolute path"
    if b"\\" in body:
        return "backslash in name"
    if len(body) > 1 and body[1:2] == b":" and body[:1].isalpha():
        return "drive letter"
    if b".." in body.split(b"/"):
        return "parent directory component '..'"
    return None


class _Listing:
    """Collects problems of one kind, listing the first few and counting the rest."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.more = 0

    def add(self, text: str) -> None:
        if len(self.items) < MAX_LISTED:
            self.items.append(text)
        else:
            self.more += 1

    def out(self, what: str) -> list[str]:
        return self.items + ([f"… and {self.more} more {what}"] if self.more else [])


def _offset(e: IndexEntry) -> int:
    return e.offset


def check_entries(
    raw: Iterable[tuple[bytes, int, int]], index_end: int, file_size: int, leading_slash: bool
) -> tuple[list[IndexEntry], list[str], list[str]]:
    """Range-check raw ``(name, offset, size)`` records; keep the readable ones, report the rest.

    Entries pointing into the header/index or past the end are dropped (their bytes are not theirs);
    overlapping, duplicate and dangerously named entries are kept (scanning them is harmless) but reported.
    """
    kept: list[IndexEntry] = []
    out_of_range, bad_names, dups, overlaps = _Listing(), _Listing(), _Listing(), _Listing()
    deviations: list[str] = []
    lossy = 0
    no_slash = 0
    seen: set[str] = set()
    for raw_name, off, size in raw:
        name, was_lossy = display_name(raw_name)
        lossy += was_lossy
        if off < index_end:
            out_of_range.add(f"{name!r}: offset {off} points into the header/index (data starts at {index_end})")
            continue
        if off + size > file_size:  # Python ints: no overflow
            out_of_range.add(f"{name!r}: {off}+{size} runs past the end of the file ({file_size} bytes)")
            continue
        why = name_problem(raw_name, leading_slash)
        if why:
            bad_names.add(f"{name!r}: {why}; never extracted")
        if leading_slash and raw_name[:1] != b"/":
            no_slash += 1
        if name in seen:
            dups.add(f"duplicate entry {name!r}")
        seen.add(name)
        kept.append(IndexEntry(name, off, size))
    # Overlaps: real packages are contiguous and sorted; sort a copy and sweep once.
    end_max = -1
    gaps = 0
    prev_name = ""
    for e in sorted(kept, key=_offset):
        if e.size and e.offset < end_max:
            overlaps.add(f"{e.name!r} overlaps {prev_name!r}")
        elif end_max >= 0 and e.offset > end_max:
            gaps += 1
        if e.offset + e.size > end_max:
            end_max, prev_name = e.offset + e.size, e.name
    problems = (
        out_of_range.out("entries out of range")
        + bad_names.out("suspicious names")
        + dups.out("duplicates")
        + overlaps.out("overlapping entries")
    )
    if lossy:
        deviations.append(f"{lossy} entry names are not valid UTF-8 (shown with replacement characters)")
    if no_slash:
        deviations.append(f"{no_slash} entry names do not start with '/'")
    if gaps:
        deviations.append(f"{gaps} gaps between entries' data (real packages are contiguous)")
    return kept, problems, deviations

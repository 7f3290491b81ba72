"""Strings of interest: URLs, hosts, filing-like numbers, 备案 links, AIGC label markers.

Extraction is loose on purpose (the scanner decides nothing): ``filings/`` validates the numbers, rules and
policy weigh the rest. Each text blob is scanned with one combined regex pass (C speed), not one regex per
string, so a 500k-string DEX costs one ``finditer`` over the joined table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from scanner.model import Located, StringsOfInterest

try:  # compiled twins of the host-name pre-filter and the ASCII split (scanner/_speedups.c)
    from scanner._speedups import host_candidates as _c_host_candidates
    from scanner._speedups import needles_mask as _c_needles_mask
    from scanner._speedups import split_ascii as _c_split_ascii
except ImportError:  # pragma: no cover - built by `pip install`; absent only without a C compiler
    _c_host_candidates = None
    _c_split_ascii = None
    _c_needles_mask = None

_URL = r"(?:https?|wss?)://[A-Za-z0-9\-._~%]+(?::\d{1,5})?(?:[/?#][A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%{}|^]*)?"
_SUANBEI = r"网信算备\s*(?:[:：]\s*)?[0-9Xx*＊]{6,24}\s*号"  # not \s*[:：]?\s*: quadratic on long blank runs
_GENAI = r"\b[A-Z][A-Za-z]+-[A-Za-z0-9]+-\d{8}(?:S\d{4}|\d{4})?\b"
_ICP = r"[京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川蜀贵黔云滇藏陕甘陇青宁新]ICP(?:备|证)\s*\d{6,12}\s*号(?:\s*-\s*\d+A?)?"
_BEIAN = r"beian\.cac\.gov\.cn|beian\.miit\.gov\.cn|生成式人工智能服务已备案|算法备案"
_AIGC = (
    r"http://www\.tc260\.org\.cn/ns/AIGC/1\.0/|TC260:AIGC|\bContentProducer\b|\bReservedCode1\b|\bPropagateID\b"
    r"|trainedAlgorithmicMedia|c2pa\.created|\bc2pa\.actions\b"
)

# Literal-led patterns only: Python's regex engine scans fast for a literal first character and crawls for
# a leading character class or alternation, and these run over megabytes of string tables. Each kind is
# also gated by a cheap ``in`` test.
_URL_AUTH = re.compile(r"[A-Za-z0-9\-._~%]+(?::\d{1,5})?")  # host and port; then an optional path:
_URL_PATH = re.compile(r"[/?#][A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%{}|^]*")
_MAX_URL = 2048  # longer URL values are cut: each kept one is copied, hashed and lowered
_SCHEME = re.compile(r"(?:https?|wss?)$", re.IGNORECASE)
_SUANBEI_RX = re.compile(_SUANBEI)
_ICP_RX = re.compile(r"ICP(?:备|证)\s*\d{6,12}\s*号(?:\s*-\s*\d+A?)?")
_PROVINCES = set("京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川蜀贵黔云滇藏陕甘陇青宁新")
_GENAI_TAIL = re.compile(r"-(?:19|20)\d{6}(?:S\d{4}|\d{4})?(?![0-9A-Za-z])")
_GENAI_HEAD = re.compile(r"(?<![A-Za-z0-9])[A-Z][A-Za-z]+-[A-Za-z0-9]+$")
_BEIAN_RX = re.compile(_BEIAN)
_AIGC_RX = re.compile(_AIGC)
_AIGC_KEYS = ("tc260", "TC260", "ContentProducer", "ReservedCode1", "PropagateID", "trainedAlgorithmicMedia", "c2pa.")
# The literals that gate the scans below, all tested in one pass over the text (scanner/_speedups.c).
_LABEL_WORDS = ("生成", "合成", "创作")
_GATES = ("://", "-20", "-19", "beian", "备", "备案", *_LABEL_WORDS, *_AIGC_KEYS)
_G_URL, _G_20, _G_19, _G_BEIAN, _G_BEI, _G_BEIAN_ZH = 0, 1, 2, 3, 4, 5
_G_LABELS = range(6, 6 + len(_LABEL_WORDS))
_G_AIGC = range(6 + len(_LABEL_WORDS), len(_GATES))


def _gates(text: str) -> int:
    """Bit i set when ``_GATES[i]`` occurs in ``text``."""
    mask = _c_needles_mask(text, _GATES) if _c_needles_mask is not None else -1
    if mask < 0:
        mask = sum(1 << i for i, g in enumerate(_GATES) if g in text)
    return int(mask)


_LABEL_HEAD = re.compile(r"(?:(?:以上内容|本内容|内容)?由\s*)?(?:AI|ai|ＡＩ|人工智能)\s*$")
_HOSTLIKE = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+(?:com|cn|net|org|io|ai|tech|top|xyz|cc|me|co|app|dev|info|biz"
    r"|vip|site|online|cloud|mobi|tv|hk|so|im|link|pro|work|ltd|fun|run|ink|art|space|group|store|games)(?::\d{1,5})?$"
)
_HOST_TLDS = tuple("." + t for t in (
    "com cn net org io ai tech top xyz cc me co app dev info biz vip site online cloud mobi tv hk so im link pro "
    "work ltd fun run ink art space group store games").split())
_URL_HOST = re.compile(r"^[a-z]+://([^/?#:]+)")


@dataclass
class StringCollector:
    """Accumulates strings of interest from many blobs; ``result()`` freezes them (deduplicated, ordered)."""

    max_per_kind: int = 20_000
    _seen: set[tuple[str, str, str]] = field(default_factory=set)
    _out: dict[str, list[Located]] = field(
        default_factory=lambda: {k: [] for k in ("urls", "hosts", "filings", "beian_links", "aigc_markers", "labels")}
    )

    def _add(self, kind: str, value: str, locator: str) -> None:
        key = (kind, value, locator)
        if key in self._seen or len(self._out[kind]) >= self.max_per_kind:
            return
        self._seen.add(key)
        self._out[kind].append(Located(value, locator))

    def scan_text(self, text: str, locator: str) -> None:
        """Scan one blob of text (a joined string table, a JS file…)."""
        find = text.find
        gates = _gates(text)
        pos = find("://") if gates & (1 << _G_URL) else -1
        run = (-1, -1)  # the last path run matched: a URL whose path starts inside it ends where it ends
        while pos >= 0:
            head = _SCHEME.search(text, max(0, pos - 5), pos)
            tail = _URL_AUTH.match(text, pos + 3) if head else None
            if head and tail:
                end = tail.end()
                if end < len(text) and text[end] in "/?#":
                    # Re-matching the path from every "://" inside one long path is quadratic (hostile input).
                    if not run[0] <= end < run[1]:
                        run = (end, _URL_PATH.match(text, end).end())
                    end = min(run[1], pos + _MAX_URL)
                v = text[head.start() : end].rstrip(".,;:'\")]}")
                self._add("urls", v, locator)
                h = _URL_HOST.match(v.lower())
                if h:
                    self._add("hosts", h.group(1), locator)
                if "beian." in v:
                    self._add("beian_links", v, locator)
            pos = find("://", pos + 3)
        if gates & (1 << _G_BEI):
            for m in _SUANBEI_RX.finditer(text):
                self._add("filings", re.sub(r"\s+", "", m.group()), locator)
            for m in _ICP_RX.finditer(text):
                if m.start() > 0 and text[m.start() - 1] in _PROVINCES:
                    self._add("filings", re.sub(r"\s+", "", text[m.start() - 1 : m.end()]), locator)
        if gates & ((1 << _G_20) | (1 << _G_19)):
            for m in _GENAI_TAIL.finditer(text):
                h = _GENAI_HEAD.search(text, max(0, m.start() - 80), m.start())
                if h:
                    self._add("filings", text[h.start() : m.end()], locator)
        if gates & ((1 << _G_BEIAN) | (1 << _G_BEIAN_ZH)):
            for m in _BEIAN_RX.finditer(text):
                self._add("beian_links", m.group(), locator)
        if any(gates & (1 << i) for i in _G_AIGC):
            for m in _AIGC_RX.finditer(text):
                self._add("aigc_markers", m.group(), locator)
        for word, bit in zip(_LABEL_WORDS, _G_LABELS):
            pos = find(word) if gates & (1 << bit) else -1
            while pos >= 0:
                h = _LABEL_HEAD.search(text, max(0, pos - 12), pos)
                if h:
                    self._add("labels", text[h.start() : pos + 2], locator)
                pos = find(word, pos + 2)

    def scan_strings(self, strings: Iterable[str], locator: str) -> None:
        """Scan a table of strings: one pass over the joined table, plus whole strings that are host names.

        Pure-ASCII strings are joined apart from the rest: one emoji anywhere would make the whole joined
        table four bytes per character, and every search over it four times slower. (Matches never span
        two table strings by design; adjacency in a string table is an accident of sorting.)
        """
        table = strings if isinstance(strings, (list, tuple)) else list(strings)
        if _c_split_ascii is not None:
            text, others = _c_split_ascii(table, "\n")
        else:
            text = "\n".join(s for s in table if s.isascii())
            others = [s for s in table if not s.isascii()]
        self.scan_text(text, locator)
        if others:
            self.scan_text("\n".join(others), locator)
        match = _HOSTLIKE.match
        if _c_host_candidates is not None:  # a strict superset of the gate below, in C; the regex decides
            for s in _c_host_candidates(table):
                if match(s):
                    self._add("hosts", s, locator)
            return
        for s in table:
            if 4 <= len(s) <= 253 and s[-1].isalpha() and "." in s and match(s):
                self._add("hosts", s, locator)

    def result(self) -> StringsOfInterest:
        """The collected strings as an immutable value."""
        o = {k: tuple(sorted(v, key=lambda x: (x.locator, x.value))) for k, v in self._out.items()}
        return StringsOfInterest(
            urls=o["urls"],
            hosts=o["hosts"],
            filings=o["filings"],
            beian_links=o["beian_links"],
            aigc_markers=o["aigc_markers"],
            labels=o["labels"],
        )


_BIN_URL_TAIL = re.compile(rb"[\x21-\x7e]{4,300}")
_BIN_SCHEME = re.compile(rb"(?:https?|wss?)$")
_BIN_HOST_HEAD = re.compile(rb"[a-z0-9][a-z0-9\-.]{2,120}$")
_BIN_TLDS = (b".com", b".cn")


def binary_strings(data: bytes, limit: int = 2000) -> list[str]:
    """URL and host-like printable strings from binary data (ELF .rodata and the like), found by literal search."""
    out: list[str] = []
    seen: set[bytes] = set()

    def add(b: bytes) -> None:
        if b not in seen and len(out) < limit:
            seen.add(b)
            out.append(b.decode("ascii", "replace"))

    pos = data.find(b"://")
    while pos >= 0 and len(out) < limit:
        head = _BIN_SCHEME.search(data, max(0, pos - 5), pos)
        tail = _BIN_URL_TAIL.match(data, pos + 3)
        if head and tail:
            add(data[head.start() : tail.end()])
        pos = data.find(b"://", pos + 3)
    for tld in _BIN_TLDS:
        pos = data.find(tld)
        hits = 0
        while pos >= 0 and hits < 400 and len(out) < limit:
            hits += 1
            end = pos + len(tld)
            if end >= len(data) or not (48 <= data[end] <= 57 or 65 <= data[end] <= 90 or 97 <= data[end] <= 122):
                head = _BIN_HOST_HEAD.search(data, max(0, pos - 64), pos)
                if head and b"." in data[head.start() : pos] or head and tld in (b".com", b".cn"):
                    add(data[head.start() : end])
            pos = data.find(tld, end)
    return out

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

_URL = r"(?:https?|wss?)://[A-Za-z0-9\-._~%]+(?::\d{1,5})?(?:[/?#][A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%{}|^]*)?"
_SUANBEI = r"网信算备\s*[:：]?\s*[0-9Xx*＊]{6,24}\s*号"
_GENAI = r"\b[A-Z][A-Za-z]+-[A-Za-z0-9]+-\d{8}(?:S\d{4}|\d{4})?\b"
_ICP = r"[京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川蜀贵黔云滇藏陕甘陇青宁新]ICP(?:备|证)\s*\d{6,12}\s*号(?:\s*-\s*\d+A?)?"
_BEIAN = r"beian\.cac\.gov\.cn|beian\.miit\.gov\.cn|生成式人工智能服务已备案|算法备案"
_AIGC = (
    r"http://www\.tc260\.org\.cn/ns/AIGC/1\.0/|TC260:AIGC|\bContentProducer\b|\bReservedCode1\b|\bPropagateID\b"
    r"|trainedAlgorithmicMedia|c2pa\.created|\bc2pa\.actions\b"
)
_LABEL = r"(?:内容|以上内容|本内容)?由\s*(?:AI|ai|ＡＩ|人工智能)\s*(?:生成|合成)|(?:AI|ＡＩ|人工智能)\s*(?:生成|合成)|AI创作"

_ALL = re.compile(
    f"(?P<url>{_URL})|(?P<suanbei>{_SUANBEI})|(?P<icp>{_ICP})|(?P<genai>{_GENAI})|(?P<beian>{_BEIAN})"
    f"|(?P<aigc>{_AIGC})|(?P<label>{_LABEL})"
)
_HOSTLIKE = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+(?:com|cn|net|org|io|ai|tech|top|xyz|cc|me|co|app|dev|info|biz"
    r"|vip|site|online|cloud|mobi|tv|hk|so|im|link|pro|work|ltd|fun|run|ink|art|space|group|store|games)(?::\d{1,5})?$"
)
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
        for m in _ALL.finditer(text):
            kind = m.lastgroup
            v = m.group()
            if kind == "url":
                v = v.rstrip(".,;:'\")]}")
                self._add("urls", v, locator)
                h = _URL_HOST.match(v.lower())
                if h:
                    self._add("hosts", h.group(1), locator)
                if "beian." in v:
                    self._add("beian_links", v, locator)
            elif kind in ("suanbei", "icp", "genai"):
                self._add("filings", re.sub(r"\s+", "", v), locator)
            elif kind == "beian":
                self._add("beian_links", v, locator)
            elif kind == "aigc":
                self._add("aigc_markers", v, locator)
            elif kind == "label":
                self._add("labels", v, locator)

    def scan_strings(self, strings: Iterable[str], locator: str) -> None:
        """Scan a table of strings: one regex pass over the joined table, plus bare host names."""
        table = list(strings)
        self.scan_text("\n".join(table), locator)
        for s in table:
            if 4 <= len(s) <= 253 and "." in s and s[-1].isalpha() and _HOSTLIKE.match(s):
                self._add("hosts", s, locator)

    def result(self) -> StringsOfInterest:
        """The collected strings as an immutable value."""
        o = self._out
        return StringsOfInterest(
            urls=tuple(o["urls"]),
            hosts=tuple(o["hosts"]),
            filings=tuple(o["filings"]),
            beian_links=tuple(o["beian_links"]),
            aigc_markers=tuple(o["aigc_markers"]),
            labels=tuple(o["labels"]),
        )


_PRINTABLE = re.compile(rb"(?:https?|wss?)://[\x21-\x7e]{4,300}|[a-z0-9][a-z0-9\-.]{2,120}\.(?:com|cn|net|io|ai)\b")


def binary_strings(data: bytes, limit: int = 2000) -> list[str]:
    """URL and host-like printable strings from binary data (ELF .rodata and the like)."""
    out: list[str] = []
    seen: set[bytes] = set()
    for m in _PRINTABLE.finditer(data):
        b = m.group()
        if b in seen:
            continue
        seen.add(b)
        out.append(b.decode("ascii", "replace"))
        if len(out) >= limit:
            break
    return out

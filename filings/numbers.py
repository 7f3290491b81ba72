"""Filing-number parsers and validators (reference: ../shared/reference/filings.md §2).

Numbers reach us mistyped, abbreviated, full-width, with a colon after 网信算备, or as placeholders left in code,
so every parser returns a :class:`FilingNumber` saying what is wrong instead of raising. A bad check digit is
only a warning ("probably mistyped or fabricated"): the rule in §2.1 is inferred from published numbers, and
the registry, not the checksum, decides whether a number is real.

The regexes are hand-written: no kept library knows these formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import Enum

__all__ = [
    "FilingKind",
    "NumberStatus",
    "AlgorithmParts",
    "GenAIParts",
    "IcpParts",
    "FilingNumber",
    "ALGORITHM_CATEGORIES",
    "GENAI_PROVINCES",
    "suanbei_check_digit",
    "suanbei_ok",
    "parse_filing",
    "find_filings",
    "number_key",
]


class FilingKind(str, Enum):
    """Which register a number belongs to."""

    ALGORITHM = "algorithm"  # 网信算备 + 21 digits + 号 (the deep-synthesis list uses category 01)
    GENAI_BEIAN = "genai_beian"  # 生成式人工智能 大模型备案: Province-Name-YYYYMMDD[NNNN]
    GENAI_DENGJI = "genai_dengji"  # 登记 (apps calling a filed model): Province-Name-YYYYMMDDSNNNN
    ICP = "icp"  # ICP 备案 of an entity or website: 京ICP备12345678号[-n]
    APP_BEIAN = "app_beian"  # App 备案: 京ICP备12345678号-nA
    UNKNOWN = "unknown"


class NumberStatus(str, Enum):
    """How far a number got through validation (the registry is consulted elsewhere)."""

    VALID = "valid"
    BAD_CHECK_DIGIT = "bad_check_digit"  # 21 digits but the §2.1 check digit disagrees: a warning, not proof
    MALFORMED = "malformed"  # wrong length, impossible date, unknown province, not a filing number at all
    PLACEHOLDER = "placeholder"  # xxxx / *** / 000000 dummies left in code or templates


#: Digits 14–15 of a 网信算备 number. Only 01 is confirmed for deep synthesis; the rest is inferred (§2.1).
ALGORITHM_CATEGORIES: dict[str, tuple[str, str]] = {
    "01": ("生成合成类", "generation/synthesis (deep synthesis)"),
    "02": ("个性化推送类", "personalised push"),
    "03": ("排序精选类", "ranking/curation"),
    "04": ("检索过滤类", "search/filtering"),
    "05": ("调度决策类", "scheduling/decision"),
}

#: Province tokens of GenAI 备案/登记 ids, compared case-insensitively (§2.3: casing varies).
GENAI_PROVINCES: frozenset[str] = frozenset(
    p.casefold()
    for p in (
        "Beijing", "Tianjin", "Hebei", "Shanxi", "NeiMengGu", "NeiMenggu", "InnerMongolia", "Liaoning", "Jilin",
        "HeiLongJiang", "Shanghai", "Jiangsu", "Zhejiang", "Anhui", "Fujian", "Jiangxi", "Shandong", "Henan",
        "Hubei", "Hunan", "Guangdong", "Guangxi", "Hainan", "Chongqing", "Sichuan", "Guizhou", "Yunnan",
        "Xizang", "Tibet", "Shaanxi", "Gansu", "Qinghai", "Ningxia", "Xinjiang", "Bingtuan", "XinjiangBingtuan",
        "ZhongYangQiYe",
    )
)

#: 省简称 allowed before ICP备 (§2.5; 蜀/黔/滇/陇 are alternative abbreviations, marked (U) there).
ICP_PROVINCES = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川蜀贵黔云滇藏陕甘陇青宁新"

_CHECK_WEIGHTS = (4, 2, 6, 8)

# Full-width digits/letters/punctuation -> ASCII, one char for one char so match spans stay valid.
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20

_PLACEHOLDER_CHARS = "xX*?#_＊"
_ALGO_RE = re.compile(r"网信算备\s*[:：]?\s*([0-9xX*?#_]{1,40})\s*号?")
_BARE21_RE = re.compile(r"(?<!\d)(\d{21})(?!\d)")
_GENAI_RE = re.compile(r"(?<![A-Za-z0-9-])([A-Z][A-Za-z]+)-([A-Za-z0-9]+)-(\d{8,})(S\d+)?(?![A-Za-z0-9])")
_ICP_RE = re.compile(
    rf"([{ICP_PROVINCES}])\s*ICP\s*备\s*([0-9xX*?#_]{{1,20}})\s*号(?:\s*-\s*(\d+)\s*([Aa])?)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AlgorithmParts:
    """The fields of a 网信算备 number (structure inferred from ~140 published numbers, §2.1)."""

    region: str  # digits 1–6: GB/T 2260 division code of the filing entity
    entity_id: str  # digits 7–13: stable per entity
    category: str  # digits 14–15: 01 = 生成合成类
    year: int  # digits 16–17, as 20YY
    sequence: str  # digits 18–20: per entity and category, across years
    check_digit: int  # digit 21 as written
    expected_check_digit: int  # what §2.1 says it should be

    @property
    def category_zh(self) -> str:
        return ALGORITHM_CATEGORIES.get(self.category, ("未知类别", ""))[0]

    @property
    def category_en(self) -> str:
        return ALGORITHM_CATEGORIES.get(self.category, ("", "unknown category"))[1]


@dataclass(frozen=True)
class GenAIParts:
    """The fields of a GenAI 备案 / 登记 id (§2.3)."""

    province: str
    name: str
    date: date
    serial: str | None  # NNNN of the later 备案 form or of 登记; None for the 2023 form
    registration: bool  # True = 登记 (the ``S`` form)


@dataclass(frozen=True)
class IcpParts:
    """The fields of an ICP / App 备案 number (§2.5)."""

    province: str
    digits: str
    site_index: int | None  # the n of ``-n`` / ``-nA``
    app: bool  # ``A`` suffix: an App 备案, not a website


@dataclass(frozen=True)
class FilingNumber:
    """One filing-like number as written, its canonical form and what is wrong with it (if anything)."""

    kind: FilingKind
    raw: str  # the text as found
    normalized: str  # canonical display form, e.g. 网信算备110108823483901230015号
    status: NumberStatus
    problem_zh: str = ""
    problem_en: str = ""
    algorithm: AlgorithmParts | None = None
    genai: GenAIParts | None = None
    icp: IcpParts | None = None
    span: tuple[int, int] = (0, 0)  # [start, end) in the text given to find_filings / parse_filing

    @property
    def ok(self) -> bool:
        return self.status is NumberStatus.VALID

    @property
    def key(self) -> str:
        """Lookup key: registry rows and found numbers are matched on this."""
        return number_key(self.normalized)


def suanbei_check_digit(first20: str) -> int:
    """The §2.1 check digit of the first 20 digits: (1 + Σ w[i mod 4]·d_i) mod 10, w = 4,2,6,8."""
    if len(first20) != 20 or not first20.isdigit():
        raise ValueError("need exactly 20 ASCII digits")
    return (1 + sum(_CHECK_WEIGHTS[i % 4] * int(ch) for i, ch in enumerate(first20))) % 10


def suanbei_ok(digits21: str) -> bool:
    """True when 21 digits carry the check digit §2.1 predicts."""
    return (
        len(digits21) == 21
        and digits21.isascii()
        and digits21.isdigit()
        and suanbei_check_digit(digits21[:20]) == int(digits21[20])
    )


def number_key(text: str) -> str:
    """A stable key for any number string: 21 digits for 网信算备, casefolded id for GenAI, compact ICP."""
    t = text.translate(_FULLWIDTH).strip()
    m = re.fullmatch(r"(?:网信算备)?\s*[:：]?\s*(\d{21})\s*号?", t)
    if m:
        return m.group(1)
    return re.sub(r"\s+", "", t).casefold()


def _is_dummy_digits(digits: str) -> bool:
    """Runs of zeros or one repeated digit: template values, not typos."""
    return bool(re.search(r"0{6,}", digits)) or (len(set(digits)) == 1 and len(digits) > 3)


def _algorithm(raw: str, body: str, span: tuple[int, int]) -> FilingNumber:
    normalized = f"网信算备{body}号"
    if any(c in _PLACEHOLDER_CHARS for c in body):
        return FilingNumber(
            FilingKind.ALGORITHM, raw, normalized, NumberStatus.PLACEHOLDER,
            "占位符，不是真实备案编号", "placeholder, not a real filing number", span=span,
        )
    if len(body) != 21:
        short = "过短" if len(body) < 21 else "过长"
        zh = f"位数错误：{len(body)} 位数字{short}，应为 21 位"
        en = f"wrong length: {len(body)} digits, expected 21"
        status = NumberStatus.PLACEHOLDER if _is_dummy_digits(body) else NumberStatus.MALFORMED
        if status is NumberStatus.PLACEHOLDER:
            zh, en = zh + "（疑似占位符）", en + " (looks like a placeholder)"
        return FilingNumber(FilingKind.ALGORITHM, raw, normalized, status, zh, en, span=span)
    expected = suanbei_check_digit(body[:20])
    parts = AlgorithmParts(
        region=body[0:6], entity_id=body[6:13], category=body[13:15], year=2000 + int(body[15:17]),
        sequence=body[17:20], check_digit=int(body[20]), expected_check_digit=expected,
    )
    if expected != parts.check_digit:
        return FilingNumber(
            FilingKind.ALGORITHM, raw, normalized, NumberStatus.BAD_CHECK_DIGIT,
            f"校验位为 {parts.check_digit}，应为 {expected}：可能输错或伪造（非定论）",
            f"check digit is {parts.check_digit}, expected {expected}: probably mistyped or fabricated (not proof)",
            algorithm=parts, span=span,
        )
    return FilingNumber(FilingKind.ALGORITHM, raw, normalized, NumberStatus.VALID, algorithm=parts, span=span)


def _genai(raw: str, province: str, name: str, digits: str, s_part: str | None,
           span: tuple[int, int]) -> FilingNumber | None:
    """Parse a GenAI id; None when the province token is not a province (so it is not a filing at all)."""
    normalized = f"{province}-{name}-{digits}{s_part or ''}"
    registration = s_part is not None
    kind = FilingKind.GENAI_DENGJI if registration else FilingKind.GENAI_BEIAN
    if province.casefold() not in GENAI_PROVINCES:
        return None

    def bad(zh: str, en: str) -> FilingNumber:
        return FilingNumber(kind, raw, normalized, NumberStatus.MALFORMED, zh, en, span=span)

    if registration:
        if len(digits) != 8 or len(s_part or "") != 5:
            return bad("登记编号应为 省份-名称-YYYYMMDD+S+4位序号", "登记 id must be Province-Name-YYYYMMDD + S + 4 digits")
        serial: str | None = (s_part or "")[1:]
    elif len(digits) == 8:
        serial = None
    elif len(digits) == 12:
        serial = digits[8:]
    else:
        return bad(
            f"备案号日期部分为 {len(digits)} 位，应为 8 位或 12 位",
            f"date part has {len(digits)} digits, expected 8 (YYYYMMDD) or 12 (YYYYMMDDNNNN)",
        )
    try:
        d = date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return bad(f"日期无效：{digits[:8]}", f"impossible date: {digits[:8]}")
    if d.year < 2023:
        return bad(f"日期早于生成式AI备案制度：{digits[:8]}", f"date precedes GenAI filing (2023): {digits[:8]}")
    return FilingNumber(
        kind, raw, normalized, NumberStatus.VALID,
        genai=GenAIParts(province=province, name=name, date=d, serial=serial, registration=registration),
        span=span,
    )


def _icp(raw: str, province: str, body: str, site: str | None, app: str | None,
         span: tuple[int, int]) -> FilingNumber:
    kind = FilingKind.APP_BEIAN if app else FilingKind.ICP
    suffix = f"-{site}{'A' if app else ''}" if site else ""
    normalized = f"{province}ICP备{body}号{suffix}"
    if any(c in _PLACEHOLDER_CHARS for c in body) or _is_dummy_digits(body):
        return FilingNumber(kind, raw, normalized, NumberStatus.PLACEHOLDER,
                            "占位符，不是真实ICP备案号", "placeholder, not a real ICP number", span=span)
    if len(body) not in (8, 10):
        return FilingNumber(
            kind, raw, normalized, NumberStatus.MALFORMED,
            f"ICP备案号数字部分为 {len(body)} 位，应为 8 或 10 位",
            f"ICP number has {len(body)} digits, expected 8 or 10", span=span,
        )
    parts = IcpParts(province=province, digits=body, site_index=int(site) if site else None, app=bool(app))
    return FilingNumber(kind, raw, normalized, NumberStatus.VALID, icp=parts, span=span)


def _prepare(text: str) -> str:
    return text.translate(_FULLWIDTH)


def find_filings(text: str, *, include_bare: bool = False) -> list[FilingNumber]:
    """Every filing-like number in ``text`` (DEX/resource strings, JS, HTML), in order of appearance.

    Placeholders and malformed numbers are returned too (with their status), because a placeholder left in
    an app is itself worth showing a reviewer. ``include_bare`` also reports bare 21-digit runs that pass the
    check digit and look structurally like a 网信算备 number (off by default: long digit runs are common).
    """
    t = _prepare(text)
    found: list[FilingNumber] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for m in _ALGO_RE.finditer(t):
        found.append(_algorithm(text[m.start():m.end()], m.group(1), m.span()))
        taken.append(m.span())
    for m in _ICP_RE.finditer(t):
        if free(*m.span()):
            found.append(_icp(text[m.start():m.end()], m.group(1), m.group(2), m.group(3), m.group(4), m.span()))
            taken.append(m.span())
    for m in _GENAI_RE.finditer(t):
        if not free(*m.span()):
            continue
        fn = _genai(text[m.start():m.end()], m.group(1), m.group(2), m.group(3), m.group(4), m.span())
        if fn is not None:
            found.append(fn)
            taken.append(m.span())
    if include_bare:
        for m in _BARE21_RE.finditer(t):
            d = m.group(1)
            if free(*m.span()) and suanbei_ok(d) and d[0] in "12345678" and d[13:15] in ALGORITHM_CATEGORIES \
                    and 22 <= int(d[15:17]) <= 40:
                found.append(_algorithm(text[m.start():m.end()], d, m.span()))
                taken.append(m.span())
    found.sort(key=lambda f: f.span)
    return found


def parse_filing(text: str) -> FilingNumber:
    """Parse one number typed by a person or declared in metadata; never raises.

    Accepts ``网信算备…号`` (with or without colon/spaces), bare 21 digits, GenAI ids and ICP/App 备案
    numbers, also inside a short label holding exactly one of them. Anything else comes back as
    ``FilingKind.UNKNOWN`` / ``MALFORMED`` with a reason.
    """
    raw = text
    t = _prepare(text).strip()
    if not t:
        return FilingNumber(FilingKind.UNKNOWN, raw, "", NumberStatus.MALFORMED, "编号为空", "empty number")
    bare = re.fullmatch(r"([0-9xX*?#_]+)\s*号?", t)
    if bare:
        # a bare digit string: read as the 21 digits of a 网信算备 number
        return _algorithm(raw, bare.group(1), (0, len(text)))
    hits = find_filings(t)
    if len(hits) == 1:
        # one number inside a pasted label ("备案号：网信算备…号（豆包）") is that number
        h = hits[0]
        return FilingNumber(h.kind, raw, h.normalized, h.status, h.problem_zh, h.problem_en,
                            h.algorithm, h.genai, h.icp, (0, len(text)))
    m = re.fullmatch(r"([A-Za-z]+)-([A-Za-z0-9]+)-(\d+)(S\d+)?", t)
    if m:
        fn = _genai(raw, m.group(1), m.group(2), m.group(3), m.group(4), (0, len(text)))
        if fn is not None:
            return fn
        return FilingNumber(
            FilingKind.GENAI_BEIAN, raw, t, NumberStatus.MALFORMED,
            f"未知省份标识：{m.group(1)}", f"unknown province token: {m.group(1)}",
        )
    if len(hits) > 1:
        return FilingNumber(FilingKind.UNKNOWN, raw, t, NumberStatus.MALFORMED,
                            "包含多个编号，请逐个提供", "contains several numbers; give one at a time")
    return FilingNumber(
        FilingKind.UNKNOWN, raw, t, NumberStatus.MALFORMED,
        "不是可识别的备案编号（网信算备+21位数字+号、生成式AI备案/登记号或ICP备案号）",
        "not a recognisable filing number (网信算备 + 21 digits + 号, a GenAI 备案/登记 id, or an ICP number)",
    )

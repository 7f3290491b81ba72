"""The CAC registries: import the published lists as versioned batches, look numbers up, snapshot for checks.

The CAC publishes the deep-synthesis list as ``.docx`` tables (``序号|算法名称|角色|主体名称|应用产品|主要用途|
备案编号|备注``), the generative-AI 备案/登记 lists (``序号|属地|模型名称|备案单位|备案号|备案时间``) and
cancellation notices (lists of numbers). Stores re-key them into ``.xlsx``/``.csv``/``.json``, so all four
forms go through one header-driven reader: the layout is recognised from the header row, never from column
positions, and a file with no recognisable table is refused (:class:`RegistryImportError`) rather than
imported half-understood. Each file becomes one batch keyed by its sha256, so re-importing is a no-op and
every check can name the exact registry state it used (:attr:`RegistrySnapshot.snapshot_id`).

Rows are stored in the synthreview DB with sqlite-utils in ``registry_*`` tables. Cancellation is derived
at read time (a row is cancelled if any cancellation batch lists its number), so the order in which lists
and notices are imported does not matter.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from enum import Enum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import sqlite_utils

from filings.numbers import FilingKind, FilingNumber, NumberStatus, find_filings, number_key, parse_filing

__all__ = [
    "RegistryImportError",
    "ListKind",
    "BatchKind",
    "ImportKind",
    "Role",
    "Product",
    "Batch",
    "RegistryRow",
    "Cancellation",
    "ParsedBatch",
    "ImportResult",
    "RegistrySnapshot",
    "parse_products",
    "parse_registry_file",
    "import_file",
    "store_batch",
    "open_db",
    "ensure_schema",
    "has_registry",
    "load_snapshot",
    "load_seed_registry",
    "MAX_IMPORT_BYTES",
]

#: Largest registry file accepted; the full deep-synthesis list as .docx is a few MB.
MAX_IMPORT_BYTES = 64 * 1024 * 1024
#: Largest total a .docx/.xlsx may unpack to: python-docx/openpyxl inflate and parse whole parts, so a 64 MB
#: zip bomb would otherwise become tens of GB in memory (zipfile never inflates past the declared sizes).
MAX_UNPACKED_BYTES = 2 * MAX_IMPORT_BYTES

T_BATCHES = "registry_batches"
T_ROWS = "registry_rows"
T_CANCELLATIONS = "registry_cancellations"


class RegistryImportError(ValueError):
    """A registry file that cannot be read or holds no recognisable list (nothing was imported)."""


class ListKind(str, Enum):
    """Which published list a row comes from."""

    DEEP_SYNTHESIS = "deep_synthesis"  # 境内深度合成服务算法备案清单
    GENAI_BEIAN = "genai_beian"  # 生成式人工智能服务已备案信息
    GENAI_DENGJI = "genai_dengji"  # … 已登记信息


class BatchKind(str, Enum):
    """What one imported file was."""

    DEEP_SYNTHESIS = "deep_synthesis"
    GENAI = "genai"
    CANCELLATION = "cancellation"


class ImportKind(str, Enum):
    """``--kind`` of ``registry import``: auto-detect from headers, or force a layout."""

    AUTO = "auto"
    DEEP_SYNTHESIS = "deep_synthesis"
    GENAI = "genai"
    CANCELLATION = "cancellation"


class Role(str, Enum):
    """角色 column: the provider runs the service; a technical supporter only supplies the technology."""

    PROVIDER = "provider"  # 服务提供者
    SUPPORTER = "supporter"  # 服务技术支持者
    UNKNOWN = "unknown"

    @property
    def zh(self) -> str:
        return {"provider": "服务提供者", "supporter": "服务技术支持者", "unknown": "未知"}[self.value]

    @classmethod
    def from_text(cls, text: str) -> Role:
        t = re.sub(r"\s+", "", text or "")
        if "支持者" in t:
            return cls.SUPPORTER
        if "提供者" in t:
            return cls.PROVIDER
        return cls.UNKNOWN


@dataclass(frozen=True)
class Product:
    """One entry of 应用产品: a product name and the forms it is filed for (APP, 小程序, 网站, …)."""

    name: str
    forms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Batch:
    """One imported file (or one seed batch)."""

    id: int | None
    source: str  # file name (or seed batch name)
    sha256: str
    imported: str  # ISO 8601 UTC
    kind: BatchKind
    row_count: int
    title: str = ""


@dataclass(frozen=True)
class RegistryRow:
    """One row of a published list, normalised (number canonical, cells stripped)."""

    list_kind: ListKind
    number: str  # canonical: 网信算备…号 or the GenAI id
    algorithm: str  # 算法名称 (deep synthesis) or 模型名称 (GenAI)
    entity: str  # 主体名称 / 备案单位
    role: str = ""  # 角色 as published (deep synthesis only)
    products: str = ""  # 应用产品 as published
    purpose: str = ""  # 主要用途
    note: str = ""  # 备注
    seq: str = ""  # 序号
    region: str = ""  # 属地 (GenAI)
    filed: str = ""  # 备案时间 (GenAI), ISO date when parseable
    batch_id: int | None = None
    batch_source: str = ""

    @property
    def key(self) -> str:
        return number_key(self.number)

    @property
    def role_kind(self) -> Role:
        return Role.from_text(self.role)

    @property
    def product_list(self) -> tuple[Product, ...]:
        return parse_products(self.products)[0]

    @property
    def products_open_ended(self) -> bool:
        """True when 应用产品 ends with 等 ("and others"): the list is not exhaustive."""
        return parse_products(self.products)[1]

    def _identity(self) -> tuple[str, ...]:
        return (self.list_kind.value, self.key, self.algorithm, self.entity, self.role, self.products,
                self.purpose, self.note, self.region, self.filed)


@dataclass(frozen=True)
class Cancellation:
    """A number listed in a cancellation notice (注销公告)."""

    number: str
    batch_id: int | None = None
    batch_source: str = ""
    algorithm: str = ""
    entity: str = ""
    products: str = ""
    cancelled: str = ""  # date or month of the notice when the file gives it

    @property
    def key(self) -> str:
        return number_key(self.number)


@dataclass(frozen=True)
class ParsedBatch:
    """A registry file read and understood, before it touches the DB."""

    source: str
    sha256: str
    kind: BatchKind
    rows: tuple[RegistryRow, ...] = ()
    cancellations: tuple[Cancellation, ...] = ()
    title: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def row_count(self) -> int:
        return len(self.rows) + len(self.cancellations)


@dataclass(frozen=True)
class ImportResult:
    """What ``import_file`` did: ``created`` is False when the same file (sha256) was already there."""

    batch: Batch
    created: bool
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegistrySnapshot:
    """An immutable in-memory view of the registry, what the pure cross-check reads.

    ``snapshot_id`` is a hash over the batch sha256s, recorded as provenance in every report; ``demo`` is
    True for the shipped seed rows, which are an excerpt: "not found" there proves nothing.
    """

    snapshot_id: str
    source: str  # "seed" or the DB path
    demo: bool
    batches: tuple[Batch, ...] = ()
    rows: tuple[RegistryRow, ...] = ()
    cancellations: tuple[Cancellation, ...] = ()
    _by_key: Mapping[str, tuple[RegistryRow, ...]] = field(init=False, repr=False, compare=False)
    _cancel_by_key: Mapping[str, Cancellation] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_key: dict[str, list[RegistryRow]] = {}
        seen: set[tuple[str, ...]] = set()
        for r in self.rows:
            ident = r._identity()
            if ident in seen:  # the same row re-published in another batch or file format
                continue
            seen.add(ident)
            by_key.setdefault(r.key, []).append(r)
        cancels: dict[str, Cancellation] = {}
        for c in self.cancellations:
            cancels.setdefault(c.key, c)
        object.__setattr__(self, "_by_key", MappingProxyType({k: tuple(v) for k, v in by_key.items()}))
        object.__setattr__(self, "_cancel_by_key", MappingProxyType(cancels))

    @staticmethod
    def _key(number: str | FilingNumber) -> str:
        return number.key if isinstance(number, FilingNumber) else number_key(number)

    def lookup(self, number: str | FilingNumber) -> tuple[RegistryRow, ...]:
        """Rows for a number (any accepted spelling), oldest batch first; duplicates across batches dropped."""
        return self._by_key.get(self._key(number), ())

    def cancellation(self, number: str | FilingNumber) -> Cancellation | None:
        return self._cancel_by_key.get(self._key(number))

    def is_cancelled(self, number: str | FilingNumber) -> bool:
        return self._key(number) in self._cancel_by_key

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_key.values())


# --------------------------------------------------------------------------------------------------------
# 应用产品

_FORM_ALIASES = {"APP": "APP", "APPS": "APP", "应用": "APP", "客户端": "APP", "网站": "网站", "WEB": "网站",
                 "小程序": "小程序", "快应用": "快应用", "公众号": "公众号", "其他": "其他", "其它": "其他"}


def _norm_form(f: str) -> str:
    f = f.strip().upper()
    return _FORM_ALIASES.get(f, f)


def parse_products(text: str) -> tuple[tuple[Product, ...], bool]:
    """Split 应用产品 (``美团（APP）、阿里巴巴（APP、网站）等``) into products; the bool says "list ends with 等"."""
    t = unicodedata.normalize("NFKC", text or "").strip()
    if t in ("", "-", "--", "—", "——", "/", "无"):
        return (), False
    open_ended = False
    t2 = re.sub(r"(\s*(等等|等|and others|etc\.?|…|\.\.\.)\s*)$", "", t, flags=re.IGNORECASE)
    if t2 != t:
        open_ended, t = True, t2
    items: list[str] = []
    depth, cur = 0, []
    for ch in t:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if depth == 0 and ch in "、,;\n，；":
            items.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    items.append("".join(cur))
    products: list[Product] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        m = re.fullmatch(r"(.*?)\s*\(([^()]*)\)\s*", item)
        if m:
            forms = tuple(_norm_form(f) for f in re.split(r"[、,/，]", m.group(2)) if f.strip())
            products.append(Product(m.group(1).strip(), forms))
        else:
            products.append(Product(item, ()))
    return tuple(products), open_ended


# --------------------------------------------------------------------------------------------------------
# Reading files into tables of strings

Table = list[list[str]]

_HEADER_SYNONYMS: dict[str, str] = {
    "序号": "seq", "seq": "seq", "no": "seq", "no.": "seq",
    "算法名称": "algorithm", "algorithm": "algorithm", "algorithm_name": "algorithm",
    "角色": "role", "role": "role",
    "主体名称": "entity", "备案单位": "entity", "备案主体": "entity", "entity": "entity",
    "应用产品": "products", "products": "products", "product": "products",
    "主要用途": "purpose", "purpose": "purpose",
    "备案编号": "number", "备案号": "number", "编号": "number", "number": "number",
    "备注": "note", "note": "note", "notes": "note",
    "属地": "region", "region": "region",
    "模型名称": "model", "大模型名称": "model", "model": "model",
    "备案时间": "filed", "登记时间": "filed", "filed": "filed",
    "注销时间": "cancelled", "cancelled": "cancelled",
}
_DS_REQUIRED = frozenset({"algorithm", "role", "entity", "products", "number"})
_GENAI_REQUIRED = frozenset({"model", "entity", "number"})
DS_HEADER = "序号|算法名称|角色|主体名称|应用产品|主要用途|备案编号|备注"
GENAI_HEADER = "序号|属地|模型名称|备案单位|备案号|备案时间"


def _norm_header(cell: str) -> str:
    return re.sub(r"[\s*:：]+", "", unicodedata.normalize("NFKC", cell)).casefold()


def _cell(v: Any) -> tuple[str, str | None]:
    """A spreadsheet/JSON value as text, plus a warning when it cannot be trusted."""
    if v is None:
        return "", None
    if isinstance(v, bool):
        return str(v).lower(), None
    if isinstance(v, datetime):
        return v.date().isoformat(), None
    if isinstance(v, date):
        return v.isoformat(), None
    if isinstance(v, int):
        return str(v), None
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v)), None
        return repr(v), f"numeric cell {v!r} lost digits (store filing numbers as text)"
    return str(v).strip(), None


def _docx_tables(data: bytes) -> tuple[list[Table], str]:
    import docx  # python-docx

    doc = docx.Document(io.BytesIO(data))
    tables: list[Table] = []
    for t in doc.tables:
        rows: Table = []
        for r in t.rows:
            rows.append([c.text.strip() for c in r.cells])
        tables.append(rows)
    text = "\n".join(p.text for p in doc.paragraphs)
    return tables, text


def _xlsx_tables(data: bytes, warnings: list[str]) -> list[Table]:
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        tables: list[Table] = []
        for ws in wb.worksheets:
            rows: Table = []
            for values in ws.iter_rows(values_only=True):
                row = []
                for v in values:
                    s, w = _cell(v)
                    if w:
                        warnings.append(f"{ws.title}: {w}")
                    row.append(s)
                rows.append(row)
            tables.append(rows)
        return tables
    finally:
        wb.close()


def _decode_text(data: bytes) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise RegistryImportError("text is neither UTF-8 nor GB18030 / 文件编码无法识别")


def _csv_tables(data: bytes) -> list[Table]:
    text = _decode_text(data)
    if "\x00" in text:
        raise RegistryImportError("binary data, not CSV / 不是 CSV 文本")
    first = text.split("\n", 1)[0]
    delim = "\t" if first.count("\t") > first.count(",") else ","
    return [[[c.strip() for c in row] for row in csv.reader(io.StringIO(text), delimiter=delim)]]


def _json_tables(obj: Any, warnings: list[str], depth: int = 0) -> list[Table]:
    """Accept list-of-objects (header keys), list-of-lists (first is the header), list of numbers,
    or an object wrapping one of those under rows/data/records/items/list (optionally with ``header``)."""
    if depth > 3:
        return []
    if isinstance(obj, Mapping):
        header = obj.get("header") or obj.get("headers") or obj.get("columns")
        for key in ("rows", "data", "records", "items", "list", "numbers"):
            if key in obj:
                inner = obj[key]
                if isinstance(header, list) and isinstance(inner, list) and inner and isinstance(inner[0], list):
                    inner = [header, *inner]
                return _json_tables(inner, warnings, depth + 1)
        return []
    if not isinstance(obj, list) or not obj:
        return []
    if all(isinstance(x, Mapping) for x in obj):
        keys: list[str] = []
        for x in obj:
            for k in x:
                if str(k) not in keys:
                    keys.append(str(k))
        rows: Table = [keys]
        for x in obj:
            row = []
            for k in keys:
                s, w = _cell(x.get(k))
                if w:
                    warnings.append(w)
                row.append(s)
            rows.append(row)
        return [rows]
    if all(isinstance(x, list) for x in obj):
        out: Table = []
        for x in obj:
            row = []
            for v in x:
                s, w = _cell(v)
                if w:
                    warnings.append(w)
                row.append(s)
            out.append(row)
        return [out]
    if all(isinstance(x, (str, int)) and not isinstance(x, bool) for x in obj):
        return [[[_cell(x)[0]] for x in obj]]
    return []


def _check_unpacked(name: str, data: bytes) -> None:
    """Refuse a .docx/.xlsx that unpacks to more than MAX_UNPACKED_BYTES — by the declared sizes, and by
    inflating each part in 1 MiB steps: python-docx/openpyxl inflate a part in one call, so a part whose
    declared size lies would cost up to ~1000x its compressed size in memory before zipfile truncates it."""
    import struct
    import zipfile
    import zlib

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = z.infolist()
    unpacked = sum(i.file_size for i in infos)
    if unpacked > MAX_UNPACKED_BYTES:
        raise RegistryImportError(f"{name} unpacks to {unpacked} bytes, more than {MAX_UNPACKED_BYTES} "
                                  f"(zip bomb?) / 文件解压后过大")
    for i in infos:
        if i.compress_type != zipfile.ZIP_DEFLATED:
            continue
        off = i.header_offset
        if data[off : off + 4] != b"PK\x03\x04":
            raise RegistryImportError(f"{name}: {i.filename} has no local header / 文件结构损坏")
        nlen, elen = struct.unpack_from("<HH", data, off + 26)
        start = off + 30 + nlen + elen
        d = zlib.decompressobj(-15)
        rest, out = data[start : start + i.compress_size], 0
        while rest and out <= i.file_size:
            out += len(d.decompress(rest, 1 << 20))
            rest = d.unconsumed_tail
        if out > i.file_size:
            raise RegistryImportError(f"{name}: {i.filename} inflates past its declared {i.file_size} bytes "
                                      f"(zip bomb?) / 文件解压后超出声明大小")


def _read(name: str, data: bytes, warnings: list[str]) -> tuple[list[Table], str]:
    """Tables and free text of a file, by extension. Any reader failure becomes RegistryImportError."""
    suffix = Path(name).suffix.lower()
    try:
        if suffix in (".docx", ".xlsx", ".xlsm"):
            _check_unpacked(name, data)
        if suffix == ".docx":
            return _docx_tables(data)
        if suffix in (".xlsx", ".xlsm"):
            return _xlsx_tables(data, warnings), ""
        if suffix in (".csv", ".tsv"):
            return _csv_tables(data), ""
        if suffix == ".json":
            try:
                obj = json.loads(_decode_text(data))
            except json.JSONDecodeError as exc:
                raise RegistryImportError(f"invalid JSON: {exc} / JSON 格式错误") from None
            return _json_tables(obj, warnings), ""
        if suffix in (".txt", ""):
            text = _decode_text(data)
            return [[[line.strip()] for line in text.splitlines()]], text
    except RegistryImportError:
        raise
    except Exception as exc:  # hostile/garbage input: python-docx/openpyxl raise many types; report, never crash
        raise RegistryImportError(
            f"cannot read {name} as {suffix.lstrip('.')}: {type(exc).__name__}: {exc} / 文件无法读取"
        ) from None
    raise RegistryImportError(
        f"unsupported file type {suffix or '(none)'}: use .docx, .xlsx, .csv, .json or .txt / 不支持的文件类型"
    )


# --------------------------------------------------------------------------------------------------------
# Recognising layouts


@dataclass(frozen=True)
class _Located:
    table: int
    header_row: int
    columns: Mapping[str, int]  # canonical field -> column index


def _header_of(table: Table, index: int, limit: int = 10) -> _Located | None:
    """The first row within ``limit`` that names a number column plus at least one other known column."""
    for i, row in enumerate(table[:limit]):
        cols: dict[str, int] = {}
        for j, cell in enumerate(row):
            f = _HEADER_SYNONYMS.get(_norm_header(cell))
            if f and f not in cols:
                cols[f] = j
        if "number" in cols and len(cols) >= 2:
            return _Located(index, i, MappingProxyType(cols))
    return None


def _layout(cols: Mapping[str, int]) -> BatchKind | None:
    if _DS_REQUIRED <= cols.keys():
        return BatchKind.DEEP_SYNTHESIS
    if _GENAI_REQUIRED <= cols.keys():
        return BatchKind.GENAI
    return None


def _bare_numbers(tables: list[Table]) -> list[str] | None:
    """If every non-empty row is one filing number (an optional first header line aside), the numbers."""
    numbers: list[str] = []
    for table in tables:
        for i, row in enumerate(table):
            cells = [c for c in row if c.strip()]
            if not cells:
                continue
            if len(cells) != 1:
                return None
            fn = parse_filing(cells[0])
            if fn.kind is FilingKind.UNKNOWN:
                if i == 0 and not numbers and _HEADER_SYNONYMS.get(_norm_header(cells[0])) == "number":
                    continue
                return None
            numbers.append(cells[0])
    return numbers or None


def _describe_headers(tables: list[Table]) -> str:
    firsts = ["|".join(c for c in t[0] if c)[:120] for t in tables if t and any(c for c in t[0])]
    return "; ".join(firsts[:3]) or "(no table)"


def _fmt_iso(text: str) -> str:
    m = re.fullmatch(r"(\d{4})[/.\-年](\d{1,2})[/.\-月](\d{1,2})日?", text.strip())
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
        except ValueError:
            return text
    return text


def _get(row: Sequence[str], cols: Mapping[str, int], name: str) -> str:
    j = cols.get(name)
    if j is None or j >= len(row):
        return ""
    return row[j].strip()


def _extract_rows(tables: list[Table], located: list[_Located], kind: BatchKind, source: str,
                  warnings: list[str]) -> list[RegistryRow]:
    rows: list[RegistryRow] = []
    for loc in located:
        table = tables[loc.table]
        cols = loc.columns
        header = table[loc.header_row]
        for i, raw_row in enumerate(table[loc.header_row + 1:], start=loc.header_row + 2):
            if not any(c.strip() for c in raw_row) or raw_row == header:
                continue
            cell = _get(raw_row, cols, "number")
            where = f"table {loc.table + 1} row {i}"
            if not cell:
                warnings.append(f"{where}: no 备案编号, skipped")
                continue
            fn = parse_filing(cell)
            if kind is BatchKind.DEEP_SYNTHESIS:
                if fn.kind is not FilingKind.ALGORITHM:
                    warnings.append(f"{where}: {cell!r} is not a 网信算备 number, skipped")
                    continue
                list_kind = ListKind.DEEP_SYNTHESIS
            else:
                if fn.kind not in (FilingKind.GENAI_BEIAN, FilingKind.GENAI_DENGJI):
                    warnings.append(f"{where}: {cell!r} is not a GenAI 备案/登记 id, skipped")
                    continue
                list_kind = ListKind.GENAI_DENGJI if fn.kind is FilingKind.GENAI_DENGJI else ListKind.GENAI_BEIAN
            if fn.status is not NumberStatus.VALID:
                warnings.append(f"{where}: {fn.normalized}: {fn.problem_en} (imported as published)")
            name = _get(raw_row, cols, "algorithm" if kind is BatchKind.DEEP_SYNTHESIS else "model")
            rows.append(RegistryRow(
                list_kind=list_kind, number=fn.normalized, algorithm=name, entity=_get(raw_row, cols, "entity"),
                role=_get(raw_row, cols, "role"), products=_get(raw_row, cols, "products"),
                purpose=_get(raw_row, cols, "purpose"), note=_get(raw_row, cols, "note"),
                seq=_get(raw_row, cols, "seq"), region=_get(raw_row, cols, "region"),
                filed=_fmt_iso(_get(raw_row, cols, "filed")), batch_source=source,
            ))
    return rows


def _extract_cancellations(tables: list[Table], text: str, source: str,
                           warnings: list[str]) -> list[Cancellation]:
    out: dict[str, Cancellation] = {}

    def add(fn: FilingNumber, **extra: str) -> None:
        if fn.kind is FilingKind.UNKNOWN or fn.status in (NumberStatus.MALFORMED, NumberStatus.PLACEHOLDER):
            warnings.append(f"{fn.raw!r}: {fn.problem_en or 'not a filing number'}, skipped")
            return
        if fn.status is NumberStatus.BAD_CHECK_DIGIT:
            warnings.append(f"{fn.normalized}: {fn.problem_en} (imported as published)")
        out.setdefault(fn.key, Cancellation(number=fn.normalized, batch_source=source, **extra))

    for ti, table in enumerate(tables):
        loc = _header_of(table, ti)
        if loc is not None:
            for raw_row in table[loc.header_row + 1:]:
                cell = _get(raw_row, loc.columns, "number")
                if cell:
                    add(parse_filing(cell), algorithm=_get(raw_row, loc.columns, "algorithm"),
                        entity=_get(raw_row, loc.columns, "entity"), products=_get(raw_row, loc.columns, "products"),
                        cancelled=_fmt_iso(_get(raw_row, loc.columns, "cancelled")))
        else:
            for raw_row in table:
                for c in raw_row:
                    for fn in find_filings(c, include_bare=True):
                        add(fn)
    for fn in find_filings(text, include_bare=True):
        add(fn)
    return list(out.values())


_CANCEL_SIGNAL = re.compile(r"注销|cancel", re.IGNORECASE)


def _parse_tables(tables: list[Table], text: str, source: str, sha: str, kind: ImportKind,
                  warnings: list[str], title: str = "") -> ParsedBatch:
    located = [loc for i, t in enumerate(tables) if (loc := _header_of(t, i)) is not None]
    by_layout: dict[BatchKind, list[_Located]] = {}
    for loc in located:
        lay = _layout(loc.columns)
        if lay is not None:
            by_layout.setdefault(lay, []).append(loc)

    if kind is ImportKind.AUTO:
        signal = bool(_CANCEL_SIGNAL.search(source) or _CANCEL_SIGNAL.search(text[:2000]))
        if signal and by_layout:
            # Importing a list as cancellations (or the reverse) would silently flip hundreds of rows.
            raise RegistryImportError(
                f"{source}: ambiguous: the name/title mentions 注销 (cancellation) but the file holds a "
                f"{'/'.join(k.value for k in by_layout)} list table; pass --kind explicitly "
                f"/ 文件名或标题含“注销”但内容为备案清单，请用 --kind 指定类型"
            )
        if signal:
            chosen = BatchKind.CANCELLATION
        elif BatchKind.DEEP_SYNTHESIS in by_layout:
            chosen = BatchKind.DEEP_SYNTHESIS
        elif BatchKind.GENAI in by_layout:
            chosen = BatchKind.GENAI
        elif _bare_numbers(tables) is not None:
            chosen = BatchKind.CANCELLATION
        else:
            hint = ""
            if located:
                hint = (" A table has a 备案编号 column but not the full list header; if it is a cancellation "
                        "notice use --kind cancellation. / 含备案编号列但表头不完整，如为注销公告请使用 --kind cancellation。")
            raise RegistryImportError(
                f"{source}: no recognisable registry table. Expected the deep-synthesis header {DS_HEADER}, "
                f"the GenAI header {GENAI_HEADER}, or a list of filing numbers; found: {_describe_headers(tables)}."
                f"{hint} / 未找到可识别的备案清单表格。"
            )
    else:
        chosen = BatchKind(kind.value)

    if chosen is BatchKind.CANCELLATION:
        cancels = _extract_cancellations(tables, text, source, warnings)
        if not cancels:
            raise RegistryImportError(f"{source}: no filing numbers found in the cancellation list / 注销清单中未找到备案编号")
        return ParsedBatch(source, sha, chosen, cancellations=tuple(cancels), title=title, warnings=tuple(warnings))

    if chosen not in by_layout:
        expected = DS_HEADER if chosen is BatchKind.DEEP_SYNTHESIS else GENAI_HEADER
        raise RegistryImportError(
            f"{source}: no table with the {chosen.value} header {expected}; found: {_describe_headers(tables)} "
            f"/ 未找到对应表头的表格"
        )
    rows = _extract_rows(tables, by_layout[chosen], chosen, source, warnings)
    if not rows:
        raise RegistryImportError(f"{source}: the {chosen.value} table has a header but no usable rows / 表格无有效数据行")
    return ParsedBatch(source, sha, chosen, rows=tuple(rows), title=title, warnings=tuple(warnings))


def parse_registry_file(path: str | Path, kind: ImportKind | str = ImportKind.AUTO) -> ParsedBatch:
    """Read and understand a registry file without touching the DB (fail closed: RegistryImportError)."""
    p = Path(path)
    kind = ImportKind(kind)
    try:
        size = p.stat().st_size
        if size > MAX_IMPORT_BYTES:
            raise RegistryImportError(f"{p.name}: {size} bytes is larger than {MAX_IMPORT_BYTES} / 文件过大")
        data = p.read_bytes()
    except OSError as exc:
        raise RegistryImportError(f"cannot read {p}: {exc.strerror or exc} / 无法读取文件") from None
    if not data.strip():
        raise RegistryImportError(f"{p.name}: empty file / 空文件")
    warnings: list[str] = []
    tables, text = _read(p.name, data, warnings)
    return _parse_tables(tables, text, p.name, hashlib.sha256(data).hexdigest(), kind, warnings)


# --------------------------------------------------------------------------------------------------------
# Persistence (sqlite-utils)


def open_db(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) the synthreview DB and make sure the registry tables exist."""
    db = sqlite_utils.Database(str(path))
    ensure_schema(db)
    return db


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create the ``registry_*`` tables and indexes if missing (idempotent)."""
    names = set(db.table_names())
    if T_BATCHES not in names:
        db.table(T_BATCHES).create(
            {"id": int, "source": str, "title": str, "sha256": str, "imported": str, "kind": str, "row_count": int},
            pk="id", not_null={"source", "sha256", "imported", "kind", "row_count"}, if_not_exists=True,
        )
        db.table(T_BATCHES).create_index(["sha256"], unique=True, if_not_exists=True)
    if T_ROWS not in names:
        db.table(T_ROWS).create(
            {"id": int, "batch_id": int, "list_kind": str, "seq": str, "number": str, "number_key": str,
             "algorithm": str, "role": str, "entity": str, "products": str, "purpose": str, "note": str,
             "region": str, "filed": str},
            pk="id", foreign_keys=[("batch_id", T_BATCHES, "id")],
            not_null={"batch_id", "list_kind", "number", "number_key"}, if_not_exists=True,
        )
        db.table(T_ROWS).create_index(["number_key"], if_not_exists=True)
        db.table(T_ROWS).create_index(["batch_id"], if_not_exists=True)
    if T_CANCELLATIONS not in names:
        db.table(T_CANCELLATIONS).create(
            {"id": int, "batch_id": int, "number": str, "number_key": str, "algorithm": str, "entity": str,
             "products": str, "cancelled": str},
            pk="id", foreign_keys=[("batch_id", T_BATCHES, "id")],
            not_null={"batch_id", "number", "number_key"}, if_not_exists=True,
        )
        db.table(T_CANCELLATIONS).create_index(["number_key"], if_not_exists=True)


def _batch_from_db(r: Mapping[str, Any]) -> Batch:
    return Batch(id=r["id"], source=r["source"], sha256=r["sha256"], imported=r["imported"],
                 kind=BatchKind(r["kind"]), row_count=r["row_count"], title=r.get("title") or "")


def _existing(db: sqlite_utils.Database, sha: str) -> Batch | None:
    for r in db.query(f"select * from {T_BATCHES} where sha256 = ?", [sha]):
        return _batch_from_db(r)
    return None


def store_batch(db: sqlite_utils.Database, parsed: ParsedBatch, *, now: datetime | None = None) -> ImportResult:
    """Write a parsed batch in one transaction; a batch with the same sha256 already stored is left as is."""
    ensure_schema(db)
    old = _existing(db, parsed.sha256)
    if old is not None:
        return ImportResult(old, created=False, warnings=parsed.warnings)
    imported = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    with db.atomic():
        batch_id = db.table(T_BATCHES).insert(
            {"source": parsed.source, "title": parsed.title, "sha256": parsed.sha256, "imported": imported,
             "kind": parsed.kind.value, "row_count": parsed.row_count}
        ).last_pk
        if parsed.rows:
            db.table(T_ROWS).insert_all(
                {"batch_id": batch_id, "list_kind": r.list_kind.value, "seq": r.seq, "number": r.number,
                 "number_key": r.key, "algorithm": r.algorithm, "role": r.role, "entity": r.entity,
                 "products": r.products, "purpose": r.purpose, "note": r.note, "region": r.region,
                 "filed": r.filed}
                for r in parsed.rows
            )
        if parsed.cancellations:
            db.table(T_CANCELLATIONS).insert_all(
                {"batch_id": batch_id, "number": c.number, "number_key": c.key, "algorithm": c.algorithm,
                 "entity": c.entity, "products": c.products, "cancelled": c.cancelled}
                for c in parsed.cancellations
            )
    batch = Batch(id=batch_id, source=parsed.source, sha256=parsed.sha256, imported=imported, kind=parsed.kind,
                  row_count=parsed.row_count, title=parsed.title)
    return ImportResult(batch, created=True, warnings=parsed.warnings)


def import_file(db: sqlite_utils.Database | str | Path, path: str | Path,
                kind: ImportKind | str = ImportKind.AUTO, *, now: datetime | None = None) -> ImportResult:
    """Import one registry file as a batch. Same file again (same sha256) → ``created=False``, nothing written."""
    parsed = parse_registry_file(path, kind)
    database = db if isinstance(db, sqlite_utils.Database) else open_db(db)
    return store_batch(database, parsed, now=now)


def has_registry(db: sqlite_utils.Database) -> bool:
    """True when at least one registry batch has been imported."""
    if T_BATCHES not in db.table_names():
        return False
    return db.table(T_BATCHES).count > 0


def _snapshot_id(batches: Iterable[Batch]) -> str:
    return hashlib.sha256("\n".join(sorted(b.sha256 for b in batches)).encode()).hexdigest()


def load_snapshot(db: sqlite_utils.Database | None, *, fallback_to_seed: bool = True) -> RegistrySnapshot:
    """The registry in the DB as a snapshot; the demo (seed) registry when there are no batches yet."""
    if db is None or not has_registry(db):
        if fallback_to_seed:
            return load_seed_registry()
        return RegistrySnapshot(snapshot_id=_snapshot_id(()), source="empty", demo=False)
    batches = tuple(_batch_from_db(r) for r in db.query(f"select * from {T_BATCHES} order by id"))
    sources = {b.id: b.source for b in batches}
    rows = tuple(
        RegistryRow(
            list_kind=ListKind(r["list_kind"]), number=r["number"], algorithm=r["algorithm"] or "",
            entity=r["entity"] or "", role=r["role"] or "", products=r["products"] or "",
            purpose=r["purpose"] or "", note=r["note"] or "", seq=r["seq"] or "", region=r["region"] or "",
            filed=r["filed"] or "", batch_id=r["batch_id"], batch_source=sources.get(r["batch_id"], ""),
        )
        for r in db.query(f"select * from {T_ROWS} order by batch_id, id")
    )
    cancels = tuple(
        Cancellation(number=r["number"], batch_id=r["batch_id"], batch_source=sources.get(r["batch_id"], ""),
                     algorithm=r["algorithm"] or "", entity=r["entity"] or "", products=r["products"] or "",
                     cancelled=r["cancelled"] or "")
        for r in db.query(f"select * from {T_CANCELLATIONS} order by batch_id, id")
    )
    path = db.execute("pragma database_list").fetchone()[2] or ":memory:"
    return RegistrySnapshot(snapshot_id=_snapshot_id(batches), source=path, demo=False, batches=batches,
                            rows=rows, cancellations=cancels)


# --------------------------------------------------------------------------------------------------------
# The shipped demo registry (filings.md §5)


def _seed_batches() -> Iterator[ParsedBatch]:
    raw = resources.files("filings").joinpath("data/seed_registry.json").read_text(encoding="utf-8")
    seed = json.loads(raw)
    for b in seed["batches"]:
        sha = hashlib.sha256(json.dumps(b, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
        warnings: list[str] = []
        tables = _json_tables(b["rows"], warnings)
        yield _parse_tables(tables, "", b["name"], sha, ImportKind(b["kind"]), warnings, title=b.get("source", ""))


@lru_cache(maxsize=1)
def load_seed_registry() -> RegistrySnapshot:
    """The real rows of filings.md §5 as a demo registry (an excerpt: a number missing here is not "unknown")."""
    batches: list[Batch] = []
    rows: list[RegistryRow] = []
    cancels: list[Cancellation] = []
    for i, pb in enumerate(_seed_batches(), start=1):
        batches.append(Batch(id=None, source=pb.source, sha256=pb.sha256, imported="", kind=pb.kind,
                             row_count=pb.row_count, title=pb.title))
        rows.extend(pb.rows)
        cancels.extend(pb.cancellations)
    return RegistrySnapshot(snapshot_id=_snapshot_id(batches), source="seed", demo=True, batches=tuple(batches),
                            rows=tuple(rows), cancellations=tuple(cancels))

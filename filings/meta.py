"""Submission metadata (DESIGN.md "Submission metadata"): what the developer declares alongside the artifact.

Everything is optional, but what is present must have the right type: a typo in a key or a string where a
list belongs would silently drop a declaration the cross-check relies on, so unknown keys and wrong types
raise :class:`MetaError` (fail closed) instead of being ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "MetaError",
    "Channel",
    "Assessment",
    "SubmissionMeta",
    "DEEP_SYNTHESIS_CAPABILITIES",
    "load_meta",
    "parse_meta",
    "meta_from_text",
]

#: Capability ids of DESIGN.md "Capabilities" (Art. 23 of the Provisions); assessments may only cover these.
DEEP_SYNTHESIS_CAPABILITIES: frozenset[str] = frozenset(
    {
        "text_generation",
        "speech_synthesis",
        "voice_conversion",
        "audio_generation",
        "face_manipulation",
        "image_generation",
        "virtual_scene",
    }
)

#: Largest metadata file we read; real ones are a few hundred bytes.
MAX_META_BYTES = 1 << 20


class MetaError(ValueError):
    """Submission metadata that cannot be read or does not fit the schema."""


class Channel(str, Enum):
    """Where the app is in its life: a new submission (不予上架 possible) or a listed app (警示/暂停/下架)."""

    SUBMISSION = "submission"
    LISTED = "listed"


@dataclass(frozen=True)
class Assessment:
    """A declared security assessment (安全评估), e.g. filed on 全国互联网安全管理服务平台."""

    id: str | None = None
    issuer: str | None = None
    date: date | None = None
    covers: tuple[str, ...] = ()  # capability ids (DESIGN.md), e.g. ("face_manipulation",)


@dataclass(frozen=True)
class SubmissionMeta:
    """The developer's declarations; all optional (an absent field is "not declared", never "no")."""

    app_name: str | None = None
    developer: str | None = None  # 主体名称, as in the filing list
    uscc: str | None = None  # 统一社会信用代码
    app_id: str | None = None  # package name or mini-program appid
    declares_aigc: bool | None = None  # Labeling Measures Art. 7 declaration
    filings: tuple[str, ...] = ()  # 网信算备…号 and GenAI 备案/登记 ids, as typed
    icp_filing: str | None = None
    assessments: tuple[Assessment, ...] = ()
    channel: Channel | None = None
    wxapkg_appid: str | None = None


_STR_FIELDS = ("app_name", "developer", "uscc", "app_id", "icp_filing", "wxapkg_appid")
_KNOWN = frozenset(_STR_FIELDS + ("declares_aigc", "filings", "assessments", "channel"))
_ASSESSMENT_KEYS = frozenset({"id", "issuer", "date", "covers"})


def _str(value: Any, where: str, *, allow_number: bool = False) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise MetaError(f"{where}: expected a string, got a boolean / 应为字符串")
    if allow_number and isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise MetaError(f"{where}: expected a string, got {type(value).__name__} / 应为字符串")
    value = value.strip()
    return value or None


def _date(value: Any, where: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise MetaError(f"{where}: expected a date YYYY-MM-DD, got {value!r} / 日期格式应为 YYYY-MM-DD")


def _assessment(value: Any, where: str) -> Assessment:
    if not isinstance(value, Mapping):
        raise MetaError(f"{where}: expected a mapping with id/issuer/date/covers / 应为对象")
    unknown = sorted(str(k) for k in value if k not in _ASSESSMENT_KEYS)
    if unknown:
        raise MetaError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_ASSESSMENT_KEYS))} / 未知字段"
        )
    covers_raw = value.get("covers") or []
    if isinstance(covers_raw, str) or not isinstance(covers_raw, list):
        raise MetaError(f"{where}.covers: expected a list of capability ids / 应为能力标识列表")
    covers: list[str] = []
    for i, c in enumerate(covers_raw):
        cap = _str(c, f"{where}.covers[{i}]")
        if cap is None:
            continue
        if cap not in DEEP_SYNTHESIS_CAPABILITIES:
            raise MetaError(
                f"{where}.covers[{i}]: unknown capability {cap!r}; known: "
                f"{', '.join(sorted(DEEP_SYNTHESIS_CAPABILITIES))} / 未知能力标识"
            )
        covers.append(cap)
    return Assessment(
        id=_str(value.get("id"), f"{where}.id", allow_number=True),
        issuer=_str(value.get("issuer"), f"{where}.issuer"),
        date=_date(value.get("date"), f"{where}.date"),
        covers=tuple(dict.fromkeys(covers)),
    )


def parse_meta(data: Any) -> SubmissionMeta:
    """Validate an already-decoded mapping (from YAML, JSON or a webhook form) into a SubmissionMeta."""
    if data is None:
        return SubmissionMeta()
    if not isinstance(data, Mapping):
        raise MetaError(f"metadata must be a mapping at the top level, got {type(data).__name__} / 顶层应为对象")
    unknown = sorted(str(k) for k in data if k not in _KNOWN)
    if unknown:
        raise MetaError(
            f"unknown metadata key(s): {', '.join(unknown)}; allowed: {', '.join(sorted(_KNOWN))} / 未知字段"
        )
    kw: dict[str, Any] = {k: _str(data.get(k), k) for k in _STR_FIELDS}
    aigc = data.get("declares_aigc")
    if aigc is not None and not isinstance(aigc, bool):
        raise MetaError(f"declares_aigc: expected true or false, got {aigc!r} / 应为 true 或 false")
    kw["declares_aigc"] = aigc
    filings = data.get("filings")
    if filings is None:
        kw["filings"] = ()
    elif isinstance(filings, list):
        kw["filings"] = tuple(f for i, x in enumerate(filings) if (f := _str(x, f"filings[{i}]")) is not None)
    else:
        raise MetaError("filings: expected a list of filing numbers / 应为备案编号列表")
    assessments = data.get("assessments")
    if assessments is None:
        kw["assessments"] = ()
    elif isinstance(assessments, list):
        kw["assessments"] = tuple(_assessment(a, f"assessments[{i}]") for i, a in enumerate(assessments))
    else:
        raise MetaError("assessments: expected a list / 应为列表")
    channel = data.get("channel")
    if channel is None:
        kw["channel"] = None
    else:
        try:
            kw["channel"] = Channel(channel)
        except ValueError:
            raise MetaError(
                f"channel: expected submission or listed, got {channel!r} / 应为 submission 或 listed"
            ) from None
    return SubmissionMeta(**kw)


def meta_from_text(text: str | bytes, *, fmt: str = "auto") -> SubmissionMeta:
    """Parse metadata text (``fmt`` json, yaml or auto: JSON if it parses as JSON, else YAML)."""
    try:
        return _meta_from_text(text, fmt=fmt)
    except RecursionError:
        raise MetaError("metadata nested too deeply / 元数据嵌套过深") from None


def _meta_from_text(text: str | bytes, *, fmt: str = "auto") -> SubmissionMeta:
    if isinstance(text, bytes):
        if len(text) > MAX_META_BYTES:
            raise MetaError(f"metadata larger than {MAX_META_BYTES} bytes / 元数据过大")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise MetaError(f"metadata is not UTF-8: {exc} / 元数据不是 UTF-8 编码") from None
    if len(text) > MAX_META_BYTES:
        raise MetaError(f"metadata larger than {MAX_META_BYTES} bytes / 元数据过大")
    if fmt in ("json", "auto"):
        try:
            return parse_meta(json.loads(text))
        except json.JSONDecodeError as exc:
            if fmt == "json":
                raise MetaError(f"invalid JSON: {exc} / JSON 格式错误") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MetaError(f"invalid YAML: {exc} / YAML 格式错误") from None
    return parse_meta(data)


def load_meta(path: str | Path) -> SubmissionMeta:
    """Read a ``--meta`` file (``.json`` as JSON, anything else as YAML, which also accepts JSON)."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_META_BYTES:
            raise MetaError(f"{p}: larger than {MAX_META_BYTES} bytes / 元数据文件过大")
        raw = p.read_bytes()
    except OSError as exc:
        raise MetaError(f"cannot read metadata file {p}: {exc.strerror or exc} / 无法读取元数据文件") from None
    try:
        return meta_from_text(raw, fmt="json" if p.suffix.lower() == ".json" else "yaml")
    except MetaError as exc:
        raise MetaError(f"{p}: {exc}") from None

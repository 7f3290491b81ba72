"""Dataclass <-> JSON-able dict, driven by type hints, so stages pass typed values and the store keeps JSON."""

from __future__ import annotations

import dataclasses
import datetime
import types
import typing
from enum import Enum
from functools import lru_cache
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

T = TypeVar("T")


def to_data(obj: Any) -> Any:
    """Turn dataclasses/enums/tuples into plain JSON-able values (field order kept)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, (datetime.date, datetime.datetime)):
        return obj.isoformat()
    if isinstance(obj, (list, tuple)):
        return [to_data(x) for x in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted(to_data(x) for x in obj)
    if isinstance(obj, dict):
        return {str(k): to_data(v) for k, v in obj.items()}
    return obj


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def from_data(cls: type[T], data: Any) -> T:
    """Rebuild a dataclass (recursively) from :func:`to_data` output; unknown keys are ignored."""
    return typing.cast(T, _convert(cls, data))


def _convert(tp: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return _convert(args[0], data) if len(args) == 1 else data
    if origin is tuple:
        args = get_args(tp)
        inner = args[0] if args else Any
        return tuple(_convert(inner, x) for x in data)
    if origin in (list,):
        return [_convert(get_args(tp)[0], x) for x in data]
    if origin in (frozenset, set):
        return frozenset(_convert(get_args(tp)[0], x) for x in data)
    if origin is dict:
        kt, vt = get_args(tp)
        return {k: _convert(vt, v) for k, v in data.items()}
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(data)
    if tp is datetime.datetime and isinstance(data, str):
        return datetime.datetime.fromisoformat(data)
    if tp is datetime.date and isinstance(data, str):
        return datetime.date.fromisoformat(data)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.name in data:
                kwargs[f.name] = _convert(hints[f.name], data[f.name])
        return tp(**kwargs)
    return data

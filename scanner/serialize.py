"""Dataclass <-> JSON-able dict, driven by type hints, so stages pass typed values and the store keeps JSON."""

from __future__ import annotations

import dataclasses
import datetime
import types
import typing
from enum import Enum
from functools import lru_cache
from collections.abc import Callable
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
    return typing.cast(T, _converter(cls)(data))


def _identity(x: Any) -> Any:
    return x


@lru_cache(maxsize=None)
def _converter(tp: Any) -> Callable[[Any], Any]:
    """A converter function for one type, built once (re-scans rebuild thousands of stored inventories)."""
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        inner = _converter(args[0]) if len(args) == 1 else _identity
        return lambda d: None if d is None else inner(d)
    if origin is tuple:
        args = get_args(tp)
        item = _converter(args[0]) if args else _identity
        if item is _identity:
            return lambda d: None if d is None else tuple(d)
        return lambda d: None if d is None else tuple(item(x) for x in d)
    if origin is list:
        item = _converter(get_args(tp)[0])
        return lambda d: None if d is None else [item(x) for x in d]
    if origin in (frozenset, set):
        item = _converter(get_args(tp)[0])
        return lambda d: None if d is None else frozenset(item(x) for x in d)
    if origin is dict:
        value = _converter(get_args(tp)[1])
        return lambda d: None if d is None else {k: value(v) for k, v in d.items()}
    if isinstance(tp, type) and issubclass(tp, Enum):
        return lambda d: None if d is None else tp(d)
    if tp is datetime.datetime:
        return lambda d: datetime.datetime.fromisoformat(d) if isinstance(d, str) else d
    if tp is datetime.date:
        return lambda d: datetime.date.fromisoformat(d) if isinstance(d, str) else d
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        fields = [(f.name, _LazyConverter(hints[f.name])) for f in dataclasses.fields(tp)]

        def build(d: Any) -> Any:
            if d is None:
                return None
            return tp(**{name: conv(d[name]) for name, conv in fields if name in d})

        return build
    if tp in (str, int, float, bool, Any):
        return _identity
    return _identity


class _LazyConverter:
    """Resolves a field's converter on first use (dataclasses may refer to each other)."""

    __slots__ = ("tp", "fn")

    def __init__(self, tp: Any) -> None:
        self.tp = tp
        self.fn: Callable[[Any], Any] | None = None

    def __call__(self, d: Any) -> Any:
        if self.fn is None:
            self.fn = _converter(self.tp)
        return self.fn(d)

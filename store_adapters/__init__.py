"""synthreview: store_adapters stage (see DESIGN.md) — where artifacts come from and where decisions go.

One interface (:class:`store_adapters.base.StoreAdapter`), one module per backend: ``inbox`` (a drop
folder), ``fdroid`` (an F-Droid repository index), ``rest`` (a JSON REST API described in YAML). Adapters
hold no review logic; ``synthreview store sync|push`` drives them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from store_adapters.base import ConfigError, StoreAdapter

__all__ = ["ADAPTERS", "open_adapter", "load_config"]

#: ``--adapter`` names → "module:class" (imported on use, so one backend's deps never burden another).
ADAPTERS: Mapping[str, str] = {
    "inbox": "store_adapters.inbox:InboxAdapter",
    "fdroid": "store_adapters.fdroid:FDroidAdapter",
    "rest": "store_adapters.rest:RestAdapter",
}

_MAX_CONFIG_BYTES = 1 << 20


def load_config(path: str | Path | None, adapter: str) -> dict[str, Any]:
    """Read ``--config`` YAML: the adapter's mapping, or the section named after it (one file, many adapters)."""
    if not path:
        return {}
    p = Path(path)
    try:
        if p.stat().st_size > _MAX_CONFIG_BYTES:
            raise ConfigError(f"{p}: larger than {_MAX_CONFIG_BYTES} bytes / 配置文件过大")
        data = yaml.safe_load(p.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {p}: {exc.strerror or exc} / 无法读取配置文件") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: invalid YAML: {exc} / 配置文件格式错误") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping / 配置顶层应为对象")
    section = data.get(adapter)
    if isinstance(section, dict) and not (set(data) - set(ADAPTERS)):
        return dict(section)
    return dict(data)


def open_adapter(name: str, *, url: str | None = None, config: Mapping[str, Any] | None = None) -> StoreAdapter:
    """Build the named adapter from ``--url`` and the config mapping; ConfigError when either is wrong."""
    import importlib

    spec = ADAPTERS.get(name)
    if spec is None:
        raise ConfigError(f"unknown adapter {name!r}; known: {', '.join(ADAPTERS)} / 未知适配器")
    mod_name, cls_name = spec.split(":")
    cls = getattr(importlib.import_module(mod_name), cls_name)
    return cls.from_config(dict(config or {}), url)  # type: ignore[no-any-return]

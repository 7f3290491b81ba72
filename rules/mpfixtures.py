"""Mini-program fixtures for rules: a plain WeChat ``.wxapkg`` built in code from a small spec.

Spec keys: ``plugins`` ({alias: provider appid}), ``js`` (source of ``/app-service.js``), ``files``
({path: text}), ``appid``. The layout follows ../shared/reference/miniprogram-formats.md §2.1 (0xBE, info,
big-endian index length and body length, 0xED, then ``count`` and ``(name_len, name, offset, size)`` records).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any


def build_wxapkg(files: Mapping[str, bytes]) -> bytes:
    """A plain wxapkg holding ``files`` in order (names get a leading ``/``)."""
    items = [((n if n.startswith("/") else "/" + n).encode("utf-8"), d) for n, d in files.items()]
    index_len = 4 + sum(12 + len(n) for n, _ in items)
    off = 14 + index_len
    index = [struct.pack(">I", len(items))]
    for name, data in items:
        index.append(struct.pack(">I", len(name)) + name + struct.pack(">II", off, len(data)))
        off += len(data)
    body = b"".join(d for _, d in items)
    return b"\xbe" + struct.pack(">III", 0, index_len, len(body)) + b"\xed" + b"".join(index) + body


def build_mp_fixture(spec: Mapping[str, Any]) -> bytes:
    """A wxapkg for a rule fixture's ``mp`` spec."""
    cfg: dict[str, Any] = {"pages": ["pages/index/index"], "entryPagePath": "pages/index/index.html", "global": {}}
    if spec.get("appid"):
        cfg["appid"] = spec["appid"]
    plugins = spec.get("plugins") or {}
    if plugins:
        cfg["plugins"] = {alias: {"version": "1.0.0", "provider": prov} for alias, prov in plugins.items()}
    js = str(spec.get("js", "console.log('fixture');"))
    files: dict[str, bytes] = {
        "/app-config.json": json.dumps(cfg, ensure_ascii=False).encode(),
        "/app-service.js": ('define("pages/index/index.js",function(require,module,exports,window){' + js + "});").encode(),
        "/page-frame.html": b"<html><script>var __wxAppCode__={};</script></html>",
    }
    for path, text in (spec.get("files") or {}).items():
        files[path] = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return build_wxapkg(files)

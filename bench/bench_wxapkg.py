"""Benchmark: read a ~10 MB WeChat package (plain and V1MMWX-encrypted) built in code (target < 0.3 s).

The package mimics the proportions of the real samples: ~40 % minified JS/WXML text (app-service.js,
page-frame.html, app-wxss.js, page stubs), an ONNX model, and a few hundred images.

    .venv/bin/python bench/bench_wxapkg.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from mp_factory import build_wxapkg, encrypt_v1mmwx  # noqa: E402

from bench.common import machine_note  # noqa: E402
from scanner.reader import read_artifact  # noqa: E402

APPID = "wx0123456789abcdef"


def _js(rng: random.Random, size: int) -> bytes:
    """Minified-looking JS with the usual density of wx.* calls, URLs and define() wrappers."""
    apis = ["request", "getStorageSync", "setStorageSync", "navigateTo", "showToast", "createSelectorQuery",
            "createCameraContext", "getSystemInfoSync", "login", "cloud.callFunction", "createVKSession"]  # fmt: skip
    parts: list[str] = []
    n = 0
    i = 0
    while n < size:
        i += 1
        chunk = (
            f'define("pages/p{i}/p{i}.js",function(require,module,exports,window,document,frames){{"use strict";'
            f"var e=require(\"../../utils/util.js\"),t=getApp();Page({{data:{{list:[],page:{i},loading:!1}},"
            f"onLoad:function(o){{var n=this;wx.{rng.choice(apis)}({{url:\"https://api{i % 37}.example.com/v1/item?id=\"+o.id,"
            f"success:function(r){{n.setData({{list:r.data.items,total:r.data.total}})}}}});"
            f"for(var a=0;a<{i % 97};a++)n.data.list.push({{k:a,v:String.fromCharCode(65+a%26)}})}}}})}});"
        )
        parts.append(chunk)
        n += len(chunk)
    return "".join(parts).encode()


def _wxml(rng: random.Random, size: int) -> bytes:
    parts: list[str] = []
    n = 0
    while n < size:
        s = f"Z([3,'{''.join(rng.choice('页面标题按钮确定取消加载中abcdefXYZ ') for _ in range(12))}']);"
        parts.append(s)
        n += len(s.encode())
    return ("<html><script>var $gwx=function(){" + "".join(parts) + "}</script></html>").encode()


def build_package(target: int = 10 * 1024 * 1024, seed: int = 4) -> bytes:
    rng = random.Random(seed)
    pages = [f"pages/p{i}/p{i}" for i in range(60)]
    cfg = {"pages": pages, "entryPagePath": "pages/p0/p0.html", "global": {"window": {}},
           "plugins": {"WechatSI": {"version": "0.3.5", "provider": "wx069ba97219f66d99"}},
           "tabBar": {"list": [{"iconData": "iVBORw0KGgo" + "A" * 20_000} for _ in range(3)]}}  # fmt: skip
    files: dict[str, bytes] = {"/app-config.json": json.dumps(cfg).encode()}
    files["/app-service.js"] = _js(rng, 2_600_000)
    files["/page-frame.html"] = _wxml(rng, 900_000)
    files["/app-wxss.js"] = _js(rng, 500_000)
    for p in pages:
        files[f"/{p}.html"] = b"<html><script>__wxRoute='" + p.encode() + b"';</script></html>" * 8
    files["/models/face.onnx"] = b"\x08\x07\x12\x07pytorch\x1a\x032.1" + rng.randbytes(1_800_000)
    size = sum(len(v) for v in files.values())
    i = 0
    while size < target:
        blob = b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randint(4_000, 30_000))
        files[f"/images/img{i}.png"] = blob
        size += len(blob)
        i += 1
    return build_wxapkg(files)


def _time(path: Path, repeat: int, appid: str | None = None) -> tuple[list[float], object]:
    times: list[float] = []
    inv = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        inv = read_artifact(path, wxapkg_appid=appid)
        times.append(time.perf_counter() - t0)
    return times, inv


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    plain = build_package()
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "__APP__.wxapkg"
        p.write_bytes(plain)
        e = Path(d) / "enc.wxapkg"
        e.write_bytes(encrypt_v1mmwx(plain, APPID))
        _time(p, 1)  # warm imports
        for label, path, appid in (("plain", p, None), ("V1MMWX + appid", e, APPID)):
            times, inv = _time(path, args.repeat, appid)
            assert inv is not None and not inv.errors, inv.errors  # type: ignore[union-attr]
            print(
                f"{label:15s} {len(plain) / 2**20:5.1f} MiB, {len(inv.entries):4d} files "  # type: ignore[union-attr]
                f"({len(inv.miniprogram.apis)} api hits): "  # type: ignore[union-attr]
                f"min {min(times) * 1000:6.1f} ms  median {statistics.median(times) * 1000:6.1f} ms  "
                f"(read_artifact incl. sha256 of the file; {args.repeat} runs)"
            )
    print(machine_note())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

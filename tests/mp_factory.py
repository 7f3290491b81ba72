"""Mini-program packages built in code from the documented formats (``miniprogram-formats.md``).

Used by the reader tests and reusable by rule tests, so neither needs third-party samples:

- :func:`build_wxapkg` / :func:`build_ttpkg` — the flat indexed formats;
- :func:`encrypt_v1mmwx` / :func:`mac_tag` — the PC and macOS encrypted wrappings;
- :func:`build_zip` and the :func:`build_rpk` / :func:`build_hap` / :func:`build_amr` / source helpers;
- ready-made apps: :func:`wechatsi_wxapkg` (declares the WechatSI plugin) and :func:`cloud_ai_wxapkg`
  (calls ``wx.cloud.extend.AI.createModel``).
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import tarfile
import zipfile
from typing import Any

from rules.mpfixtures import build_wxapkg as _build_wxapkg

WECHATSI_PROVIDER = "wx069ba97219f66d99"
TEST_APPID = "wx0123456789abcdef"


def build_wxapkg(files: dict[str, bytes], *, info: int = 0) -> bytes:
    """A plain wxapkg (big-endian) holding ``files`` in order; names get a leading ``/`` if missing."""
    data = _build_wxapkg(files)
    return data[:1] + struct.pack(">I", info) + data[5:] if info else data


def build_raw_wxapkg(entries: list[tuple[bytes, int, int]], body: bytes = b"", *, count: int | None = None,
                     index_len: int | None = None, data_len: int | None = None) -> bytes:
    """A wxapkg with hand-set index records ``(name, offset, size)`` — for hostile fixtures."""
    recs = b"".join(struct.pack(">I", len(n)) + n + struct.pack(">II", o, s) for n, o, s in entries)
    il = 4 + len(recs) if index_len is None else index_len
    dl = len(body) if data_len is None else data_len
    n = len(entries) if count is None else count
    return b"\xbe" + struct.pack(">III", 0, il, dl) + b"\xed" + struct.pack(">I", n) + recs + body


def build_ttpkg(files: dict[str, bytes], *, version: int = 2, reserved: bool = True) -> bytes:
    """A Douyin TPKG (little-endian); names are stored as given (real ones have no leading ``/``)."""
    items = [(n.encode("utf-8"), d) for n, d in files.items()]
    head = b"TPKG" + struct.pack("<I", version) + (struct.pack("<I", 0) if reserved else b"")
    head += struct.pack("<I", len(items))
    off = len(head) + sum(12 + len(n) for n, _ in items)
    index = []
    for name, data in items:
        index.append(struct.pack("<I", len(name)) + name + struct.pack("<II", off, len(data)))
        off += len(data)
    return head + b"".join(index) + b"".join(d for _, d in items)


def encrypt_v1mmwx(plain: bytes, appid: str) -> bytes:
    """Wrap a plain wxapkg like the PC client: AES-256-CBC over the first 1023 bytes (+1 pad byte), XOR after."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if len(plain) < 1024:
        raise ValueError("V1MMWX needs at least 1024 plaintext bytes; add a padding file")
    key = hashlib.pbkdf2_hmac("sha1", appid.encode(), b"saltiest", 1000, 32)
    enc = Cipher(algorithms.AES(key), modes.CBC(b"the iv: 16 bytes")).encryptor()
    head = enc.update(plain[:1023] + b"\x01") + enc.finalize()
    x = ord(appid[-2])
    return b"V1MMWX" + head + bytes(c ^ x for c in plain[1023:])


def mac_tag(plain: bytes) -> bytes:
    """The macOS 3.x wrapping: first 1024 bytes replaced by (here: fake) ciphertext, tag appended."""
    fake = hashlib.sha256(plain[:1024]).digest() * 32
    return fake[:1024] + plain[1024:] + b"WAPkgEncryptedTagForMac"


def app_config(**kw: Any) -> bytes:
    """A compiled ``app-config.json``."""
    cfg: dict[str, Any] = {"pages": ["pages/index/index"], "entryPagePath": "pages/index/index.html", "global": {}}
    cfg.update(kw)
    return json.dumps(cfg, ensure_ascii=False).encode()


def padding(n: int = 2048) -> bytes:
    """Deterministic filler (a fake PNG) so encrypted fixtures reach past the 1023-byte AES head."""
    return b"\x89PNG\r\n\x1a\n" + bytes((i * 7) & 0xFF for i in range(n))


def wechatsi_wxapkg() -> bytes:
    """An app whose app-config.json declares WechatSI (TTS/ASR, provider wx069ba97219f66d99)."""
    return build_wxapkg({
        "/app-config.json": app_config(plugins={"WechatSI": {"version": "0.3.5", "provider": WECHATSI_PROVIDER}}),
        "/app-service.js": b'define("pages/index/index.js",function(require,module,exports,window){'
                           b'var plugin=requirePlugin("WechatSI");plugin.textToSpeech({lang:"zh_CN",content:"hi"});});',
        "/page-frame.html": b"<html><script>var __wxAppCode__={};</script></html>",
    })  # fmt: skip


def cloud_ai_wxapkg() -> bytes:
    """An app whose app-service.js calls ``wx.cloud.extend.AI.createModel`` (hosted LLM)."""
    return build_wxapkg({
        "/app-config.json": app_config(),
        "/app-service.js": b'define("pages/index/index.js",function(require,module,exports,window){'
                           b'const model=wx.cloud.extend.AI.createModel("hunyuan-exp");'
                           b'model.streamText({data:{messages:[{role:"user",content:"hi"}]}});});',
    })  # fmt: skip


def build_zip(files: dict[str, bytes], *, comment: bytes = b"") -> bytes:
    """A deflated zip in memory (names taken as given, even hostile ones)."""
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            zi = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
        z.comment = comment
    return bio.getvalue()


def build_rpk(manifest: dict[str, Any], files: dict[str, bytes] | None = None) -> bytes:
    """A Quick App ``.rpk`` (unsigned)."""
    return build_zip({"manifest.json": json.dumps(manifest).encode(), "app.js": b"/* app */", **(files or {})})


def build_hap(module: dict[str, Any], files: dict[str, bytes] | None = None) -> bytes:
    """A HarmonyOS ``.hap`` (unsigned)."""
    pack = {"summary": {"app": {"bundleName": module.get("app", {}).get("bundleName", "")}}}
    return build_zip({"module.json": json.dumps(module).encode(), "pack.info": json.dumps(pack).encode(),
                      **(files or {})})  # fmt: skip


def build_tar(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A ustar archive in memory; ``links`` adds symlink members (name → target)."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1577836800
            t.addfile(ti, io.BytesIO(data))
        for name, target in (links or {}).items():
            ti = tarfile.TarInfo(name)
            ti.type = tarfile.SYMTYPE
            ti.linkname = target
            t.addfile(ti)
    return bio.getvalue()


def build_amr(uid: str, files: dict[str, bytes], *, links: dict[str, str] | None = None, version: str = "1.0.0.1") -> bytes:
    """An mPaaS Nebula ``.amr``: Manifest.xml + CERT.json + ``<uid>.tar``."""
    manifest = (f'<?xml version="1.0" encoding="utf-8"?>\n<package><uid>{uid}</uid><name>h5app</name>'
                f"<version>{version}</version></package>").encode()  # fmt: skip
    cert = json.dumps({f"{uid}.tar": "c2ln", "Manifest.xml": "c2ln"}).encode()
    return build_zip({"Manifest.xml": manifest, "CERT.json": cert, f"{uid}.tar": build_tar(files, links)})

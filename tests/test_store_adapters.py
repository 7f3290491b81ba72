"""Store adapters against real HTTP servers on 127.0.0.1: an F-Droid repository the test generates (index-v2
``entry.json`` + ``index-v2.json`` and the older ``index-v1.json``, APKs from ``rules.fixtures.build_apk``) and a
fake REST store. Covers retries on 500 / 429 (Retry-After), timeouts, sha256 mismatch, truncated downloads,
pagination, auth failures, and the inbox's half-written-file and crash rules.

The fakes live here; ``tests/test_store_cli.py`` imports them for the CLI cycle.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from filings.meta import Channel
from rules.fixtures import build_apk
from store_adapters import load_config, open_adapter
from store_adapters.base import (
    AdapterError,
    AuthError,
    ConfigError,
    DecisionRecord,
    FetchError,
    Outcome,
    PushError,
)
from store_adapters.fdroid import FDroidAdapter
from store_adapters.http import Http, HttpPolicy, retry_after_seconds
from store_adapters.inbox import InboxAdapter
from store_adapters.rest import RestAdapter

DEEPAR = {"classes": ["ai.deepar.ar.DeepAR", "ai.deepar.ar.AREventListener"]}
TOKEN = "tok-7f3a9c"  # distinctive, to look for leaks
TOKEN_ENV = "SYNTHREVIEW_TEST_STORE_TOKEN"
FAST = {"timeout": 2.0, "retries": 3, "backoff": 0.01, "max_backoff": 0.05}


def apk(package: str, *, face: bool = False, salt: str = "") -> bytes:
    """A real APK; ``salt`` changes the bytes (a new build of the same version)."""
    spec: dict[str, Any] = dict(DEEPAR) if face else {}
    if salt:
        spec["strings"] = [f"build {salt}"]
    return build_apk(spec, package=package)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------- servers

Fault = int | str | tuple[int, dict[str, str]]  # status | "slow:SECONDS" | "truncate" | (status, headers)


@dataclass
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


class App:
    """Base of the fake apps: fault injection per path, and a log of what arrived."""

    def __init__(self) -> None:
        self.faults: dict[str, list[Fault]] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()

    def fault(self, path: str, *faults: Fault) -> None:
        """Answer the next requests to ``path`` with these faults, in order, then normally."""
        self.faults.setdefault(path, []).extend(faults)

    def hits(self, path: str, method: str = "GET") -> int:
        return sum(1 for s in self.seen if s.path == path and s.method == method)

    def __call__(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self.lock:
            self.seen.append(Seen(method, parts.path, parse_qs(parts.query), dict(h.headers.items()), body))
            pending = self.faults.get(parts.path)
            fault = pending.pop(0) if pending else None
        if isinstance(fault, str) and fault.startswith("slow:"):
            time.sleep(float(fault[5:]))
            fault = None
        if isinstance(fault, int):
            return send(h, fault, b'{"error": "injected"}')
        if isinstance(fault, tuple):
            return send(h, fault[0], b'{"error": "injected"}', fault[1])
        self.handle(h, method, parts.path, parse_qs(parts.query), body, truncate=fault == "truncate")

    def handle(self, h: BaseHTTPRequestHandler, method: str, path: str, query: dict[str, list[str]], body: bytes,
               *, truncate: bool) -> None:
        raise NotImplementedError


def send(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None,
         *, truncate: bool = False, ctype: str = "application/json") -> None:
    """Write a response; ``truncate`` promises the full length but closes after half of it."""
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    if truncate:
        h.send_header("Connection", "close")
    h.end_headers()
    if truncate:
        h.wfile.write(body[: len(body) // 2])
        h.wfile.flush()
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_WR)
        return
    h.wfile.write(body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802
        self.server.app(self, "GET")

    def do_POST(self) -> None:  # noqa: N802
        self.server.app(self, "POST")

    def do_PUT(self) -> None:  # noqa: N802
        self.server.app(self, "PUT")

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, app: App) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.app = app

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and left is expected here


@contextmanager
def serve(app: App) -> Iterator[str]:
    """Run ``app`` on 127.0.0.1:<free port> in a thread; yields the base URL."""
    srv = _Server(app)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(5)


class StaticApp(App):
    """A static file server over a folder (an F-Droid repository is just files)."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def handle(self, h, method, path, query, body, *, truncate):  # type: ignore[no-untyped-def]
        p = (self.root / path.lstrip("/")).resolve()
        if method != "GET" or not p.is_relative_to(self.root.resolve()) or not p.is_file():
            return send(h, 404, b"not found", ctype="text/plain")
        send(h, 200, p.read_bytes(), truncate=truncate, ctype="application/octet-stream")


# ---------------------------------------------------------------------------------------------- F-Droid repo


@dataclass(frozen=True)
class RepoVersion:
    code: int
    name: str
    data: bytes
    added_ms: int = 1_700_000_000_000


@dataclass(frozen=True)
class RepoApp:
    package: str
    names: dict[str, str]
    author: str
    versions: tuple[RepoVersion, ...]


def make_fdroid_repo(root: Path, apps: list[RepoApp], *, v2: bool = True, v1: bool = True) -> Path:
    """Write a repository in the documented layout: APKs, ``index-v1.json``, ``index-v2.json``, ``entry.json``."""
    root.mkdir(parents=True, exist_ok=True)
    v2_packages: dict[str, Any] = {}
    v1_apps: list[dict[str, Any]] = []
    v1_packages: dict[str, list[dict[str, Any]]] = {}
    for a in apps:
        versions: dict[str, Any] = {}
        for v in a.versions:
            fname = f"{a.package}_{v.code}.apk"
            (root / fname).write_bytes(v.data)
            digest = sha(v.data)
            versions[digest] = {
                "added": v.added_ms,
                "file": {"name": f"/{fname}", "sha256": digest, "size": len(v.data)},
                "manifest": {"versionName": v.name, "versionCode": v.code, "usesSdk": {"minSdkVersion": 21,
                                                                                    "targetSdkVersion": 33}},
            }
            v1_packages.setdefault(a.package, []).append({
                "added": v.added_ms, "apkName": fname, "hash": digest, "hashType": "sha256",
                "packageName": a.package, "size": len(v.data), "versionCode": v.code, "versionName": v.name,
            })
        v2_packages[a.package] = {
            "metadata": {"added": 1_600_000_000_000, "name": a.names, "authorName": a.author,
                         "summary": {"en-US": "fixture"}, "lastUpdated": 1_700_000_000_000},
            "versions": versions,
        }
        v1_apps.append({"packageName": a.package, "authorName": a.author, "added": 1_600_000_000_000,
                        "localized": {loc: {"name": n} for loc, n in a.names.items()}})
    if v1:
        (root / "index-v1.json").write_text(json.dumps({
            "repo": {"timestamp": 1_700_000_000_000, "version": 20002, "name": "Fixture repo",
                     "address": "http://127.0.0.1/repo", "description": "test"},
            "requests": {"install": [], "uninstall": []}, "apps": v1_apps, "packages": v1_packages,
        }))
    if v2:
        index = json.dumps({"repo": {"name": {"en-US": "Fixture repo"}, "address": "http://127.0.0.1/repo",
                                     "timestamp": 1_700_000_000_000}, "packages": v2_packages}).encode()
        (root / "index-v2.json").write_bytes(index)
        (root / "entry.json").write_text(json.dumps({
            "timestamp": 1_700_000_000_000, "version": 20002,
            "index": {"name": "/index-v2.json", "sha256": sha(index), "size": len(index),
                      "numPackages": len(apps)},
            "diffs": {},
        }))
    return root


def two_app_repo(root: Path, **kw: Any) -> Path:
    return make_fdroid_repo(root, [
        RepoApp("org.example.facecam", {"zh-CN": "换脸相机", "en-US": "Face Cam"}, "Example Face Ltd",
                (RepoVersion(2, "1.1", apk("org.example.facecam", face=True, salt="2"), 1_700_000_100_000),
                 RepoVersion(1, "1.0", apk("org.example.facecam", face=True, salt="1")))),
        RepoApp("org.example.notes", {"en-US": "Notes"}, "Notes Dev",
                (RepoVersion(7, "0.7", apk("org.example.notes")),)),
    ], **kw)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return two_app_repo(tmp_path / "repo")


def fdroid(url: str, **cfg: Any) -> FDroidAdapter:
    return FDroidAdapter.from_config({**FAST, **cfg}, url)


def test_fdroid_v2_over_http_lists_and_verifies(repo: Path, tmp_path: Path) -> None:
    app = StaticApp(repo)
    with serve(app) as base:
        with fdroid(base + "/") as ad:
            versions = list(ad.list_apps())
            assert ad.index_format == "v2"
            assert [(v.app_id, v.version, v.version_code) for v in versions] == [
                ("org.example.facecam", "1.1", 2), ("org.example.facecam", "1.0", 1), ("org.example.notes", "0.7", 7)]
            face = versions[0]
            assert face.meta.app_name == "换脸相机" and face.meta.developer == "Example Face Ltd"
            assert face.meta.app_id == "org.example.facecam" and face.channel is Channel.LISTED
            assert face.meta.channel is Channel.LISTED
            assert face.sha256 == sha((repo / "org.example.facecam_2.apk").read_bytes())
            assert versions[2].meta.app_name == "Notes"
            dest = tmp_path / "dl"
            dest.mkdir()
            got = ad.fetch(face, dest)
            assert got.read_bytes() == (repo / "org.example.facecam_2.apk").read_bytes()
            assert sorted(p.name for p in dest.iterdir()) == ["org.example.facecam_2.apk"]
    assert app.hits("/entry.json") == 1 and app.hits("/index-v2.json") == 1 and app.hits("/index-v1.json") == 0


def test_fdroid_v1_only_repository(tmp_path: Path) -> None:
    repo = two_app_repo(tmp_path / "repo", v2=False)
    app = StaticApp(repo)
    with serve(app) as base, fdroid(base) as ad:
        versions = list(ad.list_apps())
        assert ad.index_format == "v1"
        assert {(v.app_id, v.version) for v in versions} == {
            ("org.example.facecam", "1.1"), ("org.example.facecam", "1.0"), ("org.example.notes", "0.7")}
        assert versions[0].meta.app_name == "换脸相机" and versions[0].meta.developer == "Example Face Ltd"
        d = tmp_path / "d"
        d.mkdir()
        assert ad.fetch(versions[-1], d).read_bytes() == (repo / "org.example.notes_7.apk").read_bytes()
    assert app.hits("/entry.json") == 1  # tried first, 404, then the older index


def test_fdroid_local_path_latest_only_since_and_packages(repo: Path, tmp_path: Path) -> None:
    from datetime import datetime, timezone

    with FDroidAdapter.from_config({"latest_only": True}, str(repo)) as ad:
        assert [(v.app_id, v.version) for v in ad.list_apps()] == [
            ("org.example.facecam", "1.1"), ("org.example.notes", "0.7")]
    since = datetime.fromtimestamp(1_700_000_050, tz=timezone.utc)
    with FDroidAdapter.from_config({"packages": ["org.example.facecam"]}, f"file://{repo}") as ad:
        vs = list(ad.list_apps(since))
        assert [(v.app_id, v.version) for v in vs] == [("org.example.facecam", "1.1")]
        d = tmp_path / "d"
        d.mkdir()
        assert ad.fetch(vs[0], d).read_bytes() == (repo / "org.example.facecam_2.apk").read_bytes()


def test_fdroid_sha256_mismatch_is_refused(repo: Path, tmp_path: Path) -> None:
    f = repo / "org.example.notes_7.apk"
    tampered = bytearray(f.read_bytes())
    tampered[100] ^= 0xFF  # same size, other bytes: only the sha256 can tell
    f.write_bytes(bytes(tampered))
    with serve(StaticApp(repo)) as base, fdroid(base) as ad:
        notes = [v for v in ad.list_apps() if v.app_id == "org.example.notes"][0]
        d = tmp_path / "d"
        d.mkdir()
        with pytest.raises(FetchError, match="sha256 mismatch") as ei:
            ad.fetch(notes, d)
        assert not ei.value.transient
        assert list(d.iterdir()) == []  # nothing unverified is left to scan


def test_fdroid_truncated_download_is_refused(repo: Path, tmp_path: Path) -> None:
    app = StaticApp(repo)
    app.fault("/org.example.notes_7.apk", "truncate")
    with serve(app) as base, fdroid(base) as ad:
        notes = [v for v in ad.list_apps() if v.app_id == "org.example.notes"][0]
        d = tmp_path / "d"
        d.mkdir()
        with pytest.raises(FetchError, match="truncated"):
            ad.fetch(notes, d)
        assert list(d.iterdir()) == []
        assert ad.fetch(notes, d).read_bytes() == (repo / "org.example.notes_7.apk").read_bytes()  # next try: fine


def test_fdroid_size_cap_and_tampered_index(repo: Path, tmp_path: Path) -> None:
    with serve(StaticApp(repo)) as base:
        with fdroid(base, max_bytes=100) as ad:
            v = list(ad.list_apps())[0]
            d = tmp_path / "d"
            d.mkdir()
            with pytest.raises(FetchError, match="cap|大小"):
                ad.fetch(v, d)
        index = json.loads((repo / "index-v2.json").read_text())
        index["packages"]["org.example.notes"]["metadata"]["authorName"] = "Someone Else"
        (repo / "index-v2.json").write_text(json.dumps(index))  # entry.json still has the old sha256
        with fdroid(base) as ad, pytest.raises(AdapterError, match="index refused"):
            list(ad.list_apps())


def test_fdroid_refuses_file_names_outside_the_repository(tmp_path: Path) -> None:
    repo = two_app_repo(tmp_path / "repo", v2=False)
    idx = json.loads((repo / "index-v1.json").read_text())
    idx["packages"]["org.example.notes"][0]["apkName"] = "../../etc/passwd"
    idx["packages"]["org.example.facecam"][0]["apkName"] = "http://elsewhere.invalid/x.apk"
    idx["packages"]["org.example.facecam"][1]["hashType"] = "md5"
    (repo / "index-v1.json").write_text(json.dumps(idx))
    d = tmp_path / "d"
    d.mkdir()
    for loc in (str(repo),):
        with FDroidAdapter.from_config({}, loc) as ad:
            for v in ad.list_apps():
                with pytest.raises(FetchError, match="outside|refused|cannot be verified"):
                    ad.fetch(v, d)
    assert list(d.iterdir()) == []


def test_fdroid_push_needs_a_decisions_dir(repo: Path, tmp_path: Path) -> None:
    rec = DecisionRecord("d" * 32, "1", "org.example.notes", "0.7", "a" * 64, "list", "通过", "listed")
    with FDroidAdapter.from_config({}, str(repo)) as ad, pytest.raises(PushError, match="decisions_dir"):
        ad.push(rec)
    with FDroidAdapter.from_config({"decisions_dir": str(tmp_path / "out")}, str(repo)) as ad:
        ad.push(rec)
        ad.push(rec)  # same delivery id: same file, not a second decision
    files = list((tmp_path / "out").iterdir())
    assert len(files) == 1 and json.loads(files[0].read_text())["delivery_id"] == "d" * 32


# ---------------------------------------------------------------------------------------------- fake REST store


@dataclass
class Item:
    id: str
    app_id: str
    version: str
    data: bytes
    name: str = ""
    developer: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    sha_override: str | None = None


class FakeRestStore(App):
    """An in-house store API: paged listing (page/per_page or a next link), artifacts, decisions.

    Decisions are kept by delivery id (the ``Idempotency-Key``): a repeat is answered 409 and counted as a
    duplicate, never stored as a second decision.
    """

    def __init__(self, items: list[Item], *, token: str = TOKEN, files_origin: str | None = None) -> None:
        super().__init__()
        self.items = items
        self.token = token
        self.files_origin = files_origin  # serve artifacts from another server (a CDN)
        self.decisions: dict[str, dict[str, Any]] = {}
        self.duplicates: list[str] = []

    def item_json(self, it: Item) -> dict[str, Any]:
        url = f"/files/{it.id}.apk"
        return {"id": it.id, "app_id": it.app_id, "version": it.version, "sha256": it.sha_override or sha(it.data),
                "size": len(it.data), "artifact_url": (self.files_origin + url) if self.files_origin else url,
                "updated_at": "2025-05-01T08:00:00Z", "name": it.name or None, "developer": it.developer or None,
                "meta": it.meta or None}

    def handle(self, h, method, path, query, body, *, truncate):  # type: ignore[no-untyped-def]
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            return send(h, 401, b'{"error": "unauthorized"}')
        if method == "GET" and path == "/api/apps":
            return self._list(h, query)
        if method == "GET" and path.startswith("/files/"):
            it = next((i for i in self.items if f"/files/{i.id}.apk" == path), None)
            if it is None:
                return send(h, 404, b"{}")
            return send(h, 200, it.data, truncate=truncate, ctype="application/vnd.android.package-archive")
        if method == "POST" and path.startswith("/api/apps/") and path.endswith("/decision"):
            key = h.headers.get("Idempotency-Key") or ""
            doc = json.loads(body)
            with self.lock:
                if key in self.decisions:
                    self.duplicates.append(key)
                    return send(h, 409, b'{"status": "duplicate"}')
                assert doc["delivery_id"] == key
                self.decisions[key] = {"path": path, **doc}
            return send(h, 201, b'{"status": "created"}')
        send(h, 404, b"{}")

    def _list(self, h: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        if "page" in query:  # page style
            page, per = int(query["page"][0]), int(query.get("per_page", ["2"])[0])
            chunk = self.items[(page - 1) * per: page * per]
            return send(h, 200, json.dumps({"data": [self.item_json(i) for i in chunk], "page": page}).encode())
        start = int(query.get("cursor", ["0"])[0])  # next-link style, two per page
        chunk = self.items[start:start + 2]
        nxt = f"/api/apps?cursor={start + 2}" if start + 2 < len(self.items) else None
        headers = {"Link": f'<{nxt}>; rel="next"'} if nxt else {}
        send(h, 200, json.dumps({"data": [self.item_json(i) for i in chunk], "links": {"next": nxt}}).encode(), headers)


def rest_config(base: str, **over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "base_url": base + "/api/",
        "auth": {"header": "Authorization", "env": TOKEN_ENV, "prefix": "Bearer "},
        **FAST,
        "list": {"path": "apps", "items": "data", "pagination": {"style": "next", "next": "links.next"}},
        "push": {"path": "apps/{id}/decision"},
    }
    for k, v in over.items():
        cfg[k] = v
    return cfg


def items(n: int = 2) -> list[Item]:
    out = [Item("s1", "com.example.faceswap", "2.0", apk("com.example.faceswap", face=True), name="换脸秀",
                developer="示例科技有限公司", meta={"declares_aigc": True}),
           Item("s2", "com.example.ledger", "1.3", apk("com.example.ledger"), name="Ledger")]
    for i in range(2, n):
        out.append(Item(f"s{i + 1}", f"com.example.app{i}", "1.0", apk(f"com.example.app{i}", salt=str(i))))
    return out[:n]


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return TOKEN


class Sleeps(list[float]):
    """Records requested waits instead of sleeping (the server is real; only the clock is skipped)."""

    def __call__(self, s: float) -> None:
        self.append(s)


def rest(cfg: dict[str, Any]) -> tuple[RestAdapter, Sleeps]:
    ad = RestAdapter.from_config(cfg)
    sleeps = Sleeps()
    ad.http.sleep = sleeps
    return ad, sleeps


def test_rest_lists_follows_next_links_and_maps_fields(token: str, tmp_path: Path) -> None:
    store = FakeRestStore(items(5))
    with serve(store) as base:
        ad, _ = rest(rest_config(base))
        with ad:
            vs = list(ad.list_apps())
            assert [v.key for v in vs] == ["s1", "s2", "s3", "s4", "s5"]
            first = vs[0]
            assert (first.app_id, first.version, first.channel) == ("com.example.faceswap", "2.0", Channel.SUBMISSION)
            assert first.meta.app_name == "换脸秀" and first.meta.developer == "示例科技有限公司"
            assert first.meta.declares_aigc is True and first.meta.app_id == "com.example.faceswap"
            d = tmp_path / "d"
            d.mkdir()
            assert ad.fetch(first, d).read_bytes() == store.items[0].data
    assert store.hits("/api/apps") == 3  # 2 + 2 + 1


@pytest.mark.parametrize("style", ["page", "link"])
def test_rest_pagination_styles(token: str, style: str) -> None:
    store = FakeRestStore(items(5))
    with serve(store) as base:
        pag = ({"style": "page", "page_param": "page", "size_param": "per_page", "size": 2, "start": 1}
               if style == "page" else {"style": "next", "next": "link"})
        cfg = rest_config(base, list={"path": "apps", "items": "data", "pagination": pag})
        ad, _ = rest(cfg)
        with ad:
            assert [v.key for v in ad.list_apps()] == ["s1", "s2", "s3", "s4", "s5"]
    assert store.hits("/api/apps") == 3


def test_rest_retries_500_with_exponential_backoff(token: str) -> None:
    store = FakeRestStore(items(2))
    store.fault("/api/apps", 500, 503)
    with serve(store) as base:
        ad, sleeps = rest(rest_config(base))
        with ad:
            assert len(list(ad.list_apps())) == 2
    assert sleeps == [0.01, 0.02]
    assert store.hits("/api/apps") == 3


def test_rest_gives_up_after_retries(token: str) -> None:
    store = FakeRestStore(items(2))
    store.fault("/api/apps", 500, 500, 500, 500, 500)
    with serve(store) as base:
        ad, sleeps = rest(rest_config(base))
        with ad, pytest.raises(AdapterError, match="HTTP 500 after 4 attempts"):
            list(ad.list_apps())
    assert len(sleeps) == 3 and store.hits("/api/apps") == 4


def test_rest_429_honours_retry_after(token: str) -> None:
    store = FakeRestStore(items(2))
    store.fault("/api/apps", (429, {"Retry-After": "2"}), (429, {"Retry-After": "0"}))
    with serve(store) as base:
        ad, sleeps = rest(rest_config(base))
        with ad:
            assert len(list(ad.list_apps())) == 2
    assert sleeps == [2.0, 0.0]  # the server's word, not the 0.01 s backoff


def test_rest_429_really_waits(token: str) -> None:
    """One real sleep, to show the wait happens on the wire (Retry-After: 1)."""
    store = FakeRestStore(items(1))
    store.fault("/api/apps", (429, {"Retry-After": "1"}))
    with serve(store) as base, RestAdapter.from_config(rest_config(base)) as ad:
        t0 = time.monotonic()
        assert len(list(ad.list_apps())) == 1
        assert time.monotonic() - t0 >= 0.95
    times = [s for s in store.seen if s.path == "/api/apps"]
    assert len(times) == 2


def test_rest_retry_after_too_long_gives_up(token: str) -> None:
    store = FakeRestStore(items(1))
    store.fault("/api/apps", (429, {"Retry-After": "3600"}))
    with serve(store) as base:
        ad, sleeps = rest(rest_config(base, max_retry_after=60))
        with ad, pytest.raises(AdapterError, match="asks to wait 3600"):
            list(ad.list_apps())
    assert sleeps == []


def test_retry_after_http_date() -> None:
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 30) == pytest.approx(30.0)
    assert retry_after_seconds("soon") is None and retry_after_seconds("7") == 7.0


def test_rest_timeout_retried_then_fails(token: str) -> None:
    store = FakeRestStore(items(1))
    store.fault("/api/apps", "slow:1.0")
    with serve(store) as base:
        ad, sleeps = rest(rest_config(base, timeout=0.3))
        with ad:
            assert len(list(ad.list_apps())) == 1  # the first answer came too late; the retry is fine
        assert len(sleeps) == 1
        store.fault("/api/apps", "slow:1.0", "slow:1.0")
        ad, _ = rest(rest_config(base, timeout=0.3, retries=1))
        with ad, pytest.raises(AdapterError, match="Timeout"):
            list(ad.list_apps())


def test_rest_auth_failure_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "wrong-token")
    store = FakeRestStore(items(1))
    with serve(store) as base:
        ad, sleeps = rest(rest_config(base))
        with ad, pytest.raises(AuthError, match="HTTP 401"):
            list(ad.list_apps())
    assert sleeps == [] and store.hits("/api/apps") == 1
    monkeypatch.delenv(TOKEN_ENV)
    with pytest.raises(ConfigError, match=TOKEN_ENV):
        RestAdapter.from_config(rest_config("http://127.0.0.1:9"))


def test_rest_sha256_mismatch_and_truncation_refused(token: str, tmp_path: Path) -> None:
    its = items(2)
    its[1].sha_override = sha(b"something else")
    store = FakeRestStore(its)
    store.fault("/files/s1.apk", "truncate")
    with serve(store) as base:
        ad, _ = rest(rest_config(base))
        with ad:
            first, second = list(ad.list_apps())
            d = tmp_path / "d"
            d.mkdir()
            with pytest.raises(FetchError, match="truncated"):
                ad.fetch(first, d)
            with pytest.raises(FetchError, match="sha256 mismatch"):
                ad.fetch(second, d)
            assert list(d.iterdir()) == []


def test_rest_token_stays_on_the_store_origin(token: str, tmp_path: Path) -> None:
    """Artifacts on another origin (a CDN) are fetched without the credential header."""
    cdn = StaticApp(tmp_path / "cdn")
    (tmp_path / "cdn" / "files").mkdir(parents=True)
    with serve(cdn) as cdn_base:
        store = FakeRestStore(items(1), files_origin=cdn_base)
        (tmp_path / "cdn" / "files" / "s1.apk").write_bytes(store.items[0].data)
        with serve(store) as base:
            ad, _ = rest(rest_config(base))
            with ad:
                v = list(ad.list_apps())[0]
                d = tmp_path / "d"
                d.mkdir()
                assert ad.fetch(v, d).read_bytes() == store.items[0].data
    assert cdn.seen and all("Authorization" not in s.headers for s in cdn.seen)
    assert all(TOKEN not in json.dumps(s.headers) for s in cdn.seen)


def test_rest_refuses_items_without_sha256_or_with_bad_metadata(token: str, tmp_path: Path) -> None:
    its = items(2)
    its[0].meta = {"channel": "somewhere"}
    store = FakeRestStore(its)
    with serve(store) as base:
        ad, _ = rest(rest_config(base, fields={"sha256": "checksum"}))  # the store publishes none under that name
        with ad:
            vs = list(ad.list_apps())
            d = tmp_path / "d"
            d.mkdir()
            with pytest.raises(FetchError, match="metadata"):
                ad.fetch(vs[0], d)
            with pytest.raises(FetchError, match="sha256"):
                ad.fetch(vs[1], d)
    assert store.hits("/files/s1.apk") == store.hits("/files/s2.apk") == 0


def test_rest_push_is_idempotent_and_retried(token: str) -> None:
    store = FakeRestStore(items(1))
    rec = DecisionRecord("e" * 32, "7", "com.example.faceswap", "2.0", "a" * 64, "reject", "不予上架", "submission",
                         key="s1")
    store.fault("/api/apps/s1/decision", 502)
    with serve(store) as base:
        ad, sleeps = rest(rest_config(base))
        with ad:
            ad.push(rec)
            ad.push(rec)  # a resend: the store answers 409, which counts as delivered
    assert list(store.decisions) == ["e" * 32] and store.duplicates == ["e" * 32]
    assert store.decisions["e" * 32]["action"] == "reject" and len(sleeps) == 1
    store2 = FakeRestStore(items(1))
    store2.fault("/api/apps/s1/decision", 400)
    with serve(store2) as base:
        ad, _ = rest(rest_config(base))
        with ad, pytest.raises(PushError, match="HTTP 400"):
            ad.push(rec)


def test_rest_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="retires"):
        RestAdapter.from_config({"base_url": "http://127.0.0.1:9/", "retires": 3})
    with pytest.raises(ConfigError, match="placeholder"):
        RestAdapter.from_config({"base_url": "http://127.0.0.1:9/", "push": {"path": "x/{nope}"}})
    with pytest.raises(ConfigError, match="http"):
        RestAdapter.from_config({"base_url": "ftp://127.0.0.1/"})


def test_config_file_sections(tmp_path: Path) -> None:
    p = tmp_path / "adapters.yaml"
    p.write_text("inbox: {settle: 0}\nfdroid: {latest_only: true}\n")
    assert load_config(p, "inbox") == {"settle": 0}
    assert load_config(p, "fdroid") == {"latest_only": True}
    with pytest.raises(ConfigError, match="unknown adapter"):
        open_adapter("play", config={})


def test_http_redirect_drops_credentials_across_origins(tmp_path: Path) -> None:
    class Redirect(App):
        def __init__(self, to: str) -> None:
            super().__init__()
            self.to = to

        def handle(self, h, method, path, query, body, *, truncate):  # type: ignore[no-untyped-def]
            send(h, 302, b"", {"Location": self.to + "/x.bin"})

    (tmp_path / "x.bin").write_bytes(b"payload")
    other = StaticApp(tmp_path)
    with serve(other) as other_base:
        red = Redirect(other_base)
        with serve(red) as base:
            http = Http(HttpPolicy(timeout=2, retries=0), auth_headers={"X-Api-Key": TOKEN}, auth_origin=base)
            out = http.download(base + "/start", tmp_path / "got.bin", sha256=sha(b"payload"))
            http.close()
    assert out.read_bytes() == b"payload"
    assert red.seen[0].headers.get("X-Api-Key") == TOKEN
    assert all("X-Api-Key" not in s.headers for s in other.seen)


# ---------------------------------------------------------------------------------------------- inbox


def inbox_dir(tmp_path: Path) -> Path:
    d = tmp_path / "inbox"
    d.mkdir()
    return d


def test_inbox_skips_part_files_and_files_still_growing(tmp_path: Path) -> None:
    d = inbox_dir(tmp_path)
    (d / "ready.apk").write_bytes(apk("com.example.ready"))
    (d / "upload.apk.part").write_bytes(apk("com.example.upload")[:100])
    (d / "growing.apk").write_bytes(apk("com.example.growing")[:100])
    (d / "waiting.apk").write_bytes(apk("com.example.waiting"))
    (d / "waiting.apk.meta.yaml.part").write_text("app_name: W\n")

    def writer_keeps_writing(_: float) -> None:  # runs between the two looks
        with open(d / "growing.apk", "ab") as f:
            f.write(b"more bytes")

    ad = InboxAdapter(d, settle=0.5, sleep=writer_keeps_writing)
    listed = {v.key: v for v in ad.list_apps()}
    assert sorted(listed) == ["growing.apk", "ready.apk", "waiting.apk"]  # no .part upload at all
    work = tmp_path / "work"
    work.mkdir()
    for key in ("growing.apk", "waiting.apk"):  # reported as deferred, never read
        assert listed[key].sha256 is None
        with pytest.raises(FetchError, match="still being written") as ei:
            ad.fetch(listed[key], work)
        assert ei.value.transient
    assert list(work.iterdir()) == []
    assert listed["ready.apk"].sha256 is not None and listed["ready.apk"].get("defer") is None
    ad.sleep = lambda s: None
    listed = {v.key: v for v in ad.list_apps()}
    assert listed["growing.apk"].get("defer") is None  # stopped growing
    assert listed["waiting.apk"].get("defer")  # sidecar still a .part


def test_inbox_real_settle_interval(tmp_path: Path) -> None:
    """A writer thread appending during the real settle interval keeps the file out."""
    d = inbox_dir(tmp_path)
    (d / "slow.apk").write_bytes(b"PK")
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            with open(d / "slow.apk", "ab") as f:
                f.write(b"x" * 16)
            time.sleep(0.02)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert [v.get("defer") is not None for v in InboxAdapter(d, settle=0.2).list_apps()] == [True]
    finally:
        stop.set()
        t.join()
    assert [v.get("defer") for v in InboxAdapter(d, settle=0.05).list_apps()] == [None]


def test_inbox_sidecar_metadata_and_moves(tmp_path: Path) -> None:
    d = inbox_dir(tmp_path)
    data = apk("com.example.cam", face=True)
    (d / "cam.apk").write_bytes(data)
    (d / "cam.apk.meta.yaml").write_text(
        f"app_name: 示例相机\ndeveloper: 北京示例科技有限公司\napp_id: com.example.cam\nchannel: listed\n"
        f"sha256: {sha(data)}\nversion: '3.1'\n", encoding="utf-8")
    (d / "bad.apk").write_bytes(apk("com.example.bad"))
    (d / "bad.apk.meta.yaml").write_text("app_nmae: typo\n")
    (d / "liar.apk").write_bytes(apk("com.example.liar"))
    (d / "liar.apk.meta.json").write_text(json.dumps({"sha256": sha(b"other")}))
    ad = InboxAdapter(d, settle=0)
    vs = {v.key: v for v in ad.list_apps()}
    cam = vs["cam.apk"]
    assert (cam.app_id, cam.version, cam.channel) == ("com.example.cam", "3.1", Channel.LISTED)
    assert cam.meta.app_name == "示例相机" and cam.sha256 == sha(data)
    work = tmp_path / "work"
    work.mkdir()
    assert ad.fetch(cam, work).read_bytes() == data
    ad.finish(cam, Outcome.SCANNED)
    assert sorted(p.name for p in (d / "done").iterdir()) == ["cam.apk", "cam.apk.meta.yaml"]
    for key, pattern in (("bad.apk", "unknown metadata key"), ("liar.apk", "sha256 mismatch")):
        with pytest.raises(FetchError, match=pattern) as ei:
            ad.fetch(vs[key], work)
        ad.finish(vs[key], Outcome.REFUSED, str(ei.value))
    failed = sorted(p.name for p in (d / "failed").iterdir())
    assert failed == ["bad.apk", "bad.apk.error.txt", "bad.apk.meta.yaml", "liar.apk", "liar.apk.error.txt",
                      "liar.apk.meta.json"]
    assert sorted(p.name for p in d.iterdir()) == ["done", "failed"]


def test_inbox_file_changed_after_listing_is_deferred(tmp_path: Path) -> None:
    d = inbox_dir(tmp_path)
    (d / "a.apk").write_bytes(apk("com.example.a"))
    ad = InboxAdapter(d, settle=0)
    v = list(ad.list_apps())[0]
    (d / "a.apk").write_bytes(apk("com.example.a", salt="rewritten"))
    work = tmp_path / "w"
    work.mkdir()
    with pytest.raises(FetchError) as ei:
        ad.fetch(v, work)
    assert ei.value.transient
    ad.finish(v, Outcome.DEFERRED)
    assert (d / "a.apk").exists() and not (d / "failed").exists()


def test_inbox_done_name_collision_keeps_both(tmp_path: Path) -> None:
    d = inbox_dir(tmp_path)
    ad = InboxAdapter(d, settle=0)
    for salt in ("1", "2"):
        (d / "app.apk").write_bytes(apk("com.example.app", salt=salt))
        v = list(ad.list_apps())[0]
        ad.finish(v, Outcome.SCANNED)
    assert len(list((d / "done").iterdir())) == 2


def test_inbox_ignores_symlinks(tmp_path: Path) -> None:
    d = inbox_dir(tmp_path)
    outside = tmp_path / "secret.apk"
    outside.write_bytes(b"PK")
    (d / "link.apk").symlink_to(outside)
    assert list(InboxAdapter(d, settle=0).list_apps()) == []


def test_open_adapter_inbox_config(tmp_path: Path) -> None:
    d = inbox_dir(tmp_path)
    ad = open_adapter("inbox", url=str(d), config={"settle": 0})
    assert isinstance(ad, InboxAdapter) and ad.source == str(d.resolve())
    with pytest.raises(ConfigError, match="settle"):
        open_adapter("inbox", url=str(d), config={"settle": "soon"})
    with pytest.raises(ConfigError, match="not a folder"):
        open_adapter("inbox", url=str(d / "missing"), config={})



def test_cdn_refusal_without_our_credentials_is_a_fetch_error(token: str, tmp_path: Path) -> None:
    """A 403 from a CDN that never saw the token is one refused artifact, not "the token is wrong"."""

    class Forbidden(App):
        def handle(self, h, method, path, query, body, *, truncate):  # type: ignore[no-untyped-def]
            send(h, 403, b"expired link")

    cdn = Forbidden()
    with serve(cdn) as cdn_base:
        store = FakeRestStore(items(1), files_origin=cdn_base)
        with serve(store) as base:
            ad, _ = rest(rest_config(base))
            with ad:
                v = list(ad.list_apps())[0]
                d = tmp_path / "d"
                d.mkdir()
                with pytest.raises(FetchError, match="HTTP 403") as ei:
                    ad.fetch(v, d)
                assert not isinstance(ei.value, AuthError)

"""``rest``: an in-house store backend with a JSON REST API, described in YAML instead of code.

Every store's API differs in paths, paging and field names, so they are configuration::

    base_url: https://store.internal/api/v1/
    auth: {header: Authorization, env: STORE_TOKEN, prefix: "Bearer "}   # the token never sits in the file
    timeout: 10            # seconds, connect and each read
    retries: 4             # extra attempts on timeouts, connection errors, 429 and 5xx
    backoff: 0.5           # first wait in seconds, doubling; a Retry-After header wins
    channel: submission    # for items that do not say
    list:
      path: submissions                # relative to base_url
      params: {state: pending}
      items: data                      # where the list sits in each page ("" = the page is the list)
      since_param: updated_since       # sent as ISO 8601 with --since
      pagination: {style: page, page_param: page, size_param: per_page, size: 50, start: 1}
      # or: {style: next, next: links.next}   (a dotted path, or "link" for a Link: rel="next" header)
    fields:                            # dotted paths inside one item (these are the defaults)
      id: id
      app_id: app_id
      version: version
      version_code: version_code
      sha256: sha256
      size: size
      artifact: artifact_url           # absolute, or relative to base_url
      updated: updated_at
      channel: channel
      meta: meta                       # a mapping of submission metadata (DESIGN.md)
      app_name: name
      developer: developer
    fetch: {path: "submissions/{id}/artifact"}   # used when an item has no artifact URL
    push: {path: "submissions/{id}/decision", method: POST}

Path templates take ``{id}``, ``{app_id}``, ``{version}``, ``{sha256}``, ``{scan_id}``, ``{action}``
(URL-quoted). Pushes carry the decision as JSON and an ``Idempotency-Key`` header (the delivery id); a
2xx or a 409 (the store already has that delivery) counts as delivered.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from filings.meta import Channel, MetaError, SubmissionMeta, parse_meta
from store_adapters.base import (
    MAX_ARTIFACT_BYTES,
    AdapterError,
    ConfigError,
    DecisionRecord,
    FetchError,
    ListedVersion,
    PushError,
    StoreAdapter,
    check_keys,
    lookup,
    parse_when,
)
from store_adapters.http import Http, HttpPolicy, origin

log = logging.getLogger(__name__)

CONFIG_KEYS = frozenset({
    "base_url", "auth", "timeout", "retries", "backoff", "max_backoff", "max_retry_after", "max_bytes",
    "channel", "require_sha256", "list", "fields", "fetch", "push",
})
_AUTH_KEYS = frozenset({"header", "env", "prefix"})
_LIST_KEYS = frozenset({"path", "params", "items", "since_param", "pagination"})
_PAGE_KEYS = frozenset({"style", "page_param", "size_param", "size", "start", "next", "max_pages"})
_FETCH_KEYS = frozenset({"path"})
_PUSH_KEYS = frozenset({"path", "method", "idempotency_header", "duplicate_status"})
DEFAULT_FIELDS: Mapping[str, str] = {
    "id": "id", "app_id": "app_id", "version": "version", "version_code": "version_code", "sha256": "sha256",
    "size": "size", "artifact": "artifact_url", "updated": "updated_at", "channel": "channel", "meta": "meta",
    "app_name": "name", "developer": "developer",
}
_TEMPLATE_NAMES = frozenset({"id", "app_id", "version", "sha256", "scan_id", "action", "key"})
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _section(cfg: Mapping[str, Any], name: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    sec = cfg.get(name) or {}
    if not isinstance(sec, Mapping):
        raise ConfigError(f"rest: {name} must be a mapping / {name} 应为对象")
    check_keys(sec, allowed, f"rest.{name}")
    return sec


def _template(path: str, where: str) -> str:
    for name in _PLACEHOLDER.findall(path):
        if name not in _TEMPLATE_NAMES:
            raise ConfigError(
                f"rest: {where}: unknown placeholder {{{name}}}; "
                f"known: {', '.join(sorted(_TEMPLATE_NAMES))} / 未知占位符"
            )
    return path


def _fill(path: str, values: Mapping[str, Any]) -> str:
    return _PLACEHOLDER.sub(lambda m: quote(str(values.get(m.group(1)) or ""), safe=""), path)


class RestAdapter(StoreAdapter):
    """A JSON REST store backend configured in YAML."""

    name = "rest"

    def __init__(self, cfg: Mapping[str, Any], url: str | None = None) -> None:
        check_keys(cfg, CONFIG_KEYS, self.name)
        base = url or cfg.get("base_url")
        if not isinstance(base, str) or urlsplit(base).scheme.lower() not in ("http", "https"):
            raise ConfigError("rest: base_url (or --url) must be an http(s) URL / base_url 应为 http(s) 地址")
        self.base = base if base.endswith("/") else base + "/"
        try:
            self.policy = HttpPolicy.from_config(cfg)
        except AdapterError as exc:
            raise ConfigError(f"rest: {exc}") from None
        self.max_bytes = cfg.get("max_bytes", MAX_ARTIFACT_BYTES)
        if isinstance(self.max_bytes, bool) or not isinstance(self.max_bytes, int) or self.max_bytes <= 0:
            raise ConfigError("rest: max_bytes must be a positive integer / max_bytes 无效")
        try:
            self.default_channel = Channel(cfg.get("channel", "submission"))
        except ValueError:
            raise ConfigError("rest: channel must be submission or listed / channel 应为 submission 或 listed") \
                from None
        self.require_sha256 = bool(cfg.get("require_sha256", True))
        self.list_cfg = _section(cfg, "list", _LIST_KEYS)
        self.page_cfg = self.list_cfg.get("pagination") or {}
        if not isinstance(self.page_cfg, Mapping):
            raise ConfigError("rest: list.pagination must be a mapping / pagination 应为对象")
        check_keys(self.page_cfg, _PAGE_KEYS, "rest.list.pagination")
        self.style = str(self.page_cfg.get("style", "none"))
        if self.style not in ("none", "page", "next"):
            raise ConfigError(f"rest: pagination style must be none, page or next, got {self.style!r} / 分页方式无效")
        for key in ("size", "start", "max_pages"):
            v = self.page_cfg.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < (0 if key == "start" else 1)):
                raise ConfigError(f"rest: list.pagination.{key} must be a positive integer, got {v!r} / 分页配置无效")
        fields = cfg.get("fields") or {}
        if not isinstance(fields, Mapping):
            raise ConfigError("rest: fields must be a mapping / fields 应为对象")
        check_keys(fields, frozenset(DEFAULT_FIELDS), "rest.fields")
        self.fields = {**DEFAULT_FIELDS, **{str(k): str(v) for k, v in fields.items()}}
        fetch = _section(cfg, "fetch", _FETCH_KEYS)
        self.fetch_path = _template(str(fetch["path"]), "fetch.path") if fetch.get("path") else None
        push = _section(cfg, "push", _PUSH_KEYS)
        self.push_path = _template(str(push.get("path", "decisions")), "push.path")
        self.push_method = str(push.get("method", "POST")).upper()
        if self.push_method not in ("POST", "PUT", "PATCH"):
            raise ConfigError("rest: push.method must be POST, PUT or PATCH / push.method 无效")
        self.idem_header = str(push.get("idempotency_header", "Idempotency-Key"))
        dup = push.get("duplicate_status", [409])
        if not isinstance(dup, list) or not all(isinstance(x, int) for x in dup):
            raise ConfigError("rest: push.duplicate_status must be a list of HTTP statuses / 应为状态码列表")
        self.duplicate_status = frozenset(dup)
        self.http = Http(self.policy, auth_headers=self._auth(cfg), auth_origin=self.base)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], url: str | None = None) -> RestAdapter:
        """Build from the YAML mapping; ``--url`` overrides ``base_url``."""
        return cls(cfg, url)

    @staticmethod
    def _auth(cfg: Mapping[str, Any]) -> dict[str, str]:
        """The credential header, from the environment variable the config names (never from the file)."""
        auth = _section(cfg, "auth", _AUTH_KEYS)
        if not auth:
            return {}
        header, env = auth.get("header"), auth.get("env")
        if not isinstance(header, str) or not isinstance(env, str) or not header or not env:
            raise ConfigError("rest: auth needs header and env / auth 需要 header 与 env")
        token = os.environ.get(env, "")
        if not token:
            raise ConfigError(f"rest: environment variable {env} (the API token) is not set / 环境变量 {env} 未设置")
        return {header: f"{auth.get('prefix') or ''}{token}"}

    @property
    def source(self) -> str:
        return self.base

    @property
    def target(self) -> str:
        return urljoin(self.base, self.push_path)

    def close(self) -> None:
        self.http.close()

    # -- listing --------------------------------------------------------------------------------------------

    def _pages(self, since: datetime | None) -> Iterable[list[Any]]:
        """Item lists, page by page, per the configured pagination style."""
        url = urljoin(self.base, str(self.list_cfg.get("path", "")))
        params: dict[str, Any] = dict(self.list_cfg.get("params") or {})
        if since is not None and self.list_cfg.get("since_param"):
            params[str(self.list_cfg["since_param"])] = since.isoformat()
        max_pages = int(self.page_cfg.get("max_pages", 10_000))
        if self.style == "page":
            page_param = str(self.page_cfg.get("page_param", "page"))
            size = self.page_cfg.get("size")
            if size is not None and self.page_cfg.get("size_param"):
                params[str(self.page_cfg["size_param"])] = size
            page = int(self.page_cfg.get("start", 1))
            for _ in range(max_pages):
                items = self._items(self.http.get_json(url, params={**params, page_param: page})[0], url)
                if not items:
                    return
                yield items
                if isinstance(size, int) and len(items) < size:
                    return
                page += 1
            raise AdapterError(f"{url}: more than {max_pages} pages; stopping / 分页过多")
        seen: set[str] = set()
        next_url: str | None = url
        first = True
        while next_url:
            if next_url in seen or len(seen) >= max_pages:
                raise AdapterError(f"{url}: pagination loops or exceeds {max_pages} pages / 分页循环或过多")
            seen.add(next_url)
            data, resp = self.http.get_json(next_url, params=params if first else None)
            first = False
            yield self._items(data, next_url)
            if self.style != "next":
                return
            spec = str(self.page_cfg.get("next", "next"))
            nxt = resp.links.get("next", {}).get("url") if spec == "link" else lookup(data, spec)
            if not nxt:
                return
            if not isinstance(nxt, str):
                raise AdapterError(f"{next_url}: next link is not a string / 下一页链接无效")
            nxt = urljoin(next_url, nxt)
            if origin(nxt) != origin(self.base):
                raise AdapterError(f"{next_url}: next link leaves the store ({origin(nxt)[1]}); refused / 拒绝跨站分页")
            next_url = nxt

    def _items(self, data: Any, where: str) -> list[Any]:
        items = lookup(data, str(self.list_cfg["items"])) if self.list_cfg.get("items") else data
        if items is None:
            items = []
        if not isinstance(items, list):
            raise AdapterError(f"{where}: items ({self.list_cfg.get('items') or 'page'}) is not a list / 列表格式错误")
        return items

    def list_apps(self, since: datetime | None = None) -> Iterable[ListedVersion]:
        """Every item of every page, mapped through ``fields``; filtered by ``since`` on the client too."""
        for page in self._pages(since):
            for item in page:
                lv = self._listed(item)
                if since is not None and lv.updated is not None and lv.updated < since:
                    continue
                yield lv

    def _field(self, item: Any, name: str) -> Any:
        return lookup(item, self.fields.get(name))

    def _listed(self, item: Any) -> ListedVersion:
        problems: list[str] = []
        if not isinstance(item, Mapping):
            item = {}
            problems.append("item is not an object / 条目不是对象")
        ident = self._field(item, "id")
        app_id = self._field(item, "app_id")
        if not isinstance(app_id, str) or not app_id.strip():
            problems.append(f"no app id ({self.fields['app_id']}) / 缺少应用标识")
            app_id = f"(unknown {ident})" if ident is not None else "(unknown)"
        version = self._field(item, "version")
        version = str(version) if isinstance(version, (str, int, float)) and not isinstance(version, bool) else None
        sha = self._field(item, "sha256")
        if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdefABCDEF" for c in sha)):
            sha = None
            if self.require_sha256:
                problems.append("no valid sha256; refusing to scan unverified bytes / 缺少有效 sha256，拒绝扫描")
        size = self._field(item, "size")
        size = size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None
        code = self._field(item, "version_code")
        code = code if isinstance(code, int) and not isinstance(code, bool) else None
        raw_meta = self._field(item, "meta")
        meta = SubmissionMeta()
        try:
            meta = parse_meta(raw_meta) if raw_meta is not None else SubmissionMeta()
        except MetaError as exc:
            problems.append(f"metadata: {exc}")
        channel = meta.channel
        ch = self._field(item, "channel")
        if channel is None and ch is not None:
            try:
                channel = Channel(ch)
            except ValueError:
                problems.append(f"channel {ch!r} is not submission or listed / channel 无效")
        channel = channel or self.default_channel
        name, dev = self._field(item, "app_name"), self._field(item, "developer")
        meta = replace(
            meta, channel=channel, app_id=meta.app_id or app_id,
            app_name=meta.app_name or (name.strip() if isinstance(name, str) and name.strip() else None),
            developer=meta.developer or (dev.strip() if isinstance(dev, str) and dev.strip() else None),
        )
        values = {"id": ident, "app_id": app_id, "version": version, "sha256": sha}
        art = self._field(item, "artifact")
        if isinstance(art, str) and art.strip():
            artifact = urljoin(self.base, art.strip())
        elif self.fetch_path:
            artifact = urljoin(self.base, _fill(self.fetch_path, values))
        else:
            artifact = ""
            problems.append("no artifact URL and no fetch.path / 缺少下载地址")
        if artifact and urlsplit(artifact).scheme.lower() not in ("http", "https"):
            problems.append("artifact URL is not http(s) / 下载地址无效")
        extra: list[tuple[str, str]] = [("id", str(ident) if ident is not None else "")]
        if problems:
            extra.append(("refuse", f"{app_id} {version or ''}: " + "; ".join(problems)))
        return ListedVersion(
            adapter=self.name, app_id=app_id, version=version, artifact=artifact,
            sha256=sha.lower() if sha else None, meta=meta, channel=channel, size=size, version_code=code,
            updated=parse_when(self._field(item, "updated")), key=str(ident) if ident is not None else "",
            extra=tuple(extra),
        )

    # -- fetching -------------------------------------------------------------------------------------------

    def fetch(self, version: ListedVersion, dest_dir: Path) -> Path:
        """Download the artifact (token only to the store's own origin) and verify it before anything reads it."""
        problem = version.get("refuse")
        if problem:
            raise FetchError(problem)
        base = PurePosixPath(urlsplit(version.artifact).path).name
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in base)[:120].lstrip(".") or "artifact.apk"
        return self.http.download(version.artifact, dest_dir / safe, sha256=version.sha256, size=version.size,
                                  max_bytes=self.max_bytes, label=f"{version.label} ({safe})")

    # -- decisions ------------------------------------------------------------------------------------------

    def push(self, record: DecisionRecord) -> None:
        """Send the decision as JSON with an idempotency key; 2xx or a duplicate status means delivered."""
        values = {"id": record.key, "key": record.key, "app_id": record.app_id, "version": record.version,
                  "sha256": record.sha256, "scan_id": record.scan_id, "action": record.action}
        url = urljoin(self.base, _fill(self.push_path, values))
        try:
            resp = self.http.request(self.push_method, url, json_body=record.to_json(),
                                     headers={self.idem_header: record.delivery_id})
        except AdapterError as exc:
            if type(exc) is AdapterError:
                raise PushError(str(exc)) from None
            raise  # AuthError: the caller stops the whole push
        with resp:
            if 200 <= resp.status_code < 300 or resp.status_code in self.duplicate_status:
                return
            raise PushError(f"{self.push_method} {urlsplit(url).path}: HTTP {resp.status_code} / 推送失败")

"""HTTP for adapters (requests): timeouts on every call, bounded retries with backoff, verified downloads.

Stores throttle (429) and have bad minutes (5xx); a sync over thousands of versions must ride those out
without hammering the store, so retries back off exponentially and honour ``Retry-After``. A credential
header is sent only to the store's own origin: redirects are followed by hand so a CDN never sees the token
(requests strips ``Authorization`` on a cross-host redirect but not custom headers such as ``X-Api-Key``).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from store_adapters.base import MAX_ARTIFACT_BYTES, AdapterError, AuthError, FetchError, check_digest
from synthreview import __version__

log = logging.getLogger(__name__)

#: Statuses worth retrying: throttling and transient server trouble.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

#: Largest JSON document (index, listing page) we read into memory; F-Droid's main index-v2 is ~30 MB.
MAX_JSON_BYTES = 256 << 20

_CHUNK = 1 << 16
_MAX_REDIRECTS = 5


@dataclass(frozen=True)
class HttpPolicy:
    """Timeouts and retry schedule; tests shrink these through adapter config to stay fast."""

    timeout: float = 30.0  # seconds, for connect and for each read
    retries: int = 4  # extra attempts after the first
    backoff: float = 0.5  # first wait; doubles each retry
    max_backoff: float = 30.0
    max_retry_after: float = 300.0  # a longer Retry-After means "not now": give up, stay pending

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> HttpPolicy:
        """Read ``timeout``, ``retries``, ``backoff``, ``max_backoff``, ``max_retry_after`` from adapter config."""
        base = cls()
        kw: dict[str, Any] = {}
        for name in ("timeout", "backoff", "max_backoff", "max_retry_after"):
            if cfg.get(name) is not None:
                kw[name] = _number(cfg[name], name)
        if cfg.get("retries") is not None:
            kw["retries"] = int(_number(cfg["retries"], "retries"))
        out = cls(**{**base.__dict__, **kw})
        if out.timeout <= 0 or out.retries < 0 or out.backoff < 0:
            raise AdapterError("timeout must be > 0, retries and backoff >= 0 / 超时与重试配置无效")
        return out


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AdapterError(f"{name}: expected a number, got {value!r} / 应为数字")
    return float(value)


class HttpStatusError(AdapterError):
    """A final non-2xx answer (after retries), with its status for callers that treat 404 or 409 specially."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None if absent or garbled."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def origin(url: str) -> tuple[str, str]:
    """(scheme, host:port) — what decides whether credentials may go along."""
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class Http:
    """A requests session with the retry policy, and credentials pinned to one origin."""

    def __init__(
        self,
        policy: HttpPolicy,
        *,
        auth_headers: Mapping[str, str] | None = None,
        auth_origin: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"synthreview/{__version__}"
        self.session.trust_env = False  # no proxies from the environment for a store we were pointed at
        self._auth = dict(auth_headers or {})
        self._auth_origin = origin(auth_origin) if auth_origin else None
        self.sleep = sleep  # replaceable so tests can observe waits without sleeping through them

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    def _wait(self, attempt: int, resp: requests.Response | None) -> float:
        ra = retry_after_seconds(resp.headers.get("Retry-After")) if resp is not None else None
        expo = min(self.policy.backoff * (2**attempt), self.policy.max_backoff)
        return expo if ra is None else max(ra, 0.0)

    def request(
        self,
        method: str,
        url: str,
        *,
        stream: bool = False,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One logical request: retried on connection errors, timeouts, 429 and 5xx.

        401/403 on a request that carried our credentials → :class:`AuthError` (a person must fix the token);
        any other status is returned for the caller to judge.
        """
        last = ""
        for attempt in range(self.policy.retries + 1):
            resp: requests.Response | None = None
            try:
                resp, with_auth = self._send(method, url, stream=stream, json_body=json_body, params=params,
                                             headers=headers)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{type(exc).__name__}: {exc}"
            except requests.RequestException as exc:  # a malformed URL and the like: retrying cannot help
                raise AdapterError(f"{method} {_redact(url)}: {type(exc).__name__}: {exc} / 请求无效") from None
            else:
                if resp.status_code in (401, 403) and with_auth:
                    resp.close()
                    raise AuthError(
                        f"{method} {_redact(url)}: HTTP {resp.status_code}: the store refused the credentials; "
                        "check the token / 商店拒绝认证，请检查令牌"
                    )
                if resp.status_code not in RETRY_STATUSES:
                    return resp
                last = f"HTTP {resp.status_code}"
                resp.close()
            if attempt == self.policy.retries:
                break
            wait = self._wait(attempt, resp)
            if wait > self.policy.max_retry_after:
                raise AdapterError(
                    f"{method} {_redact(url)}: {last}; the store asks to wait {wait:.0f} s "
                    f"(> {self.policy.max_retry_after:.0f} s), giving up for now / 商店要求稍后重试"
                )
            log.info("%s %s: %s; retry %d/%d in %.2f s", method, _redact(url), last, attempt + 1,
                     self.policy.retries, wait)
            self.sleep(wait)
        raise AdapterError(
            f"{method} {_redact(url)}: {last} after {self.policy.retries + 1} attempts / 多次重试后仍失败"
        )

    def _send(
        self,
        method: str,
        url: str,
        *,
        stream: bool,
        json_body: Any,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> tuple[requests.Response, bool]:
        """Send, following redirects by hand so credentials never leave the store's origin.

        Returns the final response and whether it was sent with credentials.
        """
        for _ in range(_MAX_REDIRECTS + 1):
            hdrs = dict(headers or {})
            with_auth = bool(self._auth) and (self._auth_origin is None or origin(url) == self._auth_origin)
            if with_auth:
                hdrs.update(self._auth)
            resp = self.session.request(
                method, url, params=params, json=json_body, headers=hdrs, stream=stream,
                timeout=(self.policy.timeout, self.policy.timeout), allow_redirects=False,
            )
            if resp.status_code in (301, 302, 303, 307, 308) and resp.headers.get("Location"):
                nxt = urljoin(url, resp.headers["Location"])
                resp.close()
                if urlsplit(nxt).scheme not in ("http", "https"):
                    raise AdapterError(f"{_redact(url)}: redirect to a non-HTTP URL refused / 拒绝非 HTTP 重定向")
                if resp.status_code == 303:
                    method, json_body = "GET", None
                url, params = nxt, None
                continue
            return resp, with_auth
        raise AdapterError(f"{_redact(url)}: more than {_MAX_REDIRECTS} redirects / 重定向过多")

    def get_bytes(self, url: str, *, params: Mapping[str, Any] | None = None,
                  max_bytes: int = MAX_JSON_BYTES) -> tuple[bytes, requests.Response]:
        """GET a document into memory (bounded); non-2xx → :class:`HttpStatusError`."""
        resp = self.request("GET", url, params=params, stream=True)
        with resp:
            if not 200 <= resp.status_code < 300:
                raise HttpStatusError(
                    f"GET {_redact(resp.url or url)}: HTTP {resp.status_code} / 请求失败", resp.status_code
                )
            buf = bytearray()
            try:
                for chunk in resp.iter_content(_CHUNK):
                    buf += chunk
                    if len(buf) > max_bytes:
                        raise AdapterError(f"GET {_redact(url)}: response larger than {max_bytes} bytes / 响应过大")
            except requests.RequestException as exc:
                raise AdapterError(f"GET {_redact(url)}: connection broke: {type(exc).__name__} / 连接中断") from None
        return bytes(buf), resp

    def get_json(self, url: str, *, params: Mapping[str, Any] | None = None,
                 max_bytes: int = MAX_JSON_BYTES) -> tuple[Any, requests.Response]:
        """GET a JSON document (bounded size). Returns (data, response) so callers can read headers."""
        raw, resp = self.get_bytes(url, params=params, max_bytes=max_bytes)
        return parse_json(raw, _redact(url)), resp

    def download(
        self,
        url: str,
        dest: Path,
        *,
        sha256: str | None,
        size: int | None = None,
        max_bytes: int = MAX_ARTIFACT_BYTES,
        label: str = "",
    ) -> Path:
        """Stream ``url`` into ``dest`` (via ``dest.part``), then check size and sha256; refuse on any mismatch.

        A refused download leaves nothing behind, so nothing unverified can be scanned.
        """
        label = label or _redact(url)
        tmp = dest.with_name(dest.name + ".part")
        try:
            resp = self.request("GET", url, stream=True)
        except AuthError:
            raise
        except AdapterError as exc:
            raise FetchError(f"{label}: download failed: {exc}") from None
        try:
            with resp:
                if not 200 <= resp.status_code < 300:
                    raise FetchError(f"{label}: download failed: HTTP {resp.status_code} / 下载失败")
                declared = resp.headers.get("Content-Length")
                plain = not resp.headers.get("Content-Encoding")
                if declared and declared.isdigit() and int(declared) > max_bytes and plain:
                    raise FetchError(f"{label}: {declared} bytes exceeds the {max_bytes}-byte cap / 超过大小上限")
                h = hashlib.sha256()
                n = 0
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as out:
                    try:
                        for chunk in resp.iter_content(_CHUNK):
                            n += len(chunk)
                            if n > max_bytes:
                                raise FetchError(f"{label}: larger than the {max_bytes}-byte cap / 超过大小上限")
                            h.update(chunk)
                            out.write(chunk)
                    except requests.RequestException as exc:
                        raise FetchError(
                            f"{label}: truncated download after {n} bytes ({type(exc).__name__}) / 下载不完整"
                        ) from None
                if declared and declared.isdigit() and plain and n < int(declared):
                    raise FetchError(f"{label}: truncated download: {n} of {declared} bytes / 下载不完整")
            check_digest(h.hexdigest(), n, sha256=sha256, size=size, label=label)
            os.replace(tmp, dest)
            return dest
        except OSError as exc:  # disk full, unwritable temp dir: this artifact cannot be taken now
            raise FetchError(f"{label}: cannot store the download: {exc.strerror or exc} / 无法保存下载文件",
                             transient=True) from None
        finally:
            if tmp.exists():
                tmp.unlink()


def parse_json(raw: bytes, where: str) -> Any:
    """Decode a JSON document or raise :class:`AdapterError` saying where it came from."""
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdapterError(f"{where}: not JSON: {exc} / 内容不是 JSON") from None


def _redact(url: str) -> str:
    """A URL without its query string (tokens sometimes ride there) for messages and logs."""
    parts = urlsplit(url)
    return parts._replace(query="", fragment="").geturl()

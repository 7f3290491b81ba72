"""The signed HTTP webhook (DESIGN.md "Webhook"): ``POST /scan`` → JSON report, ``GET /healthz``.

Why stdlib ``http.server``: one endpoint, one content type, no routing or templating — a framework would
add dependencies and moving parts without removing any of the checks below, which have to be written
either way. Why the ``email`` parser for multipart: ``cgi`` is deprecated (PEP 594) and the ``email``
package is the stdlib's maintained MIME parser; it only ever sees a body whose signature was already
verified, so an unauthenticated client cannot reach it. Its cost is memory (about 11x the body while
parsing), which is why bodies are capped (``max_bytes``) and only ``max_pending`` are buffered at once.

Order of checks, cheapest and least trusting first, all before the body is parsed:
framing (Content-Length present, no chunking, within ``max_bytes``) → signature headers present →
timestamp fresh → read the body → HMAC over the *raw* body (constant time) → parse multipart → scan in
a bounded pool of ``workers``. The secret is never logged or echoed; the log line per request carries
only the request id, status, size, duration and the artifact's sha256.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from email import policy as email_policy
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from filings.meta import MetaError, SubmissionMeta, meta_from_text
from synthreview import __version__

if TYPE_CHECKING:  # the pipeline loads rules, lief and androguard: import it when serving, not for `--help`
    from reports.model import ScanResult
    from synthreview.pipeline import Context

__all__ = [
    "SECRET_ENV",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "MAX_SKEW_SECONDS",
    "DEFAULT_MAX_BYTES",
    "HttpError",
    "Upload",
    "WebhookServer",
    "make_server",
    "parse_form",
    "sign",
    "signed_headers",
    "verify_signature",
]

log = logging.getLogger("synthreview.webhook")

SECRET_ENV = "SYNTHREVIEW_WEBHOOK_SECRET"
SIGNATURE_HEADER = "X-Synthreview-Signature"
TIMESTAMP_HEADER = "X-Synthreview-Timestamp"
#: Requests signed further than this from our clock (either direction) are refused as stale (DESIGN.md).
MAX_SKEW_SECONDS = 300
#: Default body cap: the classic store APK size limit; parsing costs ~11x this in memory per request.
DEFAULT_MAX_BYTES = 100 * 1024**2
#: Early refusals (413/401 before reading) still drain this much of a small body, so the client can read
#: the answer instead of getting a TCP reset for the unread bytes.
_DRAIN_MAX = 1024**2
_SIG_RE = re.compile(r"sha256=([0-9a-fA-F]{64})")
_TS_RE = re.compile(r"[0-9]{1,12}")
_IDENTITY_CTE = frozenset({"", "binary", "8bit", "7bit"})
_FIELDS = frozenset({"artifact", "meta"})

Recorder = Callable[["ScanResult"], None]


# --- client side (pipelines, tests, README) ------------------------------------------------------------


class _Secret:
    """The HMAC key behind a redacting repr, so debug dumps (``vars(server)``, tracebacks with locals) hide it."""

    __slots__ = ("key",)

    def __init__(self, key: bytes) -> None:
        self.key = key

    def __repr__(self) -> str:
        return "<secret redacted>"


def _key(secret: str | bytes | _Secret) -> bytes:
    if isinstance(secret, _Secret):
        return secret.key
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def sign(body: bytes, secret: str | bytes, ts: int | str) -> str:
    """The ``X-Synthreview-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of ``b"<ts>." + body``."""
    mac = hmac.new(_key(secret), str(ts).encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(body: bytes, secret: str | bytes, ts: int | None = None) -> dict[str, str]:
    """Both signing headers for ``body`` (``ts`` defaults to now) — add them to a prepared request."""
    ts = int(time.time()) if ts is None else ts
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(body, secret, ts)}


# --- request checks (pure, so they are testable without a socket) --------------------------------------


class HttpError(Exception):
    """A refusal with its HTTP status and a bilingual message (becomes ``{"error", "zh"}``)."""

    def __init__(self, status: int, en: str, zh: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(en)
        self.status = status
        self.en = en
        self.zh = zh
        self.headers = headers or {}


def check_timestamp(ts_header: str | None, now: float, max_skew: int = MAX_SKEW_SECONDS) -> str:
    """The timestamp header as sent (it is part of the signed text), refused when missing, malformed or stale."""
    if not ts_header:
        raise HttpError(401, f"missing {TIMESTAMP_HEADER} header", f"缺少 {TIMESTAMP_HEADER} 请求头")
    ts = ts_header.strip()
    if not _TS_RE.fullmatch(ts):
        raise HttpError(401, f"{TIMESTAMP_HEADER} must be unix seconds", f"{TIMESTAMP_HEADER} 应为 Unix 秒数")
    if abs(now - int(ts)) > max_skew:
        raise HttpError(401, f"stale timestamp: more than {max_skew} s from server time",
                        f"时间戳已过期：与服务器时间相差超过 {max_skew} 秒")
    return ts


def check_signature_header(sig_header: str | None) -> str:
    """The hex digest from ``sha256=<hex>`` (format only; the value is checked by :func:`verify_signature`)."""
    if not sig_header:
        raise HttpError(401, f"missing {SIGNATURE_HEADER} header", f"缺少 {SIGNATURE_HEADER} 请求头")
    m = _SIG_RE.fullmatch(sig_header.strip())
    if not m:
        raise HttpError(401, f"{SIGNATURE_HEADER} must be sha256=<64 hex digits>",
                        f"{SIGNATURE_HEADER} 格式应为 sha256=<64 位十六进制>")
    return m.group(1).lower()


def verify_signature(secret: str | bytes | _Secret, ts: str, digest_hex: str, body: bytes | bytearray) -> None:
    """Constant-time check of the HMAC over the raw body; raise 401 on mismatch."""
    expected = hmac.new(_key(secret), ts.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), digest_hex.encode("ascii")):
        raise HttpError(401, "signature does not match", "签名校验失败")


@dataclass(frozen=True)
class Upload:
    """What a valid ``POST /scan`` carries."""

    name: str  # sanitised client file name: the locator root in the report
    data: bytes
    meta: SubmissionMeta | None


def _bad(en: str, zh: str) -> HttpError:
    return HttpError(400, en, zh)


def _safe_name(filename: str | None) -> str:
    """Client file names become locators: keep the base name, drop control chars and the ``!`` nesting mark."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).replace("!", "_").strip()
    if name in ("", ".", ".."):
        return "artifact"
    return name[:200]


def _defect_names(msg: Message) -> str:
    return ", ".join(type(d).__name__ for d in msg.defects)


def parse_form(content_type: str | None, body: bytes | bytearray) -> Upload:
    """Parse a ``multipart/form-data`` body with the stdlib ``email`` parser; anything off is a 400.

    Fail closed, like ``filings.meta``: unknown or duplicate fields, nested multiparts, transfer encodings
    and parser defects are refused rather than skipped, so a typo cannot silently drop the metadata.
    """
    if not content_type:
        raise _bad("missing Content-Type: send multipart/form-data", "缺少 Content-Type：应为 multipart/form-data")
    if "\r" in content_type or "\n" in content_type:
        raise _bad("malformed Content-Type header", "Content-Type 请求头格式错误")
    try:
        head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    except UnicodeEncodeError:
        raise _bad("malformed Content-Type header", "Content-Type 请求头格式错误") from None
    msg = BytesParser(policy=email_policy.HTTP).parsebytes(head + body)
    if msg.get_content_type() != "multipart/form-data":
        raise _bad(f"Content-Type must be multipart/form-data, got {msg.get_content_type()}",
                   "Content-Type 应为 multipart/form-data")
    if not msg.get_boundary():
        raise _bad("multipart Content-Type has no boundary", "multipart 的 Content-Type 缺少 boundary")
    if msg.defects or not msg.is_multipart():
        raise _bad(f"malformed multipart body ({_defect_names(msg) or 'no parts'})",
                   f"multipart 请求体格式错误（{_defect_names(msg) or '无内容'}）")
    artifact: tuple[str, bytes] | None = None
    meta: SubmissionMeta | None = None
    seen: set[str] = set()
    for part in msg.iter_parts():
        if part.defects:
            raise _bad(f"malformed multipart part ({_defect_names(part)})",
                       f"multipart 分段格式错误（{_defect_names(part)}）")
        if part.is_multipart() or part.get_content_maintype() in ("multipart", "message"):
            raise _bad("nested multipart/message parts are not accepted", "不接受嵌套的 multipart/message 分段")
        if part.get_content_disposition() != "form-data":
            raise _bad("every part needs Content-Disposition: form-data", "每个分段都需要 Content-Disposition: form-data")
        raw_name = part.get_param("name", header="content-disposition")
        name = collapse_rfc2231_value(raw_name) if raw_name is not None else ""
        if name not in _FIELDS:
            raise _bad(f"unknown form field {name!r}; expected artifact and optional meta",
                       f"未知表单字段 {name!r}；应为 artifact 和可选的 meta")
        if name in seen:
            raise _bad(f"form field {name!r} given more than once", f"表单字段 {name!r} 重复")
        seen.add(name)
        cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if cte not in _IDENTITY_CTE:
            raise _bad(f"Content-Transfer-Encoding {cte!r} is not accepted; send the bytes as they are",
                       f"不接受 Content-Transfer-Encoding {cte!r}；请直接发送原始字节")
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):  # pragma: no cover - guarded by the checks above
            raise _bad("unreadable part", "无法读取的分段")
        if name == "artifact":
            if not payload:
                raise _bad("the artifact part is empty", "artifact 分段为空")
            artifact = (_safe_name(part.get_filename()), payload)
        else:
            try:
                meta = meta_from_text(payload)
            except MetaError as exc:
                raise _bad(f"bad submission metadata: {exc}", f"提交元数据无效：{exc}") from None
            except RecursionError:  # deeply nested JSON/YAML escapes meta_from_text as RecursionError
                raise _bad("bad submission metadata: nested too deeply", "提交元数据无效：嵌套过深") from None
    if artifact is None:
        raise _bad("no 'artifact' part: send the file as form field 'artifact'",
                   "缺少 artifact 分段：请以表单字段 artifact 上传文件")
    return Upload(artifact[0], artifact[1], meta)


# --- server ----------------------------------------------------------------------------------------------


class WebhookServer(ThreadingHTTPServer):
    """A threading HTTP server that scans in a bounded pool and buffers a bounded number of bodies.

    One thread per connection (stdlib), but only ``max_pending`` requests may hold a body in memory and
    only ``workers`` may scan at once; a request that cannot get a place within ``queue_timeout`` is
    answered 503 with ``Retry-After``. Handler threads are joined on close so in-flight scans finish.
    """

    daemon_threads = False
    block_on_close = True
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        secret: str | bytes,
        ctx: Context,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        workers: int = 2,
        queue_timeout: float = 30.0,
        max_pending: int | None = None,
        recorder: Recorder | None = None,
        read_timeout: float = 30.0,
        max_skew: int = MAX_SKEW_SECONDS,
    ) -> None:
        if not secret:
            raise ValueError(f"an empty webhook secret is not allowed (${SECRET_ENV})")
        if workers < 1 or max_bytes < 1 or (max_pending is not None and max_pending < 1):
            raise ValueError("workers, max_bytes and max_pending must be positive")
        self._secret = _Secret(_key(secret))
        self.ctx = ctx
        self.max_bytes = max_bytes
        self.workers = workers
        self.queue_timeout = queue_timeout
        self.max_pending = max_pending or 2 * workers
        self.recorder = recorder
        self.read_timeout = read_timeout
        self.max_skew = max_skew
        self._slots = threading.BoundedSemaphore(workers)
        self._pending = threading.BoundedSemaphore(self.max_pending)
        self._record_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def __repr__(self) -> str:  # never show the secret, even by accident in a debugger or log
        return f"<WebhookServer {self.server_address!r} workers={self.workers} max_bytes={self.max_bytes}>"

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse-DNS lookup (``getfqdn`` can stall startup for seconds)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    @contextmanager
    def _place(self, sem: threading.BoundedSemaphore, what_en: str, what_zh: str) -> Iterator[None]:
        if not sem.acquire(timeout=self.queue_timeout):
            raise HttpError(503, f"server busy: no free {what_en}, retry later", f"服务器繁忙：没有空闲的{what_zh}，请稍后重试",
                            {"Retry-After": "5"})
        try:
            yield
        finally:
            sem.release()

    def pending_place(self) -> AbstractContextManager[None]:
        """A place to buffer one body (bounds memory: ``max_pending`` × ``max_bytes`` × parse overhead)."""
        return self._place(self._pending, "upload slot", "上传名额")

    def verify(self, ts: str, digest_hex: str, body: bytes | bytearray) -> None:
        """Check the request's HMAC with this server's secret."""
        verify_signature(self._secret, ts, digest_hex, body)

    def scan(self, upload: Upload) -> ScanResult:
        """Scan (and record) one upload in the bounded worker pool."""
        from synthreview.isolation import IsolationLimits, scan_bytes_isolated

        with self._place(self._slots, "scan worker", "扫描工作线程"):
            # Uploads are untrusted: read in a confined worker process, so a crash or memory bomb cannot
            # take the server down (the result is the same as an in-process scan).
            result = scan_bytes_isolated(upload.name, upload.data, upload.meta, self.ctx, IsolationLimits.from_env())
            if self.recorder is not None:
                with self._record_lock:  # one SQLite writer at a time
                    self.recorder(result)
        return result


class _Handler(BaseHTTPRequestHandler):
    """HTTP glue: every answer is JSON, every connection closes after one request."""

    server: WebhookServer
    protocol_version = "HTTP/1.1"  # needed for Expect: 100-continue, so we can refuse before the body is sent
    server_version = f"synthreview/{__version__}"

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    # per-request state
    request_id = "-"
    _started = 0.0
    _length: int | None = None
    _body_read = False
    _size = 0
    _sha256 = "-"
    _prechecked: tuple[int, str, str] | None = None

    def setup(self) -> None:
        self.timeout = self.server.read_timeout  # idle timeout per socket read (slow clients)
        super().setup()

    def parse_request(self) -> bool:
        self.request_id = uuid.uuid4().hex[:16]
        self._started = time.monotonic()
        self._length = None
        self._body_read = False
        self._size = 0
        self._sha256 = "-"
        self._prechecked = None
        return super().parse_request()

    # --- logging: our one line per request, nothing else (no headers, no secret) ---

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("request %s: %s", self.request_id, format % args)

    def _log_done(self, status: int) -> None:
        ms = (time.monotonic() - self._started) * 1000 if self._started else 0.0
        log.info("request %s status=%d size=%d duration_ms=%.0f sha256=%s",
                 self.request_id, status, self._size, ms, self._sha256)

    # --- responses ---

    def _send_json(self, status: int, payload: str | dict[str, Any], headers: dict[str, str] | None = None) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False) + "\n"
        data = text.encode("utf-8")
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Request-Id", self.request_id)
        self.send_header("Connection", "close")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()
        self._log_done(status)

    def _send_error(self, exc: HttpError) -> None:
        self._drain()
        try:
            self._send_json(exc.status, {"error": exc.en, "zh": exc.zh, "request_id": self.request_id}, exc.headers)
        except OSError:  # the client went away; nothing left to tell it
            self.close_connection = True
            self._log_done(exc.status)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors raised inside ``http.server`` itself (bad request line, 501 …) are JSON too."""
        zh = {400: "请求格式错误", 404: "未找到", 405: "不允许的方法", 408: "请求超时", 414: "URI 过长",
              431: "请求头过大", 501: "不支持的方法", 505: "不支持的 HTTP 版本"}.get(code, "请求错误")
        en = message or self.responses.get(code, ("error",))[0]
        self._send_error(HttpError(code, en, zh))

    def _drain(self) -> None:
        """Read (and drop) a small unread body so closing the socket does not reset the client's connection."""
        if self._body_read or self._length is None or self._length > _DRAIN_MAX:
            return
        try:
            self.connection.settimeout(1.0)
            self.rfile.read(self._length)
        except OSError:
            pass
        self._body_read = True

    # --- routes ---

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = urlsplit(self.path).path
        if path == "/healthz":
            self._send_json(200, {"status": "ok"})
        elif path == "/scan":
            self._send_error(HttpError(405, "use POST /scan", "请使用 POST /scan", {"Allow": "POST"}))
        else:
            self._send_error(HttpError(404, "not found", "未找到"))

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        try:
            if urlsplit(self.path).path != "/scan":
                if urlsplit(self.path).path == "/healthz":
                    raise HttpError(405, "use GET /healthz", "请使用 GET /healthz", {"Allow": "GET"})
                raise HttpError(404, "not found", "未找到")
            length, ts, digest = self._prechecked or self._precheck()
            with self.server.pending_place():
                body = self._read_body(length)
                self.server.verify(ts, digest, body)  # over the raw body, before any parsing
                upload = parse_form(self.headers.get("Content-Type"), body)
                del body
                self._sha256 = hashlib.sha256(upload.data).hexdigest()
                result = self.server.scan(upload)
            from reports.json_report import render_json

            self._send_json(200, render_json([result]), {"X-Synthreview-Decision": result.decision.action.value})
        except HttpError as exc:
            self._send_error(exc)
        except Exception:  # a bug must answer 500, not drop the connection; the traceback holds no secret
            log.exception("request %s failed", self.request_id)
            self._send_error(HttpError(500, "internal error; the scan was not completed or not recorded",
                                       "内部错误：扫描未完成或未记录"))

    def handle_expect_100(self) -> bool:
        """Refuse oversize or unsigned uploads before the client sends the body (curl sends Expect)."""
        if self.command == "POST" and urlsplit(self.path).path == "/scan":
            try:
                self._prechecked = self._precheck()
            except HttpError as exc:
                self._body_read = True  # the client waits for 100 Continue: there is no body to drain
                self._send_error(exc)
                return False
        return super().handle_expect_100()

    # --- checks ---

    def _precheck(self) -> tuple[int, str, str]:
        """Framing, size and signature headers — everything that can be refused without reading the body."""
        if self.headers.get("Transfer-Encoding") is not None:
            if self.headers.get("Content-Length") is not None:
                raise HttpError(400, "both Transfer-Encoding and Content-Length given",
                                "同时给出了 Transfer-Encoding 和 Content-Length")
            raise HttpError(411, "chunked bodies are not accepted; send Content-Length",
                            "不接受分块传输；请提供 Content-Length")
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            raise HttpError(411, "Content-Length is required", "需要 Content-Length 请求头")
        raw = lengths[0].strip()
        if len(lengths) > 1 or not raw.isdigit() or not raw.isascii() or len(raw) > 18:
            raise HttpError(400, "invalid Content-Length", "Content-Length 无效")
        length = int(raw)
        self._length = length
        self._size = length
        if length > self.server.max_bytes:
            raise HttpError(413, f"body larger than {self.server.max_bytes} bytes",
                            f"请求体超过 {self.server.max_bytes} 字节上限")
        if length == 0:
            raise HttpError(400, "empty body", "请求体为空")
        digest = check_signature_header(self.headers.get(SIGNATURE_HEADER))
        ts = check_timestamp(self.headers.get(TIMESTAMP_HEADER), time.time(), self.server.max_skew)
        return length, ts, digest

    def _read_body(self, length: int) -> bytes:
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            self._body_read = True
            raise HttpError(408, "timed out reading the body", "读取请求体超时") from None
        except OSError:
            self._body_read = True
            raise HttpError(400, "connection broke while reading the body", "读取请求体时连接中断") from None
        self._body_read = True
        if len(body) != length:
            raise HttpError(400, "body shorter than Content-Length", "请求体短于 Content-Length")
        return body


def make_server(
    host: str,
    port: int,
    secret: str | bytes,
    ctx: Context,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    workers: int = 2,
    queue_timeout: float = 30.0,
    max_pending: int | None = None,
    recorder: Recorder | None = None,
    read_timeout: float = 30.0,
) -> WebhookServer:
    """A bound, not yet serving webhook server (port 0 picks a free port: ``server.server_port``).

    Run it with ``serve_forever()`` (tests: in a thread), stop with ``shutdown()`` + ``server_close()``.
    ``recorder`` is called with each result inside the worker slot (the CLI passes the SQLite store).
    """
    from rules.matcher import index_for

    index_for(ctx.pack)  # compile the rule index now, not racily in the first concurrent requests
    return WebhookServer((host, port), secret, ctx, max_bytes=max_bytes, workers=workers,
                         queue_timeout=queue_timeout, max_pending=max_pending, recorder=recorder,
                         read_timeout=read_timeout)

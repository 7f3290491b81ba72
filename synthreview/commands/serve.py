"""``synthreview serve``: the signed HTTP webhook for submission pipelines (HTTP handling: ``synthreview.webhook``)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from synthreview.commands.common import add_db, db_path, err

log = logging.getLogger("synthreview.webhook")

DEFAULT_PORT = 8787
_SIZE_RE = re.compile(r"\s*([0-9]+)\s*([kmg]i?b?|b)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str) -> int:
    """``104857600``, ``100M``, ``100MiB`` or ``1G`` → bytes (binary units); argparse type for ``--max-bytes``."""
    m = _SIZE_RE.fullmatch(text)
    if not m or int(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a positive size: {text!r} (e.g. 100M) / 大小无效")
    return int(m.group(1)) * _UNITS[(m.group(2) or "")[:1].lower()]


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r} / 应为正整数")
    return n


def _port(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r} / 端口无效")
    return n


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the command."""
    from synthreview.webhook import DEFAULT_MAX_BYTES, SECRET_ENV

    p = sub.add_parser(
        "serve",
        help="HTTP webhook for submission pipelines (HMAC-signed POST /scan, GET /healthz)",
        description=(
            "Serve POST /scan (multipart: artifact + optional meta) signed with HMAC-SHA256 over "
            f"'<timestamp>.' + body using ${SECRET_ENV}; answers with the JSON report. "
            "No TLS: bind to localhost or put it behind a TLS-terminating proxy."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"TCP port (default: {DEFAULT_PORT}; 0 = any free)")
    p.add_argument("--max-bytes", type=parse_size, default=DEFAULT_MAX_BYTES, metavar="N",
                   help="largest request body, e.g. 100M (default: 100M); parsing needs ~11x this in memory")
    p.add_argument("--workers", type=_positive, default=2, metavar="N", help="scans run at once (default: 2)")
    p.add_argument("--max-pending", type=_positive, default=None, metavar="N",
                   help="bodies buffered at once, scanning or waiting (default: 2 x workers)")
    p.add_argument("--queue-timeout", type=float, default=30.0, metavar="S",
                   help="seconds a request waits for a free place before 503 (default: 30)")
    p.add_argument("--policy", help="a store policy YAML instead of the shipped default")
    add_db(p)
    p.add_argument("--no-db", action="store_true", help="do not record webhook scans in the store")
    p.set_defaults(run=run)


def _recorder(args: argparse.Namespace) -> Callable[[Any], None] | None:
    """Record each scan through ``synthreview.store`` when that module exists (it lands with the store work)."""
    if args.no_db:
        return None
    try:
        from synthreview.store import Store
    except ImportError:
        err.print("[yellow]store not available: webhook scans are not recorded 存储模块不可用：不记录扫描结果[/yellow]")
        return None
    path = db_path(args)

    def record(result: Any) -> None:
        with Store.open(path) as store:  # one connection per write: sqlite3 connections stay in their thread
            store.record(result, origin="webhook")  # the audit trail says which path a scan came through

    return record


def run(args: argparse.Namespace) -> int:
    """Check the secret, build the scan context, serve until SIGINT/SIGTERM."""
    from synthreview.webhook import SECRET_ENV

    secret = os.environ.get(SECRET_ENV, "")
    if not secret.strip():
        err.print(
            f"[red]${SECRET_ENV} is not set: refusing to start an unauthenticated webhook.[/red]\n"
            f"[red]未设置 ${SECRET_ENV}：拒绝启动未鉴权的 Webhook 服务。[/red]\n"
            f"Set it to a long random value shared with the pipeline, e.g. "
            f"export {SECRET_ENV}=$(openssl rand -hex 32)\n"
            f"请设置为与提交流水线共享的足够长的随机值，例如上面的命令。"
        )
        return 2
    if len(secret.encode("utf-8")) < 16:
        log.warning("%s is shorter than 16 bytes; use a long random secret / 密钥过短，请使用足够长的随机值", SECRET_ENV)

    from synthreview.commands.scan import build_context
    from synthreview.webhook import make_server

    log.setLevel(logging.DEBUG if getattr(args, "verbose", False) else logging.INFO)  # the access log
    ctx = build_context(args)
    try:
        server = make_server(args.host, args.port, secret, ctx, max_bytes=args.max_bytes, workers=args.workers,
                             queue_timeout=args.queue_timeout, max_pending=args.max_pending,
                             recorder=_recorder(args))
    except OSError as exc:
        err.print(f"[red]cannot listen on {args.host}:{args.port} 无法监听[/red]: {exc.strerror or exc}")
        return 1
    host, port = server.server_address[:2]
    err.print(f"synthreview webhook listening on http://{host}:{port} (POST /scan, GET /healthz; "
              f"workers {server.workers}, max body {server.max_bytes} bytes) Webhook 服务已启动")

    previous: Any = None
    if threading.current_thread() is threading.main_thread():
        def _stop(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        err.print("stopping: finishing in-flight requests 正在停止：等待进行中的请求完成")
    finally:
        server.server_close()  # joins handler threads, so in-flight scans are answered
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0

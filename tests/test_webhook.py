"""The signed webhook over real localhost HTTP (requests), and ``synthreview serve``'s refusal without a secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from filings.meta import meta_from_text
from reports.json_report import render_json
from synthreview.cli import main
from synthreview.pipeline import Context, scan_bytes
from synthreview.webhook import (
    SECRET_ENV,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    HttpError,
    WebhookServer,
    make_server,
    parse_form,
    sign,
    signed_headers,
)

FIX = Path(__file__).resolve().parent / "fixtures"
FACEAPP = (FIX / "apk/demo_faceapp.apk").read_bytes()
PLAIN = (FIX / "apk/plain_app.apk").read_bytes()
SECRET = "test-secret-6b1f0f3c9a2e4d7b"  # distinctive, so the log test can look for it

Start = Callable[..., tuple[WebhookServer, str]]


@pytest.fixture(scope="module")
def ctx() -> Context:
    return Context.default()


@pytest.fixture
def start(ctx: Context) -> Iterator[Start]:
    """Start webhook servers on 127.0.0.1:0 in threads; stop and join them after the test."""
    running: list[tuple[WebhookServer, threading.Thread]] = []

    def _start(**kw: Any) -> tuple[WebhookServer, str]:
        srv = make_server("127.0.0.1", 0, SECRET, ctx, **kw)
        t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        t.start()
        running.append((srv, t))
        return srv, f"http://127.0.0.1:{srv.server_port}"

    yield _start
    for srv, t in running:
        srv.shutdown()
        srv.server_close()
        t.join(10)


@pytest.fixture
def url(start: Start) -> str:
    return start()[1]


def post(url: str, files: dict[str, Any], *, secret: str = SECRET, ts: int | None = None,
         headers: dict[str, str] | None = None) -> requests.Response:
    """Sign and send a multipart request the way a pipeline would (README example)."""
    req = requests.Request("POST", url + "/scan", files=files).prepare()
    req.headers.update(signed_headers(req.body, secret, ts))
    req.headers.update(headers or {})
    with requests.Session() as s:
        return s.send(req, timeout=60)


def post_raw(url: str, body: bytes, content_type: str, *, secret: str = SECRET) -> requests.Response:
    """Send a hand-built (possibly malformed) body, correctly signed: only the multipart layer is wrong."""
    h = {"Content-Type": content_type, **signed_headers(body, secret)}
    return requests.post(url + "/scan", data=body, headers=h, timeout=60)


def expected_report(name: str, data: bytes, ctx: Context, meta_text: str | None = None) -> dict[str, Any]:
    meta = meta_from_text(meta_text) if meta_text is not None else None
    return json.loads(render_json([scan_bytes(name, data, meta, ctx)]))


def assert_error(r: requests.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["error"] and body["zh"] and body["request_id"] == r.headers["X-Request-Id"]
    return body


# --- signing helper -------------------------------------------------------------------------------------


def test_sign_matches_the_contract() -> None:
    body = b"--b\r\nx\r\n--b--\r\n"
    want = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(body, SECRET, 1700000000) == "sha256=" + want
    assert sign(body, SECRET.encode(), "1700000000") == "sha256=" + want
    h = signed_headers(body, SECRET, 1700000000)
    assert h == {TIMESTAMP_HEADER: "1700000000", SIGNATURE_HEADER: "sha256=" + want}
    assert abs(int(signed_headers(body, SECRET)[TIMESTAMP_HEADER]) - time.time()) < 5


# --- valid requests -------------------------------------------------------------------------------------


def test_valid_signature_returns_the_pipeline_report(url: str, ctx: Context) -> None:
    r = post(url, {"artifact": ("demo_faceapp.apk", FACEAPP, "application/vnd.android.package-archive")})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report == expected_report("demo_faceapp.apk", FACEAPP, ctx)
    assert report["decision"]["action"] == "reject"
    assert r.headers["X-Synthreview-Decision"] == "reject"
    assert report["artifact"]["sha256"] == hashlib.sha256(FACEAPP).hexdigest()
    assert report["artifact"]["path"] == "demo_faceapp.apk"


def test_plain_app_with_yaml_meta(url: str, ctx: Context) -> None:
    meta = "app_id: com.example.plain\ndeclares_aigc: false\nchannel: submission\n"
    r = post(url, {"artifact": ("plain_app.apk", PLAIN), "meta": ("meta.yaml", meta.encode(), "application/yaml")})
    assert r.status_code == 200, r.text
    want = expected_report("plain_app.apk", PLAIN, ctx, meta)
    assert r.json() == want
    assert r.json()["decision"]["action"] == want["decision"]["action"]


def test_json_meta_as_plain_form_field(url: str, ctx: Context) -> None:
    meta = json.dumps({"channel": "listed", "filings": ["网信算备110108823483901230031号"]}, ensure_ascii=False)
    r = post(url, {"artifact": ("demo_faceapp.apk", FACEAPP), "meta": (None, meta.encode())})
    assert r.status_code == 200, r.text
    assert r.json() == expected_report("demo_faceapp.apk", FACEAPP, ctx, meta)


@pytest.mark.parametrize("data", [
    b"\r", b"\n", b"\r\n", b"x\r", b"x\r\r\n", b"\n\r", b"--", b"\r\n--\r\n", b"a\r\n--not-the-boundary--\r\n",
    bytes(range(256)) * 4,
], ids=lambda d: repr(d[:12]))
def test_artifact_bytes_arrive_exactly(url: str, data: bytes) -> None:
    """The report's sha256 is of the uploaded bytes: the multipart layer must not touch line endings."""
    r = post(url, {"artifact": ("blob.bin", data)})
    assert r.status_code == 200, r.text
    art = r.json()["artifact"]
    assert art["sha256"] == hashlib.sha256(data).hexdigest() and art["size"] == len(data)
    assert r.json()["decision"]["action"] == "needs_review"  # unknown format never yields list


def test_client_file_name_is_sanitised(url: str) -> None:
    r = post(url, {"artifact": ("../../etc/evil!inner.apk", PLAIN)})
    assert r.status_code == 200, r.text
    assert r.json()["artifact"]["path"] == "evil_inner.apk"
    r = post(url, {"artifact": ("示例相机.apk", PLAIN)})
    assert r.json()["artifact"]["path"] == "示例相机.apk"


# --- authentication -------------------------------------------------------------------------------------


def test_bad_signature_401(url: str) -> None:
    assert_error(post(url, {"artifact": ("a.apk", PLAIN)}, secret="another-secret-entirely"), 401)


def test_tampered_body_401(url: str) -> None:
    req = requests.Request("POST", url + "/scan", files={"artifact": ("a.apk", PLAIN)}).prepare()
    req.headers.update(signed_headers(req.body, SECRET))
    assert isinstance(req.body, bytes)
    req.body = req.body.replace(b"a.apk", b"b.apk")
    with requests.Session() as s:
        assert_error(s.send(req, timeout=30), 401)


@pytest.mark.parametrize("drop", [SIGNATURE_HEADER, TIMESTAMP_HEADER])
def test_missing_signature_headers_401(url: str, drop: str) -> None:
    req = requests.Request("POST", url + "/scan", files={"artifact": ("a.apk", PLAIN)}).prepare()
    req.headers.update(signed_headers(req.body, SECRET))
    del req.headers[drop]
    with requests.Session() as s:
        body = assert_error(s.send(req, timeout=30), 401)
    assert drop in body["error"]


@pytest.mark.parametrize("value", ["md5=abc", "sha256=xyz", "sha256=" + "0" * 63, "0" * 64, "sha256= " + "0" * 64])
def test_malformed_signature_header_401(url: str, value: str) -> None:
    assert_error(post(url, {"artifact": ("a.apk", PLAIN)}, headers={SIGNATURE_HEADER: value}), 401)


@pytest.mark.parametrize("skew", [-301, 301, -3600, 10**9])
def test_stale_timestamp_401(url: str, skew: int) -> None:
    """Correctly signed but too old (or from the future): refused, so captured requests cannot be replayed later."""
    body = assert_error(post(url, {"artifact": ("a.apk", PLAIN)}, ts=int(time.time()) + skew), 401)
    assert "stale" in body["error"] and "过期" in body["zh"]


def test_timestamp_within_window_accepted(url: str) -> None:
    assert post(url, {"artifact": ("a.apk", PLAIN)}, ts=int(time.time()) - 250).status_code == 200


def test_non_numeric_timestamp_401(url: str) -> None:
    assert_error(post(url, {"artifact": ("a.apk", PLAIN)}, headers={TIMESTAMP_HEADER: "yesterday"}), 401)


# --- framing and size -----------------------------------------------------------------------------------


def test_oversize_body_413(start: Start) -> None:
    _, url = start(max_bytes=4096)
    body = assert_error(post(url, {"artifact": ("big.apk", PLAIN + b"\0" * 8192)}), 413)
    assert "4096" in body["error"]


def _raw_exchange(port: int, head: bytes, body: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head + body)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_oversize_refused_before_the_body_with_expect_continue(start: Start) -> None:
    """With ``Expect: 100-continue`` the 413 comes before any body byte is sent (curl does this for big files)."""
    srv, _ = start(max_bytes=1024)
    head = (b"POST /scan HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 999999999\r\nExpect: 100-continue\r\n\r\n")
    resp = _raw_exchange(srv.server_port, head)
    assert resp.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in resp


def test_unsigned_refused_before_the_body_with_expect_continue(start: Start) -> None:
    srv, _ = start()
    head = (b"POST /scan HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 100\r\nExpect: 100-continue\r\n\r\n")
    resp = _raw_exchange(srv.server_port, head)
    assert resp.startswith(b"HTTP/1.1 401 ") and b"100 Continue" not in resp


def test_expect_continue_happy_path(start: Start, ctx: Context) -> None:
    srv, _ = start()
    req = requests.Request("POST", "http://x/scan", files={"artifact": ("a.apk", PLAIN)}).prepare()
    assert isinstance(req.body, bytes)
    sig = signed_headers(req.body, SECRET)
    head = (f"POST /scan HTTP/1.1\r\nHost: x\r\nContent-Type: {req.headers['Content-Type']}\r\n"
            f"Content-Length: {len(req.body)}\r\nExpect: 100-continue\r\n"
            f"{TIMESTAMP_HEADER}: {sig[TIMESTAMP_HEADER]}\r\n{SIGNATURE_HEADER}: {sig[SIGNATURE_HEADER]}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", srv.server_port), timeout=30) as s:
        s.sendall(head)
        assert s.recv(100).startswith(b"HTTP/1.1 100 Continue")
        s.sendall(req.body)
        resp = b""
        while chunk := s.recv(65536):
            resp += chunk
    assert resp.startswith(b"HTTP/1.1 200 ")
    assert json.loads(resp.split(b"\r\n\r\n", 1)[1]) == expected_report("a.apk", PLAIN, ctx)


def test_chunked_body_411(url: str) -> None:
    req = requests.Request("POST", url + "/scan", files={"artifact": ("a.apk", PLAIN)}).prepare()
    assert isinstance(req.body, bytes)
    body = req.body
    h = {"Content-Type": req.headers["Content-Type"], **signed_headers(body, SECRET)}
    r = requests.post(url + "/scan", data=iter([body[:100], body[100:]]), headers=h, timeout=30)  # generator → chunked
    assert_error(r, 411)


def test_missing_content_length_411(start: Start) -> None:
    srv, _ = start()
    resp = _raw_exchange(srv.server_port, b"POST /scan HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 411 ")
    assert json.loads(resp.split(b"\r\n\r\n", 1)[1])["zh"]


@pytest.mark.parametrize("value", ["-1", "12abc", "1, 2", "١٢"])
def test_invalid_content_length_400(start: Start, value: str) -> None:
    srv, _ = start()
    head = f"POST /scan HTTP/1.1\r\nHost: x\r\nContent-Length: {value}\r\n\r\n".encode()
    assert _raw_exchange(srv.server_port, head).startswith(b"HTTP/1.1 400 ")


def test_body_shorter_than_content_length_400(start: Start) -> None:
    srv, _ = start(read_timeout=5)
    body = b"--b\r\n"
    sig = signed_headers(body, SECRET)
    head = (f"POST /scan HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: 500\r\n{TIMESTAMP_HEADER}: {sig[TIMESTAMP_HEADER]}\r\n"
            f"{SIGNATURE_HEADER}: {sig[SIGNATURE_HEADER]}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", srv.server_port), timeout=10) as s:
        s.sendall(head + body)
        s.shutdown(socket.SHUT_WR)  # the client gives up mid-body
        resp = s.recv(65536)
    assert resp.startswith(b"HTTP/1.1 400 ")


# --- malformed multipart and bad fields (all correctly signed) -------------------------------------------

CT = "multipart/form-data; boundary=bnd"
PART = b'--bnd\r\nContent-Disposition: form-data; name="artifact"; filename="a.apk"\r\n\r\n' + PLAIN + b"\r\n"


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/octet-stream", PLAIN),
    ("multipart/form-data", PART + b"--bnd--\r\n"),  # no boundary parameter
    (CT, b"this is not multipart at all"),
    (CT, PART),  # no closing boundary (truncated upload)
    (CT, b"--bnd--\r\n"),  # no parts
    (CT, b'--bnd\r\nContent-Disposition: form-data; name="artifact"\r\nno blank line\r\n--bnd--\r\n'),
    (CT, b"--bnd\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n--bnd--\r\n"),  # no Content-Disposition
    (CT, b'--bnd\r\nContent-Disposition: form-data; name="artifact"\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n'
         b"--x\r\n\r\ninner\r\n--x--\r\n--bnd--\r\n"),  # nested multipart
    (CT, b'--bnd\r\nContent-Disposition: form-data; name="artifact"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
         b"UEsDBA==\r\n--bnd--\r\n"),
    (CT, PART + PART + b"--bnd--\r\n"),  # artifact twice
    (CT, PART + b'--bnd\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{}\r\n--bnd--\r\n'),  # typo'd field
    (CT, b'--bnd\r\nContent-Disposition: form-data; name="artifact"; filename="a.apk"\r\n\r\n\r\n--bnd--\r\n'),  # empty
], ids=["not-multipart", "no-boundary", "garbage", "truncated", "no-parts", "no-header-separator",
        "no-disposition", "nested", "base64", "duplicate", "unknown-field", "empty-artifact"])
def test_malformed_multipart_400(url: str, content_type: str, body: bytes) -> None:
    assert_error(post_raw(url, body, content_type), 400)


def test_no_artifact_part_400(url: str) -> None:
    body = assert_error(post(url, {"meta": ("meta.yaml", b"channel: submission\n")}), 400)
    assert "artifact" in body["error"] and "artifact" in body["zh"]


@pytest.mark.parametrize("meta", [b"colour: red\n", b"channel: [unclosed\n", b"declares_aigc: maybe\n",
                                  b"\xff\xfe not utf-8", b"- a list\n- not a mapping\n", b"[" * 100000,
                                  b"- " * 50000 + b"x"],
                         ids=["unknown-key", "bad-yaml", "bad-type", "not-utf8", "not-mapping", "deep-json", "deep-yaml"])
def test_bad_meta_400(url: str, meta: bytes) -> None:
    body = assert_error(post(url, {"artifact": ("a.apk", PLAIN), "meta": ("meta.yaml", meta)}), 400)
    assert "metadata" in body["error"] and "元数据" in body["zh"]


def test_parse_form_unit() -> None:
    up = parse_form(CT, PART + b'--bnd\r\nContent-Disposition: form-data; name="meta"\r\n\r\n{"channel": "listed"}\r\n--bnd--\r\n')
    assert up.name == "a.apk" and up.data == PLAIN and up.meta is not None and up.meta.channel.value == "listed"
    with pytest.raises(HttpError) as e:
        parse_form(None, PART)
    assert e.value.status == 400


# --- other routes ---------------------------------------------------------------------------------------


def test_healthz(url: str) -> None:
    r = requests.get(url + "/healthz", timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_unknown_routes_and_methods(url: str) -> None:
    assert_error(requests.get(url + "/nope", timeout=10), 404)
    assert_error(requests.get(url + "/scan", timeout=10), 405)
    assert_error(requests.post(url + "/healthz", data=b"x", timeout=10), 405)
    assert_error(requests.put(url + "/scan", data=b"x", timeout=10), 501)


# --- concurrency, pool limits, recording ----------------------------------------------------------------


def test_parallel_requests_all_answered(start: Start, ctx: Context) -> None:
    _, url = start(workers=2)
    jobs = [("demo_faceapp.apk", FACEAPP), ("plain_app.apk", PLAIN)] * 5
    with ThreadPoolExecutor(max_workers=len(jobs)) as ex:
        responses = list(ex.map(lambda j: post(url, {"artifact": j}), jobs))
    want = {n: expected_report(n, d, ctx)["decision"]["action"] for n, d in jobs[:2]}
    assert [r.status_code for r in responses] == [200] * len(jobs)
    assert [r.json()["decision"]["action"] for r in responses] == [want[n] for n, _ in jobs]
    assert len({r.headers["X-Request-Id"] for r in responses}) == len(jobs)


def test_full_pool_answers_503(start: Start) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_recorder(result: Any) -> None:
        entered.set()
        release.wait(10)

    _, url = start(workers=1, queue_timeout=0.2, recorder=slow_recorder)
    with ThreadPoolExecutor(max_workers=1) as ex:
        first = ex.submit(post, url, {"artifact": ("a.apk", PLAIN)})
        assert entered.wait(10)
        busy = post(url, {"artifact": ("b.apk", PLAIN)})
        release.set()
        assert first.result().status_code == 200
    assert_error(busy, 503)
    assert busy.headers["Retry-After"]


def test_recorder_gets_each_result(start: Start) -> None:
    got: list[Any] = []
    _, url = start(recorder=got.append)
    r = post(url, {"artifact": ("demo_faceapp.apk", FACEAPP)})
    assert r.status_code == 200
    assert [x.inventory.artifact.sha256 for x in got] == [hashlib.sha256(FACEAPP).hexdigest()]


def test_recorder_failure_is_500_not_a_silent_200(start: Start) -> None:
    def broken(result: Any) -> None:
        raise RuntimeError("disk full")

    _, url = start(recorder=broken)
    assert_error(post(url, {"artifact": ("a.apk", PLAIN)}), 500)


def test_cli_recorder_writes_the_store(start: Start, tmp_path: Path) -> None:
    """``serve`` records webhook scans through ``synthreview.store`` when it exists (origin ``webhook``)."""
    import argparse

    store_mod = pytest.importorskip("synthreview.store")
    from synthreview.commands.serve import _recorder

    db = tmp_path / "s.db"
    recorder = _recorder(argparse.Namespace(no_db=False, db=str(db)))
    assert recorder is not None
    _, url = start(recorder=recorder)
    with ThreadPoolExecutor(max_workers=4) as ex:  # concurrent writers are serialised
        rs = list(ex.map(lambda j: post(url, {"artifact": j}), [("demo_faceapp.apk", FACEAPP), ("plain_app.apk", PLAIN)] * 2))
    assert [r.status_code for r in rs] == [200] * 4
    app_id = rs[0].json()["artifact"]["app_id"]
    with store_mod.Store.open(db, create=False) as store:
        sid = store.latest_scan_of_app(app_id)
        assert sid is not None
        row = store.scan(sid)
        assert row is not None and row.origin == "webhook" and row.action.value == "reject"


# --- logging --------------------------------------------------------------------------------------------


def test_secret_never_logged(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="synthreview.webhook")
    _, url = start()
    ok = post(url, {"artifact": ("demo_faceapp.apk", FACEAPP)})
    post(url, {"artifact": ("a.apk", PLAIN)}, secret=SECRET + "x")
    post(url, {"artifact": ("a.apk", PLAIN)}, headers={SIGNATURE_HEADER: SECRET})
    requests.get(url + "/healthz", timeout=10)
    text = caplog.text
    assert SECRET not in text and sign(b"", SECRET, 0)[7:] not in text
    assert ok.headers["X-Request-Id"] in text and hashlib.sha256(FACEAPP).hexdigest() in text
    assert "status=200" in text and "status=401" in text


def test_server_repr_hides_secret(start: Start) -> None:
    srv, _ = start()
    assert SECRET not in repr(srv) and SECRET not in str(vars(srv))


def test_make_server_refuses_empty_secret(ctx: Context) -> None:
    with pytest.raises(ValueError):
        make_server("127.0.0.1", 0, "", ctx)


# --- CLI ------------------------------------------------------------------------------------------------


def test_serve_without_secret_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import synthreview.webhook as webhook

    def no_server(*a: Any, **k: Any) -> None:
        raise AssertionError("must not start a server without a secret")

    monkeypatch.setattr(webhook, "make_server", no_server)
    monkeypatch.delenv(SECRET_ENV, raising=False)
    assert main(["serve", "--port", "0", "--no-db"]) == 2
    out = capsys.readouterr().err
    assert SECRET_ENV in out and "未设置" in out
    monkeypatch.setenv(SECRET_ENV, "   ")
    assert main(["serve", "--port", "0", "--no-db"]) == 2


def test_serve_runs_and_stops(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI glue: a bound server, options passed through, clean stop on Ctrl-C (serve_forever stubbed)."""
    seen: dict[str, Any] = {}

    def fake_forever(self: WebhookServer, poll_interval: float = 0.5) -> None:
        seen.update(port=self.server_port, workers=self.workers, max_bytes=self.max_bytes, pending=self.max_pending)
        raise KeyboardInterrupt

    monkeypatch.setattr(WebhookServer, "serve_forever", fake_forever)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    assert main(["serve", "--port", "0", "--no-db", "--workers", "3", "--max-bytes", "5M"]) == 0
    assert seen["port"] > 0 and seen["workers"] == 3 and seen["max_bytes"] == 5 * 1024**2 and seen["pending"] == 6
    assert SECRET not in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--workers", "0"], ["--max-bytes", "lots"], ["--port", "70000"]])
def test_serve_bad_options_are_usage_errors(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    with pytest.raises(SystemExit) as e:
        main(["serve", *argv])
    assert e.value.code == 2

"""Per-artifact isolation (``synthreview.isolation``): limits, confinement, failure mapping, and a 20-artifact batch.

The worker is a forkserver child: test monkeypatches do not reach it, so everything it needs travels in its
job (the test-only ``$SYNTHREVIEW_TEST_WORKER_HOOK`` is read by the parent and handed over the same way).
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from pathlib import Path

import pytest
from hostile_factory import dex_huge_counts, elf_bogus_sections, memory_hog, many_strings_dex, nested_zip_bomb

from rules.fixtures import build_apk
from rules.mpfixtures import build_mp_fixture
from scanner import reader
from scanner.model import ArtifactKind
from scanner.reader import read_artifact, read_bytes
from scanner.serialize import to_data
from synthreview import isolation
from synthreview.cli import main
from synthreview.isolation import (
    ENV_CPU,
    ENV_MEMORY,
    ENV_NO_FORK,
    ENV_TEST_HOOK,
    ENV_TIMEOUT,
    IsolationLimits,
    parse_mib,
    parse_seconds,
    read_bytes_isolated,
    read_isolated,
    scan_batch,
    scan_bytes_isolated,
    scan_isolated,
)
from synthreview.pipeline import Context, scan_bytes, scan_path

FIX = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module", autouse=True)
def _server() -> None:
    isolation.start_server()  # before any test points tempfile at its own folder


@pytest.fixture(scope="module")
def ctx() -> Context:
    return Context.default()


@pytest.fixture()
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The parent's temp dir (where worker dirs are made) pointed at an empty folder we can inspect."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    monkeypatch.delenv(ENV_TEST_HOOK, raising=False)
    return d


# --- limits -----------------------------------------------------------------------------------------------


def test_limits_defaults_env_and_flags() -> None:
    d = IsolationLimits.from_env({})
    assert (d.memory_mib, d.timeout, d.cpu) == (isolation.DEFAULT_MEMORY_MIB, isolation.DEFAULT_TIMEOUT, 601)
    env = {ENV_MEMORY: "2G", ENV_TIMEOUT: "90", ENV_CPU: "30"}
    e = IsolationLimits.from_env(env)
    assert (e.memory_mib, e.timeout, e.cpu) == (2048, 90.0, 30)
    f = IsolationLimits.from_env(env, memory_mib=512, timeout="7.5")  # flags win over the environment
    assert (f.memory_mib, f.timeout, f.cpu) == (512, 7.5, 30)
    assert parse_mib("768") == parse_mib("768M") == parse_mib("768 MiB") == 768
    for bad in ("", "lots", "-1", "10", "1T"):
        with pytest.raises(ValueError):
            parse_mib(bad)
    for bad in ("0", "-3", "nan", "inf", "soon"):
        with pytest.raises(ValueError):
            parse_seconds(bad)
    with pytest.raises(ValueError, match=ENV_TIMEOUT):
        IsolationLimits.from_env({ENV_TIMEOUT: "never"})


def test_scan_flags_validated(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as e:
        main(["scan", "--no-db", "--max-memory", "12", "x.apk"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["scan", "--no-db", "--timeout", "0", "x.apk"])
    assert e.value.code == 2
    monkeypatch.setenv(ENV_MEMORY, "a lot")
    assert main(["scan", "--no-db", "x.apk"]) == 2
    assert ENV_MEMORY in capsys.readouterr().err


# --- same answers as in-process -------------------------------------------------------------------------


def test_isolated_inventory_equals_in_process(tmp_path: Path, private_tmp: Path) -> None:
    wx = tmp_path / "app.wxapkg"
    wx.write_bytes(build_mp_fixture({"plugins": {"WechatSI": "wx069ba97219f66d99"}, "js": "wx.request({})"}))
    paths = [*sorted((FIX / "apk").glob("*.apk")), FIX / "apk/split/split_app.apks", wx]
    for p in paths:
        iso = read_isolated(p)
        assert to_data(iso) == to_data(read_artifact(p)), p.name
    assert not list(private_tmp.iterdir())  # every worker's private dir is gone


def test_bytes_in_a_worker_equal_read_bytes(ctx: Context, private_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The webhook's door: an upload read in a worker is what ``read_bytes`` gives in-process."""
    data = (FIX / "apk/obfuscated_faceapp.apk").read_bytes()
    assert to_data(read_bytes_isolated("upload.apk", data)) == to_data(read_bytes("upload.apk", data))
    assert to_data(scan_bytes_isolated("upload.apk", data, None, ctx)) == to_data(scan_bytes("upload.apk", data, None, ctx))
    monkeypatch.setenv(ENV_TEST_HOOK, "crash:upload.apk")
    r = scan_bytes_isolated("upload.apk", data, None, ctx)
    assert "SIGSEGV" in _needs_review(r, "worker")
    assert r.inventory.artifact.path == "upload.apk" and r.inventory.artifact.size == len(data)
    assert not list(private_tmp.iterdir())


def test_scan_isolated_equals_scan_path(ctx: Context, private_tmp: Path) -> None:
    p = FIX / "apk/demo_faceapp.apk"
    a, b = scan_isolated(p, None, ctx), scan_path(p, None, ctx)
    assert to_data(a) == to_data(b)
    assert a.decision.action.value == "reject"


# --- failures become needs_review ----------------------------------------------------------------------


def _needs_review(result, stage: str) -> str:  # type: ignore[no-untyped-def]
    assert result.decision.action.value == "needs_review"
    errs = [e for e in result.inventory.errors if e.stage == stage]
    assert errs, result.inventory.errors
    return errs[0].message


def test_hang_is_killed_at_the_timeout(ctx: Context, private_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_TEST_HOOK, "hang:plain_app.apk")
    t = time.monotonic()
    r = scan_isolated(FIX / "apk/plain_app.apk", None, ctx, IsolationLimits(timeout=1.5))
    assert time.monotonic() - t < 1.5 + 3
    assert "longer than 1.5 s" in _needs_review(r, "limits")
    assert r.inventory.artifact.sha256 and r.inventory.artifact.size == (FIX / "apk/plain_app.apk").stat().st_size
    assert r.provenance.rules_sha256 == ctx.pack.sha256  # evaluated like any other result
    assert not list(private_tmp.iterdir())


def test_runaway_allocation_hits_the_memory_limit(ctx: Context, private_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_TEST_HOOK, "oom:plain_app.apk")
    r = scan_isolated(FIX / "apk/plain_app.apk", None, ctx, IsolationLimits(memory_mib=256, timeout=30))
    assert "out of memory (limit 256 MiB)" in _needs_review(r, "limits")


def test_cpu_limit_stops_a_spinning_worker(ctx: Context, private_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_TEST_HOOK, "spin:plain_app.apk")
    t = time.monotonic()
    r = scan_isolated(FIX / "apk/plain_app.apk", None, ctx, IsolationLimits(timeout=30, cpu_seconds=1))
    assert time.monotonic() - t < 10
    assert "CPU time" in _needs_review(r, "limits")


def test_native_crash_is_a_worker_error(ctx: Context, private_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_TEST_HOOK, "crash:plain_app.apk")
    r = scan_isolated(FIX / "apk/plain_app.apk", None, ctx)
    assert "SIGSEGV" in _needs_review(r, "worker")
    monkeypatch.setenv(ENV_TEST_HOOK, "crash:another.apk")  # the hook only fires for the file it names
    assert scan_isolated(FIX / "apk/plain_app.apk", None, ctx).decision.action.value == "list"


def test_real_memory_bomb_hits_the_memory_limit(tmp_path: Path, ctx: Context, private_tmp: Path) -> None:
    p = tmp_path / "hog.apk"
    p.write_bytes(memory_hog())  # ~1 MB: one string-heavy DEX listed 60 times in the central directory
    r = scan_isolated(p, None, ctx, IsolationLimits(memory_mib=512, timeout=60))
    assert r.decision.action.value == "needs_review"
    assert {e.stage for e in r.inventory.errors} & {"limits", "worker"}


def test_oversized_result_is_refused(tmp_path: Path, private_tmp: Path) -> None:
    p = tmp_path / "strings.apk"
    base = build_apk({"classes": ["com.big.Main"]})
    import io
    import zipfile

    buf = io.BytesIO(base)
    with zipfile.ZipFile(buf, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("classes2.dex", many_strings_dex(200_000))  # ~2.4 MB of JSON strings
    p.write_bytes(buf.getvalue())
    inv = read_isolated(p, iso=IsolationLimits(result_mib=1))
    assert [e.stage for e in inv.errors] == ["limits"] and "refused" in inv.errors[0].message


def test_missing_file_is_read_not_crashed(tmp_path: Path, private_tmp: Path) -> None:
    inv = read_isolated(tmp_path / "nope.apk")
    assert inv.errors[0].stage == "open" and inv.artifact.kind is ArtifactKind.UNKNOWN


# --- the confinement itself -----------------------------------------------------------------------------


def _probe(conn, job) -> None:  # type: ignore[no-untyped-def]
    """Runs in a forkserver child: confine like a worker, then report what the child can and cannot do."""
    os.environ["SYNTHREVIEW_WEBHOOK_SECRET"] = "s3cret"
    os.environ["STORE_API_TOKEN"] = "t0ken"
    isolation._confine(job)
    out: dict[str, object] = {
        "limits": {name: resource.getrlimit(getattr(resource, name))
                   for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_CORE")},
        "pgid_is_pid": os.getpgid(0) == os.getpid(),
        "tmpdir": os.environ.get("TMPDIR"),
        "tempfile": tempfile.gettempdir(),
        "no_fork": os.environ.get(ENV_NO_FORK),
        "cwd": os.getcwd(),
        "secrets": sorted(k for k, v in os.environ.items() if v in ("s3cret", "t0ken")),
    }
    try:
        with open(os.path.join(job.workdir, "written"), "wb") as f:
            f.write(b"x" * 100)
            f.flush()
        out["write"] = "allowed"
    except OSError as exc:
        out["write"] = exc.errno
    conn.send_bytes(json.dumps(out).encode())
    conn.close()


def test_worker_confinement(tmp_path: Path, private_tmp: Path) -> None:
    import errno

    mp = isolation._mp_context()
    workdir = tempfile.mkdtemp()
    iso = IsolationLimits(memory_mib=700, timeout=10, cpu_seconds=7, open_files=40)
    job = isolation._Job(str(FIX / "apk/plain_app.apk"), isolation.Limits(), None, iso, workdir, str(tmp_path),
                         700 * 1024**2 + 123)
    r, w = mp.Pipe(duplex=False)
    proc = mp.Process(target=_probe, args=(w, job), daemon=True)
    proc.start()
    w.close()
    assert r.poll(30)
    got = json.loads(r.recv_bytes())
    proc.join(5)
    lim = got["limits"]
    assert lim["RLIMIT_AS"] == [700 * 1024**2 + 123] * 2
    assert lim["RLIMIT_CPU"] == [7, 12]
    assert lim["RLIMIT_FSIZE"] == [0, 0] and lim["RLIMIT_CORE"] == [0, 0]
    assert lim["RLIMIT_NOFILE"] == [40, 40]
    assert got["pgid_is_pid"] and got["no_fork"] == "1"
    assert got["tmpdir"] == got["tempfile"] == workdir and got["cwd"] == str(tmp_path)
    assert got["write"] == errno.EFBIG  # not one byte reaches a file
    assert got["secrets"] == []
    assert os.path.getsize(os.path.join(workdir, "written")) == 0


def test_reader_honours_no_fork(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Inside the worker the big-APK helper process is never forked (it would need a semaphore file)."""
    p = FIX / "apk/obfuscated_faceapp.apk"
    called: list[str] = []

    def fake_parallel(*args, **kwargs):  # type: ignore[no-untyped-def]
        called.append("forked")
        raise RuntimeError("the helper must not run")

    monkeypatch.setattr(reader, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(reader, "_read_apk_parallel", fake_parallel)
    monkeypatch.setenv("SYNTHREVIEW_PARALLEL", "1")  # the helper is opt-in; the worker overrides even that
    monkeypatch.setenv(ENV_NO_FORK, "1")
    assert read_artifact(p).errors == ()
    monkeypatch.delenv(ENV_NO_FORK)
    assert read_artifact(p).errors[0].stage == "internal" and called == ["forked"]


# --- the batch --------------------------------------------------------------------------------------------


def _normal_apks(d: Path) -> list[Path]:
    out = [d / p.name for p in sorted((FIX / "apk").glob("*.apk"))]
    for src, dst in zip(sorted((FIX / "apk").glob("*.apk")), out):
        dst.write_bytes(src.read_bytes())
    specs = [
        {"classes": ["com.batch.notes.Main"]},
        {"classes": ["com.faceunity.wrapper.faceunity"], "native_libs": [{"name": "libCNamaSDK.so", "exports": ["fuSetup"]}]},
        {"classes": ["com.batch.tts.Main"], "strings": ["https://tts.example.com/v1"]},
        {"permissions": ["android.permission.CAMERA"], "assets": ["assets/model.tflite"]},
        {"classes": ["com.batch.llm.Chat"], "resource_strings": ["本内容由AI生成"]},
        {"native_libs": ["libncnn.so"], "assets": ["assets/realsr.param"]},
        {"classes": ["com.batch.plain.A", "com.batch.plain.B"], "label": "Plain"},
        {"meta_data": {"com.batch.KEY": "v"}, "services": [".Sync"]},
        {"classes": ["com.batch.map.Nav"], "strings": ["语音播报"]},
        {"assets": [{"path": "assets/config.json", "text": '{"url": "https://api.example.cn/x"}'}]},
        {"activities": [".Main", ".Settings"], "receivers": [".Boot"]},
        {"classes": ["com.batch.game.Unity"], "native_libs": ["libunity.so", "libil2cpp.so"]},
    ]
    for i, spec in enumerate(specs):
        p = d / f"built_{i:02d}.apk"
        p.write_bytes(build_apk(spec, package=f"com.batch.app{i}"))
        out.append(p)
    return out


def test_batch_of_20_with_5_hostile(tmp_path: Path, ctx: Context, private_tmp: Path,
                                    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "batch"
    d.mkdir()
    normal = _normal_apks(d)
    hostile = {
        "hog.apk": memory_hog(),  # real input: exceeds the 512 MiB worker limit
        "hang.apk": build_apk({"classes": ["com.batch.Hang"]}),  # the test hook makes its worker hang
        "nested_bomb.apk": nested_zip_bomb(),
        "dex_counts.apk": dex_huge_counts(),
        "elf_tables.apk": elf_bogus_sections(),
    }
    for name, data in hostile.items():
        (d / name).write_bytes(data)
    assert len(normal) == 15 and len(hostile) == 5
    paths = [*normal[:7], *(d / n for n in hostile), *normal[7:]]  # hostile ones in the middle of the batch
    monkeypatch.setenv(ENV_TEST_HOOK, "hang:hang.apk")
    t = time.monotonic()
    rc = main(["scan", "--no-db", "--format", "json", "--timeout", "8", "--max-memory", "512", *map(str, paths)])
    elapsed = time.monotonic() - t
    assert rc == 0
    reports = {Path(r["artifact"]["path"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert len(reports) == 20
    monkeypatch.delenv(ENV_TEST_HOOK)
    for p in normal:  # fully read, and exactly what an in-process scan decides
        r = reports[p.name]
        assert r["errors"] == [], (p.name, r["errors"])
        assert r["decision"]["action"] == scan_path(p, None, ctx).decision.action.value, p.name
    want = {"hog.apk": {"limits", "worker"}, "hang.apk": {"limits"}, "nested_bomb.apk": {"limits"},
            "dex_counts.apk": {"dex"}, "elf_tables.apk": {"elf"}}
    for name, stages in want.items():
        r = reports[name]
        assert r["decision"]["action"] == "needs_review", name
        assert {e["stage"] for e in r["errors"]} & stages, (name, r["errors"])
    assert "longer than 8 s" in reports["hang.apk"]["errors"][0]["message"]
    assert elapsed < 8 + 60  # one timeout plus ordinary reading, never a hang
    assert not list(private_tmp.iterdir())


def test_scan_batch_api_goes_on_after_failures(tmp_path: Path, ctx: Context, private_tmp: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_TEST_HOOK, "crash:b.apk")
    paths = []
    for n in ("a.apk", "b.apk", "c.apk"):
        p = tmp_path / n
        p.write_bytes((FIX / "apk/plain_app.apk").read_bytes())
        paths.append(p)
    seen: list[str] = []
    out = scan_batch(paths, None, ctx, IsolationLimits(timeout=30), on_result=lambda r: seen.append(r.inventory.artifact.path))
    assert [r.decision.action.value for r in out] == ["list", "needs_review", "list"]
    assert seen == [str(p) for p in paths]


def test_python_m_synthreview_scan_in_workers(tmp_path: Path) -> None:
    """A fresh interpreter (``python -m synthreview``, whose __main__ is not import-guarded) starts workers fine."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "TMPDIR": str(tmp_path)}
    env.pop(ENV_TEST_HOOK, None)
    out = subprocess.run([sys.executable, "-m", "synthreview", "scan", "--no-db", "--format", "json", "--timeout", "60",
                          str(FIX / "apk/plain_app.apk"), str(FIX / "apk/demo_faceapp.apk")],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert [r["decision"]["action"] for r in json.loads(out.stdout)] == ["list", "reject"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("synthreview-worker-")]

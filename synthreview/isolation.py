"""Read each artifact in its own worker process, under hard OS limits, so one poisoned upload cannot take
down, hang or fill up the batch it arrives in.

The readers already turn everything they understand into ``ScanError`` values; this module covers what they
cannot: a native crash (lief, zlib, lxml), an allocation that outgrows the machine, an input that makes a
reader spin. Each artifact is read by a fresh child process:

- started through the ``forkserver`` context (never plain ``fork``: the caller may have threads — the
  webhook, rich's progress bar), from a server that has the readers pre-imported, so a child costs
  milliseconds, not an interpreter start;
- in its own session/process group, so the parent can kill it together with anything it forked;
- under ``resource.setrlimit``: ``RLIMIT_AS`` (memory, plus the artifact's size because the artifact is
  memory-mapped read-only), ``RLIMIT_CPU``, ``RLIMIT_FSIZE=0`` (nothing can be written to any file),
  ``RLIMIT_NOFILE`` (modest) and ``RLIMIT_CORE=0`` (a crash writes no core file);
- with a private, empty temp directory as ``TMPDIR`` (removed afterwards), stdout sent to stderr, and no
  secret-looking environment variables (``*SECRET*``, ``*TOKEN*``, ``*PASSW*``, ``*API_KEY*`` …);
- with ``SYNTHREVIEW_NO_FORK=1``, which :mod:`scanner.reader` honours by reading a big APK in this one
  process instead of forking its two-core helper (that helper would need a semaphore file, which
  ``RLIMIT_FSIZE=0`` forbids, and would double the memory the limit is meant to bound).

The parent enforces the wall-clock timeout and kills the child's process group when it passes. Only the
*reading* of hostile bytes happens in the child; it sends back the :class:`~scanner.model.Inventory` as JSON
(:func:`scanner.serialize.to_data`), never a pickle: a compromised child must not be able to run code in the
parent by what it sends. The parent evaluates rules, filings and policy (``evaluate_inventory``) exactly as
for an in-process scan, and a child that crashed, timed out, ran out of memory or sent nothing readable
becomes an Inventory with one ``ScanError`` (stage ``worker`` or ``limits``) evaluated the same way — so the
decision is ``needs_review`` with uniform provenance, and the batch goes on.

Doors: :func:`scan_isolated` / :func:`read_isolated` (a file or folder: ``scan``), :func:`scan_bytes_isolated` /
:func:`read_bytes_isolated` (an upload in memory: the webhook), :func:`scan_batch`.

Limits: ``--max-memory`` / ``$SYNTHREVIEW_MAX_MEMORY`` (MiB, or with an M/G suffix), ``--timeout`` /
``$SYNTHREVIEW_TIMEOUT`` (wall seconds per artifact), ``$SYNTHREVIEW_MAX_CPU`` (CPU seconds per artifact;
default twice the timeout, since a reader uses two threads).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner.model import Artifact, ArtifactKind, Inventory, ScanError
from scanner.zipread import Limits

if TYPE_CHECKING:
    from filings.meta import SubmissionMeta
    from reports.model import ScanResult
    from synthreview.pipeline import Context

log = logging.getLogger(__name__)

ENV_MEMORY = "SYNTHREVIEW_MAX_MEMORY"
ENV_TIMEOUT = "SYNTHREVIEW_TIMEOUT"
ENV_CPU = "SYNTHREVIEW_MAX_CPU"
#: Set inside the worker; :mod:`scanner.reader` then never forks its big-APK helper process.
ENV_NO_FORK = "SYNTHREVIEW_NO_FORK"
#: Test-only: ``hang:<file name>``, ``spin:…``, ``oom:…`` or ``crash:…`` makes the worker reading that
#: artifact sleep, burn CPU, allocate without end, or die by SIGSEGV — to prove the parent copes. It can
#: only turn a result into ``needs_review``, never into anything else.
ENV_TEST_HOOK = "SYNTHREVIEW_TEST_WORKER_HOOK"

DEFAULT_MEMORY_MIB = 4096
DEFAULT_TIMEOUT = 300.0
DEFAULT_OPEN_FILES = 64
#: Largest Inventory JSON accepted from a worker (a bigger one is refused as a limits error).
DEFAULT_RESULT_MIB = 256
#: Modules the fork server imports once, so each worker starts with the readers loaded.
_PRELOAD = ["scanner.reader", "scanner.serialize", "synthreview.isolation"]
#: Environment variables a worker never needs and must not hold (the webhook secret, store tokens …).
_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSW|CREDENTIAL|API_?KEY|PRIVATE|AUTH", re.IGNORECASE)
_SIZE_RE = re.compile(r"\s*([0-9]+)\s*(m|mi|mib|mb|g|gi|gib|gb)?\s*", re.IGNORECASE)


# --- limits --------------------------------------------------------------------------------------------


def parse_mib(text: str) -> int:
    """``2048`` (MiB), ``2048M`` or ``2G`` → MiB; ValueError for anything else or below 64 MiB."""
    m = _SIZE_RE.fullmatch(str(text))
    if not m:
        raise ValueError(f"not a memory size in MiB: {text!r} (e.g. 2048 or 2G)")
    n = int(m.group(1)) * (1024 if (m.group(2) or "m").lower().startswith("g") else 1)
    if n < 64:
        raise ValueError(f"memory limit {n} MiB is below the 64 MiB a reader needs to start")
    return n


def parse_seconds(text: str) -> float:
    """A positive number of seconds; ValueError otherwise."""
    try:
        n = float(str(text).strip())
    except ValueError:
        raise ValueError(f"not a number of seconds: {text!r}") from None
    if not n > 0 or n != n or n == float("inf"):
        raise ValueError(f"seconds must be positive and finite, got {text!r}")
    return n


def mib_arg(text: str) -> int:
    """argparse ``type`` for ``--max-memory`` (a usage error, exit 2, on bad input)."""
    import argparse

    try:
        return parse_mib(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def seconds_arg(text: str) -> float:
    """argparse ``type`` for ``--timeout``."""
    import argparse

    try:
        return parse_seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclass(frozen=True)
class IsolationLimits:
    """Per-artifact limits of the worker process (documented in the README, "Resource limits")."""

    memory_mib: int = DEFAULT_MEMORY_MIB  # RLIMIT_AS, plus the artifact's size (it is mapped read-only)
    timeout: float = DEFAULT_TIMEOUT  # wall seconds, enforced by the parent (kills the process group)
    cpu_seconds: int | None = None  # RLIMIT_CPU; None: 2 x timeout (a reader runs two threads)
    open_files: int = DEFAULT_OPEN_FILES  # RLIMIT_NOFILE
    result_mib: int = DEFAULT_RESULT_MIB  # largest Inventory JSON taken from a worker

    @property
    def cpu(self) -> int:
        """The CPU-seconds limit in force."""
        return self.cpu_seconds if self.cpu_seconds is not None else max(1, int(2 * self.timeout + 1))

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        memory_mib: int | str | None = None,
        timeout: float | str | None = None,
        cpu_seconds: int | str | None = None,
    ) -> IsolationLimits:
        """Explicit values (CLI flags) over ``$SYNTHREVIEW_MAX_MEMORY`` / ``_TIMEOUT`` / ``_MAX_CPU`` over defaults.

        Raises ValueError naming the flag or variable when a value is malformed.
        """
        env = os.environ if environ is None else environ
        out = cls()
        mem = memory_mib if memory_mib is not None else env.get(ENV_MEMORY) or None
        if mem is not None:
            try:
                out = replace(out, memory_mib=mem if isinstance(mem, int) else parse_mib(mem))
            except ValueError as exc:
                raise ValueError(f"{'--max-memory' if memory_mib is not None else '$' + ENV_MEMORY}: {exc}") from None
        tmo = timeout if timeout is not None else env.get(ENV_TIMEOUT) or None
        if tmo is not None:
            try:
                out = replace(out, timeout=parse_seconds(str(tmo)))
            except ValueError as exc:
                raise ValueError(f"{'--timeout' if timeout is not None else '$' + ENV_TIMEOUT}: {exc}") from None
        cpu = cpu_seconds if cpu_seconds is not None else env.get(ENV_CPU) or None
        if cpu is not None:
            try:
                out = replace(out, cpu_seconds=max(1, int(parse_seconds(str(cpu)) + 0.999)))
            except ValueError as exc:
                raise ValueError(f"${ENV_CPU}: {exc}") from None
        return out


# --- the worker (child side) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    path: str
    limits: Limits
    wxapkg_appid: str | None
    iso: IsolationLimits
    workdir: str  # private, empty: TMPDIR of the worker, removed afterwards
    cwd: str  # the caller's working directory now (relative paths resolve as in-process)
    address_space: int  # bytes for RLIMIT_AS
    test_hook: str | None = None
    data: bytes | None = None  # an in-memory artifact (webhook upload): ``path`` is then its name


def _set_limit(res: int, soft: int, hard: int | None = None) -> None:
    import resource

    hard = soft if hard is None else hard
    cur_soft, cur_hard = resource.getrlimit(res)
    if cur_hard != resource.RLIM_INFINITY:  # never ask for more than we may have
        hard = min(hard, cur_hard)
        soft = min(soft, hard)
    resource.setrlimit(res, (soft, hard))


def _confine(job: _Job) -> None:
    """Everything the child does to itself before it touches the artifact."""
    import resource

    try:
        os.setsid()  # own session and process group: the parent kills the group
    except OSError:
        pass
    try:  # die with the fork server (and so with the parent) instead of lingering as an orphan
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except Exception:  # not Linux, or no libc symbol: the CPU limit still bounds an orphan
        pass
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past RLIMIT_FSIZE fails with EFBIG, not a kill
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when a worker stops
    os.dup2(2, 1)  # stdout carries the caller's report: nothing from a worker may land there
    try:
        os.chdir(job.cwd)  # a forkserver child starts in the server's directory, not the caller's current one
    except OSError:
        os.chdir(job.workdir)
    for key in [k for k in os.environ if _SECRET_NAME.search(k)]:
        del os.environ[key]  # nothing an artifact makes a reader do can then log or pass them on
    os.environ["TMPDIR"] = job.workdir
    os.environ[ENV_NO_FORK] = "1"
    tempfile.tempdir = job.workdir
    sys.dont_write_bytecode = True
    _set_limit(resource.RLIMIT_CORE, 0)
    _set_limit(resource.RLIMIT_FSIZE, 0)
    _set_limit(resource.RLIMIT_NOFILE, job.iso.open_files)
    cpu = job.iso.cpu
    _set_limit(resource.RLIMIT_CPU, cpu, cpu + 5)  # SIGXCPU at the soft limit, SIGKILL 5 s later
    try:
        _set_limit(resource.RLIMIT_AS, job.address_space)
    except (ValueError, OSError):  # a platform without RLIMIT_AS (macOS): the data segment limit is the nearest
        _set_limit(resource.RLIMIT_DATA, job.address_space)


def _test_hook(job: _Job) -> None:
    hook = job.test_hook or ""
    what, _, name = hook.partition(":")
    if not name or name != Path(job.path).name:
        return
    if what == "hang":
        while True:
            time.sleep(3600)
    elif what == "oom":
        hog = []
        while True:
            hog.append(bytearray(16 * 1024**2))
    elif what == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif what == "spin":
        while True:
            pass


def _worker(conn: Connection, job: _Job) -> None:
    """Child entry point: confine, read, send the Inventory as JSON bytes."""
    name = Path(job.path).name or job.path
    art = Artifact(job.path, "", ArtifactKind.UNKNOWN, 0)
    try:
        _confine(job)
        _test_hook(job)
        from scanner.reader import read_artifact
        from scanner.serialize import to_data

        if job.data is not None:
            from scanner.reader import read_bytes

            inv = read_bytes(job.path, job.data, job.limits, job.wxapkg_appid)
        else:
            inv = read_artifact(job.path, job.limits, job.wxapkg_appid)
        art = inv.artifact
        if any(e.message.startswith("MemoryError") for e in inv.errors):
            inv = replace(inv, errors=(*inv.errors, _memory_error(name, job.iso)))
        payload = json.dumps(to_data(inv), ensure_ascii=False).encode("utf-8")
    except MemoryError:
        payload = _error_payload(art, _memory_error(name, job.iso))
    except BaseException as exc:  # noqa: BLE001 - whatever happens here must reach the parent as an error
        payload = _error_payload(art, ScanError("worker", name, f"reader process failed: {type(exc).__name__}: {exc}"[:500]))
    try:
        conn.send_bytes(payload)
    except (OSError, ValueError, MemoryError):
        pass
    finally:
        conn.close()


def _memory_error(name: str, iso: IsolationLimits) -> ScanError:
    return ScanError("limits", name, f"the reader ran out of memory (limit {iso.memory_mib} MiB)")


def _error_payload(art: Artifact, err: ScanError) -> bytes:
    from scanner.serialize import to_data

    return json.dumps(to_data(Inventory(artifact=art, errors=(err,)))).encode("utf-8")


# --- the parent side -----------------------------------------------------------------------------------

_CTX_LOCK = threading.Lock()
_MP_CTX: Any = None


def _mp_context() -> Any:
    """The forkserver context (readers preloaded); spawn where forkserver does not exist."""
    global _MP_CTX
    with _CTX_LOCK:
        if _MP_CTX is None:
            try:
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(_PRELOAD)
            except ValueError:
                ctx = multiprocessing.get_context("spawn")
            _MP_CTX = ctx
        return _MP_CTX


def start_server() -> None:
    """Start the fork server now instead of at the first scan (its socket lives in the temp dir of that moment)."""
    if _mp_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _artifact_stub(path: Path) -> Artifact:
    """Identity of an artifact whose worker gave nothing back: path, size and (for files) the sha256."""
    sha, size = "", 0
    try:
        if path.is_file():
            size = path.stat().st_size
            with open(path, "rb") as f:
                sha = hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        pass
    return Artifact(str(path), sha, ArtifactKind.UNKNOWN, size)


def _kill_group(proc: Any) -> None:
    pid = proc.pid
    if pid is None:
        return
    try:
        os.killpg(pid, signal.SIGKILL)  # the worker's own group (setsid), so its helpers die too
    except (ProcessLookupError, PermissionError, OSError):
        pass
    try:
        proc.kill()
    except (OSError, ValueError, AttributeError):
        pass


def _describe_exit(code: int | None, iso: IsolationLimits) -> ScanError | None:
    if code is None or code == 0:
        return None
    if code < 0:
        sig = -code
        try:
            sname = signal.Signals(sig).name
        except ValueError:
            sname = f"signal {sig}"
        if sig == signal.SIGXCPU:
            return ScanError("limits", "", f"the reader process used more than {iso.cpu} s of CPU time and was stopped")
        if sig == signal.SIGKILL:
            return ScanError("worker", "", f"the reader process was killed ({sname}); out of memory or killed from outside")
        return ScanError("worker", "", f"the reader process crashed ({sname}) on this artifact (hostile or corrupt input)")
    return ScanError("worker", "", f"the reader process exited with status {code} without a result")


def read_isolated(
    path: str | os.PathLike[str],
    limits: Limits | None = None,
    wxapkg_appid: str | None = None,
    iso: IsolationLimits | None = None,
) -> Inventory:
    """``scanner.reader.read_artifact`` in a confined worker process; never raises for anything the artifact does."""
    p = Path(path)
    try:
        mapped = p.stat().st_size if p.is_file() else 0  # the worker maps the file: room for it in RLIMIT_AS
    except OSError:
        mapped = 0
    return _run(str(p), p.name or str(p), limits, wxapkg_appid, iso, mapped, None, lambda: _artifact_stub(p))


def read_bytes_isolated(
    name: str,
    data: bytes,
    limits: Limits | None = None,
    wxapkg_appid: str | None = None,
    iso: IsolationLimits | None = None,
) -> Inventory:
    """``scanner.reader.read_bytes`` in a confined worker (webhook uploads): the bytes travel to the worker,
    nothing is written to disk; the Inventory is the same as an in-process ``read_bytes``."""
    def stub() -> Artifact:
        return Artifact(name, hashlib.sha256(data).hexdigest(), ArtifactKind.UNKNOWN, len(data))

    # The worker holds the bytes twice at most (received copy and the reader's view of them).
    return _run(name, name, limits, wxapkg_appid, iso, 2 * len(data), data, stub)


def _run(
    path: str,
    name: str,
    limits: Limits | None,
    wxapkg_appid: str | None,
    iso: IsolationLimits | None,
    extra_space: int,
    data: bytes | None,
    stub: Callable[[], Artifact],
) -> Inventory:
    from scanner.serialize import from_data

    iso = iso or IsolationLimits()
    limits = limits or Limits()
    # The reader's own (cooperative) time budget ends before the hard kill, so a slow artifact comes back
    # with what was read plus a limits error instead of nothing.
    limits = replace(limits, max_seconds=min(limits.max_seconds, max(1.0, iso.timeout * 0.8)))
    workdir = tempfile.mkdtemp(prefix="synthreview-worker-")
    job = _Job(path, limits, wxapkg_appid, iso, workdir, os.getcwd(), iso.memory_mib * 1024**2 + extra_space,
               os.environ.get(ENV_TEST_HOOK) or None, data)
    mp = _mp_context()
    reader, writer = mp.Pipe(duplex=False)
    proc = mp.Process(target=_worker, args=(writer, job), name=f"synthreview-read:{name}", daemon=True)
    payload: bytes | None = None
    problem: ScanError | None = None
    started = time.monotonic()
    try:
        proc.start()
        writer.close()
        deadline = started + iso.timeout
        while payload is None and problem is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                problem = ScanError("limits", name, f"reading took longer than {iso.timeout:g} s; the reader process was killed")
                break
            ready = wait([reader, proc.sentinel], remaining)
            if reader in ready:
                # A worker that stalls half-way through its message is killed at the deadline (EOF here).
                timer = threading.Timer(max(0.1, deadline - time.monotonic()), _kill_group, (proc,))
                timer.daemon = True
                timer.start()
                try:
                    payload = reader.recv_bytes(iso.result_mib * 1024**2)
                except EOFError:
                    if time.monotonic() >= deadline:
                        problem = ScanError("limits", name,
                                            f"reading took longer than {iso.timeout:g} s; the reader process was killed")
                    break
                except OSError as exc:  # message longer than maxlength, or a broken pipe
                    problem = ScanError("limits", name, f"the reader's result was refused: {exc}")
                finally:
                    timer.cancel()
            elif proc.sentinel in ready and not reader.poll(0):
                break
    except Exception as exc:  # could not even start a worker: fail closed for this artifact
        log.exception("isolated read of %s failed", path)
        problem = ScanError("worker", name, f"could not run the reader process: {type(exc).__name__}: {exc}")
    finally:
        if proc.pid is not None:
            proc.join(0.5 if payload is not None else 0.05)
            if payload is None or proc.is_alive():
                _kill_group(proc)
            proc.join(5)
        reader.close()
        shutil.rmtree(workdir, ignore_errors=True)
    if payload is not None and problem is None:
        try:
            inv = from_data(Inventory, json.loads(payload.decode("utf-8")))
            if not isinstance(inv, Inventory) or not isinstance(inv.artifact, Artifact):
                raise TypeError("not an Inventory")
            return inv
        except Exception as exc:
            problem = ScanError("worker", name, f"the reader process sent an unreadable result: {type(exc).__name__}")
    if problem is None:
        problem = _describe_exit(proc.exitcode, iso) or ScanError(
            "worker", name, "the reader process ended without a result"
        )
    if not problem.locator:
        problem = replace(problem, locator=name)
    log.warning("reader process for %s: %s: %s", name, problem.stage, problem.message)
    return Inventory(artifact=stub(), errors=(problem,))


def scan_isolated(
    path: str | os.PathLike[str], meta: SubmissionMeta | None, ctx: Context, iso: IsolationLimits | None = None
) -> ScanResult:
    """``synthreview.pipeline.scan_path`` with the reading confined to a worker process."""
    from synthreview.pipeline import evaluate_inventory

    appid = meta.wxapkg_appid if meta else None
    return evaluate_inventory(read_isolated(path, ctx.limits, appid, iso), meta, ctx)


def scan_bytes_isolated(
    name: str, data: bytes, meta: SubmissionMeta | None, ctx: Context, iso: IsolationLimits | None = None
) -> ScanResult:
    """``synthreview.pipeline.scan_bytes`` with the reading confined to a worker process (for the webhook)."""
    from synthreview.pipeline import evaluate_inventory

    appid = meta.wxapkg_appid if meta else None
    return evaluate_inventory(read_bytes_isolated(name, data, ctx.limits, appid, iso), meta, ctx)


def scan_batch(
    paths: Iterable[str | os.PathLike[str]],
    meta: SubmissionMeta | None,
    ctx: Context,
    iso: IsolationLimits | None = None,
    on_result: Callable[[ScanResult], None] | None = None,
) -> list[ScanResult]:
    """Scan every path, one confined worker each; a failed artifact is a ``needs_review`` result, never a stop."""
    iso = iso or IsolationLimits.from_env()
    out: list[ScanResult] = []
    for p in paths:
        r = scan_isolated(p, meta, ctx, iso)
        out.append(r)
        if on_result is not None:
            on_result(r)
    return out

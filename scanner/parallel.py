"""Reading one big APK on both cores: a forked worker process takes part of the DEX and native code.

DEX string decoding, lief and string scanning hold the GIL, so threads cannot overlap them; a second
process can. The worker re-opens the file read-only by path, reads only the members it was given, hashes
the whole file, and returns plain dataclasses. It is forked before any thread starts (fork-safety), and a
crash or hang in it (hostile input) becomes a ``ScanError`` — never a crash of the caller.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from scanner.errors import ReadError
from scanner.model import DexFile, Entry, Located, NativeLib, ScanError, ScanNote, StringsOfInterest
from scanner.zipread import Budget, Limits, Member, ZipArchive

#: Below this many bytes of DEX + native code, forking costs more than it saves.
PARALLEL_MIN_BYTES = 8 * 1024**2


def enabled() -> bool:
    """Opt-in with ``SYNTHREVIEW_PARALLEL=1``, and then only while the machine is not saturated (load < cores).

    Off by default since the code members inflate and hash on native threads (``ZipArchive.read_async``):
    measured with bench/bench_inventory.py's machine, Yosemite.apk (24.6 MB) took 160 ms in one process and
    209 ms with this worker; a 56 MB build of it with four times the code, 545 ms and 606 ms (medians)."""
    if os.environ.get("SYNTHREVIEW_PARALLEL", "0") != "1":
        return False
    try:
        return os.getloadavg()[0] < (os.cpu_count() or 1)
    except OSError:
        return True


@dataclass(frozen=True)
class WorkerResult:
    """What the worker read."""

    sha256: str
    dex: tuple[DexFile, ...]
    native_libs: tuple[NativeLib, ...]
    entries: tuple[Entry, ...]
    strings: StringsOfInterest
    errors: tuple[ScanError, ...]
    notes: tuple[ScanNote, ...]
    bytes_used: int


def split_work(members: list[Member], dex_names: set[str]) -> list[str]:
    """Member names for the worker: a size-balanced share of the DEX and native libraries (plus the file hash)."""
    heavy = sorted((m for m in members if m.name in dex_names or m.name.endswith(".so")), key=lambda m: -m.usize)
    total = sum(m.usize for m in heavy)
    # The main process also walks every other entry, manifest and resources: the worker takes more of the code.
    target = total * 0.5
    mine: list[str] = []
    acc = 0
    for m in heavy:
        if acc + m.usize <= target or not mine and len(heavy) > 1:
            mine.append(m.name)
            acc += m.usize
    return mine


def _worker(path: str, locator: str, names: list[str], limits: Limits) -> WorkerResult:
    from scanner.apk import AndroidWalker, AppAccumulator

    with open(path, "rb") as f:
        sha = hashlib.file_digest(f, "sha256").hexdigest()
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            budget = Budget(limits)
            acc = AppAccumulator(budget)
            walker = AndroidWalker(acc)
            za = ZipArchive(buf, locator, budget)
            wanted = set(names)
            for m in za.members:
                if m.name not in wanted:
                    continue
                loc = f"{locator}!{m.name}"
                try:
                    if m.name.endswith(".so"):
                        walker._elf(za, m, loc)
                    else:
                        walker._dex(za, m, loc)
                except ReadError as exc:
                    acc.error(exc, loc, "read")
            return WorkerResult(sha, tuple(acc.dex), tuple(acc.native_libs), tuple(acc.entries), acc.strings.result(),
                                tuple(acc.errors), tuple(za.notes) + tuple(acc.notes), budget.bytes_used)


def start_worker(path: str, locator: str, names: list[str], limits: Limits) -> tuple[ProcessPoolExecutor, object]:
    """Fork the worker now (call before starting any thread) and submit its job."""
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
    return pool, pool.submit(_worker, path, locator, names, limits)


def collect(pool: ProcessPoolExecutor, future, locator: str, timeout: float) -> WorkerResult | ScanError:  # type: ignore[no-untyped-def]
    """The worker's result, or a ScanError when it crashed or ran out of time."""
    try:
        return future.result(timeout=timeout)
    except BrokenProcessPool:
        return ScanError("worker", locator, "the reader process died on this package (hostile or corrupt input)")
    except TimeoutError:
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.kill()
        return ScanError("limits", locator, f"the reader process took longer than {timeout:.0f} s")
    except ReadError as exc:
        return ScanError(exc.stage, exc.locator or locator, exc.message)
    except Exception as exc:
        return ScanError("worker", locator, f"{type(exc).__name__}: {exc}")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def merge_strings(target, strings: StringsOfInterest) -> None:  # type: ignore[no-untyped-def]
    """Add a worker's strings of interest into the main StringCollector (keeps de-duplication)."""
    for kind in ("urls", "hosts", "filings", "beian_links", "aigc_markers", "labels"):
        for x in getattr(strings, kind):
            assert isinstance(x, Located)
            target._add(kind, x.value, x.locator)

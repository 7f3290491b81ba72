"""Shared helpers for the benchmark harness: machine note, inputs, timing."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "cache"
SHARED = ROOT.parent / "shared" / "samples"


def machine_note() -> str:
    """CPU model, cores, memory and Python: the machine line every result carries."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def yosemite() -> Path:
    """Yosemite.apk (24.6 MB, 2 DEX) from the PyPI sdist of airtest 1.4.3; downloaded once into bench/cache."""
    target = CACHE / "Yosemite.apk"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "airtest==1.4.3", "--no-deps", "--no-binary", ":all:",
                    "-d", str(CACHE), "-q"], check=True)
    sdist = next(CACHE.glob("airtest-1.4.3*.tar.gz"))
    with tarfile.open(sdist) as tf:
        member = tf.getmember("airtest-1.4.3/airtest/core/android/static/apks/Yosemite.apk")
        data = tf.extractfile(member)
        assert data is not None
        target.write_bytes(data.read())
    return target


def sample_apks() -> list[Path]:
    """The ordinary and obfuscated sample APKs from ../shared (empty when absent)."""
    return sorted((SHARED / "apk" / "ordinary").glob("*.apk")) + sorted((SHARED / "apk" / "obfuscated").glob("*.apk"))


#: ``--clean-heap`` in a harness: collect garbage (untimed) before every timed call, so that no call pays for
#: cyclic garbage an earlier one left (androguard leaves a lot, and collecting it lands on whoever runs next).
CLEAN_HEAP = False


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        if CLEAN_HEAP:
            gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)

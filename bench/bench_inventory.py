"""Inventory extraction vs androguard's DEX class listing, alternating in one run (issue #2, acceptance 4).

    .venv/bin/python bench/bench_inventory.py [--write] [--clean-heap]

Per APK: median time of ``scanner.reader.read_artifact`` vs androguard ``APK()`` + ``DEX(d).get_classes()``
over every DEX, their ratio and the median ratio; on Yosemite.apk also the time to merely inflate its DEX
entries (zipfile) alternated with the inventory, and the peak RSS of one inventory in a fresh process
(worker process included).

``--clean-heap`` collects garbage (untimed) before every timed call: androguard leaves a great deal of cyclic
garbage, and without it whichever call runs next pays for collecting it (a sensitivity check of the baseline;
both figures go into BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, best_of, machine_note, sample_apks, yosemite  # noqa: E402


def androguard_classes(path: Path) -> int:
    from androguard.core.apk import APK
    from androguard.core.dex import DEX

    apk = APK(str(path))
    n = 0
    for data in apk.get_all_dex():
        n += len([c.get_name() for c in DEX(data).get_classes()])
    return n


def inflate_dex(path: Path) -> int:
    z = zipfile.ZipFile(path)
    return sum(len(z.read(n)) for n in z.namelist() if re.match(r"^classes\d*\.dex$", n))


def peak_rss_mib(path: Path) -> float:
    """Peak RSS of one inventory in a fresh process, from /proc/self/status VmHWM (ru_maxrss would include the
    parent's pages forked before exec)."""
    code = (
        "import sys; sys.path.insert(0, %r); from scanner.reader import read_artifact; read_artifact(%r); "
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])" % (str(ROOT), str(path))
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true", help="append the result to BENCHMARKS.md")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--clean-heap", action="store_true",
                    help="collect garbage (untimed) before every timed call: a sensitivity check of the baseline")
    args = ap.parse_args()
    import bench.common as common

    common.CLEAN_HEAP = args.clean_heap
    from loguru import logger

    logger.disable("androguard")
    from scanner.reader import read_artifact

    apks = sample_apks() + [yosemite()]
    read_artifact(apks[-1])  # warm imports and caches once
    rows = []
    for p in apks:
        ours: list[float] = []
        theirs: list[float] = []
        rep = 1 if p.stat().st_size > 10_000_000 else args.repeat
        for _ in range(rep):  # alternate, so both see the same machine state
            theirs.append(best_of(lambda: androguard_classes(p), 1))
            ours.append(best_of(lambda: read_artifact(p), 3 if rep == 1 else 1))
        a, b = statistics.median(theirs), statistics.median(ours)
        rows.append((p.name, p.stat().st_size, a, b, a / b))
    y = apks[-1]
    inflate, inv = [], []
    for _ in range(9):
        inflate.append(best_of(lambda: inflate_dex(y), 1))
        inv.append(best_of(lambda: read_artifact(y), 1))
    rss = peak_rss_mib(y)
    med_ratio = statistics.median(r[4] for r in rows)
    t_inflate, t_inv = statistics.median(inflate), statistics.median(inv)
    lines = [
        f"### Inventory vs androguard DEX class listing ({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `.venv/bin/python bench/bench_inventory.py{' --clean-heap' if args.clean_heap else ''}`  ",
        f"Machine: {machine_note()}",
        "",
        "| APK | size | androguard DEX classes (s) | synthreview inventory (s) | speed-up |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, size, a, b, r in rows:
        lines.append(f"| {name} | {size:,} | {a:.3f} | {b:.4f} | {r:.1f}× |")
    lines += [
        "",
        f"- Median speed-up over {len(rows)} APKs: **{med_ratio:.1f}×** (target ≥ 30×).",
        f"- Yosemite.apk: inflating its DEX entries {t_inflate:.3f} s, whole inventory {t_inv:.3f} s → "
        f"**{t_inv / t_inflate:.2f}×** (target ≤ 3×); medians of 9 alternating runs.",
        f"- Yosemite.apk peak RSS of one inventory in a fresh process (VmHWM): **{rss:.0f} MiB** (target ≤ 250 MiB).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        with open(ROOT / "BENCHMARKS.md", "a", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Rule matching speed (issue #3, acceptance 5).

    .venv/bin/python bench/bench_matching.py [--write]

1. The full pack against a synthetic Inventory of 200,000 class names and 500,000 strings (index built once
   per pack, as in a batch; the one-off build time is reported separately).
2. Whole scan of Yosemite.apk (inventory + rules) vs the inventory alone, alternating.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, best_of, machine_note, yosemite  # noqa: E402


def synthetic_inventory(n_classes: int = 200_000, n_strings: int = 500_000):  # type: ignore[no-untyped-def]
    from scanner.model import Artifact, ArtifactKind, DexFile, Inventory

    rnd = random.Random(7)
    words = ["app", "core", "util", "net", "ui", "data", "model", "view", "http", "cache", "image", "video", "auth",
             "log", "db", "io", "json", "task", "sync", "media", "audio", "text", "render", "base", "common"]
    vendors = ["com.tencent", "com.alibaba", "com.baidu", "com.google", "androidx", "okhttp3", "com.example.shop",
               "io.reactivex", "kotlin", "com.squareup", "com.bytedance", "com.meituan"]
    classes = set()
    while len(classes) < n_classes:
        pkg = rnd.choice(vendors) + "." + ".".join(rnd.choice(words) for _ in range(rnd.randint(1, 4)))
        classes.add(f"{pkg}.{rnd.choice(words).capitalize()}{rnd.randint(0, 9999)}")
    strings = [f"{rnd.choice(words)}_{rnd.randint(0, 10**6)}_{rnd.choice(words)}" for _ in range(n_strings - 4)]
    strings += ["https://api.example.com/v1/items", "dashscope.aliyuncs.com", "网信算备110108823483901230015号", "libfoo"]
    dex = DexFile("synthetic.apk!classes.dex", 0, "", "035", tuple(sorted(classes)), (), tuple(strings))
    return Inventory(artifact=Artifact("synthetic.apk", "", ArtifactKind.APK, 0), dex=(dex,))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    from rules.loader import default_pack
    from rules.matcher import compile_pack, evaluate
    from scanner.reader import read_artifact
    from synthreview.pipeline import Context, evaluate_inventory

    pack = default_pack()
    inv = synthetic_inventory()
    t = time.perf_counter()
    compile_pack(pack)
    t_compile = time.perf_counter() - t
    evaluate(inv, pack)  # warm the per-pack index cache
    t_match = best_of(lambda: evaluate(inv, pack), 5)
    y = yosemite()
    ctx = Context.default()
    read_artifact(y)
    inv_times, full_times = [], []
    for _ in range(7):
        inv_times.append(best_of(lambda: read_artifact(y), 1))
        full_times.append(best_of(lambda: evaluate_inventory(read_artifact(y), None, ctx), 1))
    ti, tf = statistics.median(inv_times), statistics.median(full_times)
    text = "\n".join([
        f"### Rule matching ({time.strftime('%Y-%m-%d')})",
        "",
        "Command: `.venv/bin/python bench/bench_matching.py`  ",
        f"Machine: {machine_note()}",
        "",
        f"- Full pack ({len(pack.rules)} rules) against 200,000 class names + 500,000 strings: **{t_match:.3f} s** "
        f"(median of 5; target < 0.2 s). Building the pack's index once: {t_compile:.3f} s.",
        f"- Yosemite.apk: inventory alone {ti:.3f} s, whole scan with rules, filings and policy {tf:.3f} s → "
        f"**{tf / ti:.2f}×** (target ≤ 1.5×; medians of 7 alternating runs).",
        "",
    ])
    print(text)
    if args.write:
        with open(ROOT / "BENCHMARKS.md", "a", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``synthreview rescan --all`` over 10,000 stored inventories (issue #7, acceptance 3).

    .venv/bin/python bench/bench_rescan.py [--n 10000] [--workers 2] [--db PATH]

Builds N Inventory objects in code (a few hundred classes, DEX strings, native libs, entries, URLs, a
certificate and a manifest each; ~25% carry FaceUnity evidence and declare the 剪映特效算法 filing, some add a TTS
SDK in a later version, a few call an LLM API), spread over apps with one to three versions, and records them
in a temp DB under the registry imported from the seed deep-synthesis rows. Then a CAC cancellation list
cancelling that filing is imported and ``synthreview rescan --all`` is timed as a user runs it (a fresh
process, JSON report to /dev/null), followed by ``rescan --changed`` (nothing left to do).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, machine_note  # noqa: E402
from filings.meta import Assessment, Channel, SubmissionMeta  # noqa: E402
from scanner.model import (  # noqa: E402
    Artifact,
    ArtifactKind,
    Certificate,
    DexFile,
    Entry,
    Inventory,
    Located,
    Manifest,
    NativeLib,
    StringsOfInterest,
)

JIANYING = "网信算备110108823483901230015号"
DOUYIN = "北京抖音信息服务有限公司"
DS_HEADER = ["序号", "算法名称", "角色", "主体名称", "应用产品", "主要用途", "备案编号", "备注"]
PREFIXES = (
    "androidx.appcompat.app", "androidx.core.view", "androidx.recyclerview.widget", "androidx.lifecycle",
    "com.google.gson.internal", "okhttp3.internal.http", "retrofit2.converter", "com.bumptech.glide.load",
    "kotlin.collections", "kotlinx.coroutines.flow", "com.tencent.mm.opensdk.modelmsg", "com.alipay.sdk.app",
    "com.umeng.analytics", "io.reactivex.internal.operators", "com.squareup.picasso", "org.json.simple",
)
LIBS = ("libc++_shared.so", "libmmkv.so", "libsqlcipher.so", "libcrashlytics.so", "libpl_droidsonroids_gif.so",
        "libimagepipeline.so", "libjpeg-turbo.so", "libtensorflowlite_jni.so", "libncnn.so")
HOSTS = ("api.example.com", "cdn.example.net", "log.umeng.com", "pay.alipay.com", "graph.qq.com", "img.example.cn")


def make_inventory(k: int, n: int) -> tuple[Inventory, SubmissionMeta]:
    """Inventory number ``k`` of ``n``: 60% of them are 3 versions of one app, the rest single-version apps."""
    multi = int(n * 0.6) // 3 * 3
    app_no, version = (k // 3, k % 3) if k < multi else (multi // 3 + (k - multi), 0)
    app_rnd = random.Random(app_no)
    rnd = random.Random(k * 7919 + 1)
    package = f"com.bench.app{app_no:05d}"
    profile = app_rnd.random()
    face = profile < 0.25
    tts = face and app_rnd.random() < 0.3 and version >= 2  # a TTS SDK arrives in version 3
    llm = 0.25 <= profile < 0.30
    classes = [f"{rnd.choice(PREFIXES)}.{chr(65 + rnd.randrange(26))}{rnd.randrange(10**6):06d}" for _ in range(300)]
    classes += [f"{package}.ui.Screen{j}" for j in range(rnd.randrange(20, 60))]
    strings = [f"msg_{rnd.randrange(10**8):08d}" for _ in range(rnd.randrange(100, 200))]
    libs = [NativeLib(f"app.apk!lib/arm64-v8a/{name}", "arm64-v8a", name, rnd.randrange(10**4, 10**6), f"{k:064x}",
                      ("libc.so", "libm.so"), tuple(f"Java_{package.replace('.', '_')}_f{j}" for j in range(5)))
            for name in rnd.sample(LIBS, rnd.randrange(2, 5))]
    urls = [Located(f"https://{rnd.choice(HOSTS)}/v{rnd.randrange(3)}/{rnd.randrange(1000)}", "app.apk!classes.dex")
            for _ in range(rnd.randrange(5, 20))]
    filings: list[Located] = []
    if face:
        classes += ["com.faceunity.wrapper.faceunity", "com.faceunity.core.FURenderKit"]
        libs += [NativeLib(f"app.apk!lib/arm64-v8a/{s}", "arm64-v8a", s, 4_000_000, f"{k + 1:064x}", ("libc.so",),
                           ("Java_com_faceunity_wrapper_faceunity_fuSetup",)) for s in ("libCNamaSDK.so", "libfuai.so")]
        filings.append(Located(JIANYING, "app.apk!classes.dex"))
        urls.append(Located("https://beian.cac.gov.cn/#/index", "app.apk!classes.dex"))
    if tts:
        classes += ["com.baidu.tts.client.SpeechSynthesizer", "com.baidu.tts.client.TtsMode"]
        libs.append(NativeLib("app.apk!lib/arm64-v8a/libbd_etts.so", "arm64-v8a", "libbd_etts.so", 900_000,
                              f"{k + 2:064x}", ("libc.so",), ()))
    if llm:
        urls.append(Located("https://api.openai.com/v1/chat/completions", "app.apk!classes.dex"))
    entries = [Entry(f"app.apk!res/drawable/i{j}.png", rnd.randrange(100, 10**5), "png")
               for j in range(rnd.randrange(60, 150))]
    entries += [Entry(lib.path, lib.size, "elf") for lib in libs]
    name = app_rnd.choice(["剪映", "轻颜", "西瓜视频"]) if face else f"Bench App {app_no}"
    vname = f"{1 + version}.0"
    inv = Inventory(
        artifact=Artifact(f"/bench/{package}-{vname}.apk", hashlib.sha256(f"bench-{k}".encode()).hexdigest(),
                          ArtifactKind.APK, rnd.randrange(10**6, 10**8),
                          package, vname, name),
        manifest=Manifest(package=package, version_name=vname, version_code=str(100 + version), label=name,
                          min_sdk="21", target_sdk="33",
                          permissions=tuple(f"android.permission.P{j}" for j in range(rnd.randrange(8, 20))),
                          activities=tuple(f"{package}.ui.Screen{j}" for j in range(rnd.randrange(5, 15)))),
        certificates=(Certificate("v2", "CN=Android, O=Bench, C=US", "CN=Android, O=Bench, C=US", f"{app_no:064x}"),),
        dex=(DexFile("app.apk!classes.dex", 4_000_000, f"{k:064x}", "035", tuple(sorted(set(classes))), (),
                     tuple(strings)),),
        native_libs=tuple(libs),
        entries=tuple(entries),
        strings=StringsOfInterest(urls=tuple(urls), hosts=tuple(Located(h, "app.apk!classes.dex") for h in HOSTS[:3]),
                                  filings=tuple(filings),
                                  beian_links=tuple(u for u in urls if "beian.cac.gov.cn" in u.value)),
    )
    if face:
        meta = SubmissionMeta(app_name=name, developer=DOUYIN, app_id=package, declares_aigc=True, filings=(JIANYING,),
                              assessments=(Assessment("A-1", "全国互联网安全管理服务平台", date(2025, 5, 1),
                                                      ("face_manipulation",)),),
                              channel=Channel.LISTED)
    else:
        meta = SubmissionMeta(app_name=name, app_id=package, channel=Channel.LISTED)
    return inv, meta


_CTX = None


def _init(db: str) -> None:
    global _CTX
    import sqlite3

    import sqlite_utils

    from synthreview.rescan import build_context

    _CTX = build_context(sqlite_utils.Database(sqlite3.connect(Path(db).resolve().as_uri() + "?mode=ro", uri=True)))


def _gen(args: tuple[int, int, int]):  # type: ignore[no-untyped-def]
    from synthreview.pipeline import evaluate_inventory
    from synthreview.store import prepare

    start, stop, n = args
    out = []
    for k in range(start, stop):
        inv, meta = make_inventory(k, n)
        out.append(prepare(evaluate_inventory(inv, meta, _CTX)))
    return out


def seed_ds_csv(path: Path) -> Path:
    """The seed deep-synthesis rows (real CAC rows, filings.md §5) as a .csv list."""
    seed = json.loads((ROOT / "filings" / "data" / "seed_registry.json").read_text(encoding="utf-8"))
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(DS_HEADER)
        for b in seed["batches"]:
            if b["kind"] == "deep_synthesis":
                for r in b["rows"]:
                    w.writerow([r.get(h, "") for h in DS_HEADER])
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--db", help="keep the generated DB here (default: a temp dir, removed)")
    a = ap.parse_args()

    from filings.registry import import_file
    from synthreview.store import Store

    tmp = tempfile.TemporaryDirectory(prefix="bench_rescan_")
    db = a.db or str(Path(tmp.name) / "bench.db")
    if os.path.exists(db):
        sys.exit(f"{db} exists; pass a new path")
    print(f"machine: {machine_note()}")
    t0 = time.perf_counter()
    with Store.open(db) as store:
        import_file(store.db, seed_ds_csv(Path(tmp.name) / "deep_synthesis_seed.csv"))
    chunks = [(i, min(i + 250, a.n), a.n) for i in range(0, a.n, 250)]
    mp = multiprocessing.get_context("fork")
    with Store.open(db) as store, ProcessPoolExecutor(a.workers, mp_context=mp, initializer=_init,
                                                      initargs=(db,)) as pool:
        for prepared in pool.map(_gen, chunks):
            with store.transaction():
                for p in prepared:
                    store.write(p, "scan")
        counts = store.counts()
        sizes = store.db.conn.execute("SELECT avg(json_size), avg(length(data)) FROM inventories").fetchone()
        faces = store.db.conn.execute(
            "SELECT count(*) FROM findings WHERE capability = 'face_manipulation'").fetchone()
    gen = time.perf_counter() - t0
    print(f"generated {counts['inventories']} inventories / {counts['apps']} apps / {counts['scans']} scans"
          f" in {gen:.1f}s (avg inventory JSON {sizes[0] / 1024:.1f} KiB, stored {sizes[1] / 1024:.1f} KiB zlib;"
          f" {faces[0]} FaceUnity findings); DB {os.path.getsize(db) / 2**20:.0f} MiB")

    notice = Path(tmp.name) / "cancellations-2026-01.csv"
    with notice.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["备案编号", "算法名称", "主体名称", "注销时间"], [JIANYING, "剪映特效算法", DOUYIN, "2026-01-15"]])
    with Store.open(db) as store:
        import_file(store.db, notice)

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    results = {}
    for mode in ("--all", "--changed"):
        cmd = [sys.executable, "-m", "synthreview", "rescan", mode, "--db", db, "--format", "json",
               "--workers", str(a.workers), "--no-progress"]
        t = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        if proc.returncode != 0:
            print(proc.stderr)
            return 1
        rep = json.loads(proc.stdout)
        results[mode] = (wall, rep)
        print(f"rescan {mode}: {wall:.1f}s wall, {cpu:.1f}s CPU incl. workers (in-process {rep['seconds']:.1f}s,"
              f" {rep['workers']} workers):"
              f" {rep['targets']} targets, {rep['new_scans']} new scans, {len(rep['changes'])} decision changes,"
              f" {len(rep['art20'])} Art. 20 notes")
    wall = results["--all"][0]
    print(f"RESULT rescan --all over {a.n} stored inventories: {wall:.1f} s wall (target < 60 s) "
          f"-> {'PASS' if wall < 60 else 'FAIL'}; load average now {os.getloadavg()[0]:.1f}")
    with Store.open(db) as store:
        print(f"DB after: {store.counts()}; {os.path.getsize(db) / 2**20:.0f} MiB")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``synthreview store sync|push`` through ``main(argv)``, against real localhost servers and a real inbox.

Acceptance 2 (one full cycle: sync two apps, push both decisions, a second push sends nothing new) and
acceptance 3 (the inbox never scans a half-written file; a crash mid-scan leaves the file in the inbox).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from synthreview.cli import main
from synthreview.store import Store
from test_store_adapters import (
    FAST,
    TOKEN_ENV,
    FakeRestStore,
    StaticApp,
    apk,
    items,
    rest_config,
    serve,
    sha,
    two_app_repo,
)


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    rc = main(list(argv) + ["--format", "json"])
    out = capsys.readouterr().out
    return rc, json.loads(out)


def write_yaml(path: Path, data: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return str(path)


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "tok-7f3a9c")


def test_full_cycle_rest_sync_push_push(tmp_path: Path, capsys: pytest.CaptureFixture[str], token: None) -> None:
    """Acceptance 2: sync pulls two apps and scans them; push delivers both; a second push delivers nothing new."""
    fake = FakeRestStore(items(2))
    db = str(tmp_path / "review.db")
    with serve(fake) as base:
        cfg = write_yaml(tmp_path / "rest.yaml", {"rest": rest_config(base)})
        rc, out = run_json(capsys, "store", "sync", "--adapter", "rest", "--config", cfg, "--db", db)
        assert rc == 0, out
        got = {i["app_id"]: i for i in out["items"]}
        assert set(got) == {"com.example.faceswap", "com.example.ledger"}
        assert all(i["outcome"] == "scanned" and i["scan_id"] for i in got.values())
        assert got["com.example.faceswap"]["action"] == "needs_review"  # face swap SDK, no filing declared
        assert got["com.example.ledger"]["action"] == "list"

        rc, out = run_json(capsys, "store", "push", "--adapter", "rest", "--config", cfg, "--db", db)
        assert rc == 0, out
        assert sorted(i["outcome"] for i in out["items"]) == ["delivered", "delivered"]
        assert len(fake.decisions) == 2
        by_app = {d["app_id"]: d for d in fake.decisions.values()}
        assert by_app["com.example.faceswap"]["path"] == "/api/apps/s1/decision"
        assert by_app["com.example.faceswap"]["action"] == "needs_review"
        assert by_app["com.example.faceswap"]["action_zh"] == "人工复核"
        assert by_app["com.example.faceswap"]["reasons"], "reasons cite the articles"
        assert by_app["com.example.ledger"]["sha256"] == sha(fake.items[1].data)

        posts_before = fake.hits("/api/apps/s1/decision", "POST") + fake.hits("/api/apps/s2/decision", "POST")
        rc, out = run_json(capsys, "store", "push", "--adapter", "rest", "--config", cfg, "--db", db)
        assert rc == 0 and out["items"] == []
        posts_after = fake.hits("/api/apps/s1/decision", "POST") + fake.hits("/api/apps/s2/decision", "POST")
        assert posts_after == posts_before == 2 and fake.duplicates == []

        rc, out = run_json(capsys, "store", "sync", "--adapter", "rest", "--config", cfg, "--db", db)
        assert rc == 0 and [i["outcome"] for i in out["items"]] == ["skipped", "skipped"]
        assert fake.hits("/files/s1.apk") == 1  # already scanned: not even downloaded again
    with Store.open(db) as store:
        assert store.counts()["scans"] == 2


def test_sync_reports_refused_artifacts_and_push_retries_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], token: None
) -> None:
    its = items(3)
    its[2].sha_override = sha(b"not these bytes")
    fake = FakeRestStore(its)
    db = str(tmp_path / "review.db")
    with serve(fake) as base:
        cfg = write_yaml(tmp_path / "rest.yaml", rest_config(base, retries=1))
        rc, out = run_json(capsys, "store", "sync", "--adapter", "rest", "--config", cfg, "--db", db)
        assert rc == 1
        outcomes = {i["app_id"]: i["outcome"] for i in out["items"]}
        assert outcomes == {"com.example.faceswap": "scanned", "com.example.ledger": "scanned",
                            "com.example.app2": "refused"}
        refused = [i for i in out["items"] if i["outcome"] == "refused"][0]
        assert "sha256 mismatch" in refused["message"] and refused["scan_id"] is None

        fake.fault("/api/apps/s1/decision", 500, 500)  # both attempts fail → stays pending
        rc, out = run_json(capsys, "store", "push", "--adapter", "rest", "--config", cfg, "--db", db)
        assert rc == 1
        assert {i["app_id"]: i["outcome"] for i in out["items"]} == {
            "com.example.faceswap": "failed", "com.example.ledger": "delivered"}
        rc, out = run_json(capsys, "store", "push", "--adapter", "rest", "--config", cfg, "--db", db, "--dry-run")
        assert rc == 0 and [(i["app_id"], i["outcome"]) for i in out["items"]] == [("com.example.faceswap", "pending")]
        rc, out = run_json(capsys, "store", "push", "--adapter", "rest", "--config", cfg, "--db", db)
        assert rc == 0 and [i["outcome"] for i in out["items"]] == ["delivered"]
        assert len(fake.decisions) == 2 and fake.duplicates == []
    with Store.open(db) as store:
        assert store.counts()["scans"] == 2  # the refused artifact was never scanned
        from store_adapters.delivery import DeliveryLog

        events = DeliveryLog(store).events("rest")
        assert [e.outcome for e in events if e.app_id == "com.example.app2"] == ["refused"]


def test_auth_failure_and_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRestStore(items(1))
    db = str(tmp_path / "review.db")
    with serve(fake) as base:
        cfg = write_yaml(tmp_path / "rest.yaml", rest_config(base))
        assert main(["store", "sync", "--adapter", "rest", "--config", cfg, "--db", db]) == 2  # no token variable
        assert TOKEN_ENV in capsys.readouterr().err
        monkeypatch.setenv(TOKEN_ENV, "wrong")
        rc, out = run_json(capsys, "store", "sync", "--adapter", "rest", "--config", cfg, "--db", db)
        assert rc == 1 and out["items"] == [] and "401" in out["error"]
        assert fake.hits("/api/apps") == 1  # a refused token is not retried
    bad = write_yaml(tmp_path / "bad.yaml", {"settle": 0, "setle": 1})
    assert main(["store", "sync", "--adapter", "inbox", "--url", str(tmp_path), "--config", bad, "--db", db]) == 2
    assert "setle" in capsys.readouterr().err
    assert main(["store", "sync", "--adapter", "inbox", "--url", str(tmp_path), "--since", "someday",
                 "--db", db]) == 2
    with pytest.raises(SystemExit) as ei:
        main(["store", "sync", "--adapter", "play", "--db", db])
    assert ei.value.code == 2


def test_fdroid_sync_over_http_with_mismatch_and_truncation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = two_app_repo(tmp_path / "repo")
    f = repo / "org.example.facecam_1.apk"
    raw = bytearray(f.read_bytes())
    raw[200] ^= 0xFF
    f.write_bytes(bytes(raw))
    app = StaticApp(repo)
    app.fault("/org.example.notes_7.apk", "truncate")
    db = str(tmp_path / "review.db")
    out_dir = tmp_path / "decisions"
    with serve(app) as base:
        cfg = write_yaml(tmp_path / "fdroid.yaml", {**FAST, "decisions_dir": str(out_dir)})
        rc, out = run_json(capsys, "store", "sync", "--adapter", "fdroid", "--url", base,
                           "--config", cfg, "--db", db)
        assert rc == 1
        got = {(i["app_id"], i["version"]): i for i in out["items"]}
        assert got[("org.example.facecam", "1.1")]["outcome"] == "scanned"
        assert got[("org.example.facecam", "1.1")]["action"] in ("needs_review", "takedown", "suspend", "warn")
        assert got[("org.example.facecam", "1.0")]["outcome"] == "refused"
        assert "sha256 mismatch" in got[("org.example.facecam", "1.0")]["message"]
        assert got[("org.example.notes", "0.7")]["outcome"] == "refused"
        assert "truncated" in got[("org.example.notes", "0.7")]["message"]
        # next sync: the truncation was transient on the server side, the tampered file is still refused
        rc, out = run_json(capsys, "store", "sync", "--adapter", "fdroid", "--url", base, "--config", cfg, "--db", db)
        got = {(i["app_id"], i["version"]): i["outcome"] for i in out["items"]}
        assert got == {("org.example.facecam", "1.1"): "skipped", ("org.example.facecam", "1.0"): "refused",
                       ("org.example.notes", "0.7"): "scanned"}
        rc, out = run_json(capsys, "store", "push", "--adapter", "fdroid", "--url", base, "--config", cfg, "--db", db)
        assert rc == 0 and len(out["items"]) == 2
    decisions = [json.loads(p.read_text(encoding="utf-8")) for p in out_dir.iterdir()]
    assert {d["app_id"] for d in decisions} == {"org.example.facecam", "org.example.notes"}
    assert all(d["channel"] == "listed" for d in decisions)
    with Store.open(db) as store:
        rows = store.history("org.example.facecam")
        assert [r.version for r in rows] == ["1.0"]  # the fixture APK's manifest says 1.0 (build_apk)
        assert rows[0].channel == "listed"
        assert store.scan(rows[0].scan_id).meta.developer == "Example Face Ltd"  # type: ignore[union-attr]


def test_inbox_never_scans_a_file_being_written(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Acceptance 3a: ``.part`` uploads and files still growing across the settle interval are not scanned."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "ready.apk").write_bytes(apk("com.example.ready"))
    (inbox / "upload.apk.part").write_bytes(apk("com.example.upload"))
    (inbox / "growing.apk").write_bytes(apk("com.example.growing")[:500])
    scanned: list[str] = []
    from synthreview.commands import store as store_cmd

    real = store_cmd.scan_isolated

    def spy(path: Any, meta: Any, ctx: Any) -> Any:
        scanned.append(Path(path).name)
        return real(path, meta, ctx)

    monkeypatch.setattr(store_cmd, "scan_isolated", spy)
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            with open(inbox / "growing.apk", "ab") as f:
                f.write(b"\0" * 64)
            stop.wait(0.02)

    t = threading.Thread(target=writer)
    t.start()
    db = str(tmp_path / "review.db")
    cfg = write_yaml(tmp_path / "inbox.yaml", {"settle": 0.3})
    try:
        rc, out = run_json(capsys, "store", "sync", "--adapter", "inbox", "--url", str(inbox), "--config", cfg,
                           "--db", db)
    finally:
        stop.set()
        t.join()
    assert rc == 0 and {i["app_id"]: i["outcome"] for i in out["items"]} == {"growing": "deferred", "ready": "scanned"}
    assert scanned == ["ready.apk"]
    assert sorted(p.name for p in inbox.iterdir()) == ["done", "growing.apk", "upload.apk.part"]
    (inbox / "upload.apk.part").rename(inbox / "upload.apk")  # the uploader finishes
    rc, out = run_json(capsys, "store", "sync", "--adapter", "inbox", "--url", str(inbox), "--config", cfg,
                       "--db", db)
    assert rc == 0 and sorted(i["app_id"] for i in out["items"]) == ["growing", "upload"]


@pytest.mark.parametrize("crash", [RuntimeError("scanner bug"), KeyboardInterrupt()])
def test_inbox_crash_mid_scan_leaves_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch, crash: BaseException) -> None:
    """Acceptance 3b: an exception (or an interrupt) inside the scan leaves the artifact in the inbox."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    data = apk("com.example.cam", face=True)
    (inbox / "cam.apk").write_bytes(data)
    (inbox / "cam.apk.meta.yaml").write_text("app_name: 示例相机\nchannel: submission\n", encoding="utf-8")
    db = str(tmp_path / "review.db")
    from synthreview.commands import store as store_cmd

    real = store_cmd.scan_isolated

    def boom(path: Any, meta: Any, ctx: Any) -> Any:
        assert Path(path).read_bytes() == data  # the verified private copy is what is scanned
        raise crash

    monkeypatch.setattr(store_cmd, "scan_isolated", boom)
    argv = ["store", "sync", "--adapter", "inbox", "--url", str(inbox), "--config",
            write_yaml(tmp_path / "i.yaml", {"settle": 0}), "--db", db]
    if isinstance(crash, KeyboardInterrupt):
        with pytest.raises(KeyboardInterrupt):
            main(argv)
    else:
        rc, out = run_json(capsys, *argv)
        assert rc == 1 and out["items"][0]["outcome"] == "failed" and "scanner bug" in out["items"][0]["message"]
    assert sorted(p.name for p in inbox.iterdir()) == ["cam.apk", "cam.apk.meta.yaml"]
    assert (inbox / "cam.apk").read_bytes() == data
    with Store.open(db) as store:
        assert store.counts()["scans"] == 0

    monkeypatch.setattr(store_cmd, "scan_isolated", real)  # the fixed scanner picks it up on the next run
    rc, out = run_json(capsys, *argv)
    assert rc == 0 and out["items"][0]["outcome"] == "scanned"
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["cam.apk", "cam.apk.meta.yaml"]
    assert not (inbox / "cam.apk").exists()


def test_inbox_push_writes_decision_files_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.apk").write_bytes(apk("com.example.a"))
    (inbox / "a.apk.meta.yaml").write_text("app_id: com.example.a\nversion: '1.0'\n")
    db = str(tmp_path / "review.db")
    base = ["--adapter", "inbox", "--url", str(inbox), "--db", db]
    cfg = ["--config", write_yaml(tmp_path / "i.yaml", {"settle": 0})]
    assert main(["store", "sync", *base, *cfg]) == 0
    assert main(["store", "push", *base, *cfg]) == 0
    assert main(["store", "push", *base, *cfg]) == 0
    files = list((inbox / "decisions").iterdir())
    assert len(files) == 1
    doc = json.loads(files[0].read_text(encoding="utf-8"))
    assert (doc["app_id"], doc["version"], doc["action"]) == ("com.example.a", "1.0", "list")
    assert doc["scanned_app_id"] == "com.example.a"
    capsys.readouterr()

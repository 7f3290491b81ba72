"""``inbox``: a drop folder — the simplest submission pipeline (scp / rsync / a CI job copies files in).

Layout::

    inbox/app.apk                 the artifact
    inbox/app.apk.meta.yaml       optional sidecar: submission metadata (DESIGN.md) plus ``sha256`` and
                                  ``version`` (``.meta.yml`` / ``.meta.json`` work too)
    inbox/done/  inbox/failed/    where processed files are moved (``os.replace``: atomic on one filesystem)
    inbox/decisions/              decisions written by ``store push`` (one JSON file each)

A file still being written must never be scanned: names ending in ``.part`` are skipped (upload as
``app.apk.part``, rename when complete — the safest protocol), an artifact whose sidecar is still a ``.part``
waits, and every other file must keep the same size and mtime across two looks ``settle`` seconds apart.
Writers that cannot rename should write the sidecar first. A file is moved only after its scan is recorded,
so a crash mid-scan leaves it in the inbox for the next run.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from filings.meta import MAX_META_BYTES, Channel, MetaError, SubmissionMeta, parse_meta
from store_adapters.base import (
    MAX_ARTIFACT_BYTES,
    ConfigError,
    DecisionRecord,
    FetchError,
    ListedVersion,
    Outcome,
    StoreAdapter,
    check_keys,
    copy_verified,
    sha256_file,
    write_decision_file,
)

log = logging.getLogger(__name__)

SIDECAR_SUFFIXES = (".meta.yaml", ".meta.yml", ".meta.json")
_SKIP_SUFFIXES = (".part", ".tmp", ".error.txt", *SIDECAR_SUFFIXES)
_SPECIAL_DIRS = ("done", "failed", "decisions")
#: Sidecar keys that are not submission metadata: they describe the file itself.
_FILE_KEYS = ("sha256", "version")

CONFIG_KEYS = frozenset({"path", "url", "settle", "decisions_dir", "max_bytes"})


class InboxAdapter(StoreAdapter):
    """A drop folder of artifacts with sidecar metadata."""

    name = "inbox"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        settle: float = 2.0,
        decisions_dir: str | os.PathLike[str] | None = None,
        max_bytes: int = MAX_ARTIFACT_BYTES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.root = Path(path).resolve()
        if not self.root.is_dir():
            raise ConfigError(f"inbox {self.root} is not a folder / 收件目录不存在")
        self.settle = settle
        self.decisions_dir = Path(decisions_dir).resolve() if decisions_dir else self.root / "decisions"
        self.max_bytes = max_bytes
        self.sleep = sleep

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], url: str | None = None) -> InboxAdapter:
        """``--url`` (or ``path``) is the folder; ``settle`` seconds between the two looks (default 2)."""
        check_keys(cfg, CONFIG_KEYS, cls.name)
        path = url or cfg.get("path") or cfg.get("url")
        if not path:
            raise ConfigError("inbox: give the folder with --url or `path:` in --config / 请用 --url 指定收件目录")
        settle = cfg.get("settle", 2.0)
        if isinstance(settle, bool) or not isinstance(settle, (int, float)) or settle < 0:
            raise ConfigError(f"inbox: settle must be a number of seconds >= 0, got {settle!r} / settle 应为秒数")
        max_bytes = cfg.get("max_bytes", MAX_ARTIFACT_BYTES)
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
            raise ConfigError(f"inbox: max_bytes must be a positive integer, got {max_bytes!r} / max_bytes 无效")
        return cls(str(path), settle=float(settle), decisions_dir=cfg.get("decisions_dir"), max_bytes=max_bytes)

    @property
    def source(self) -> str:
        return str(self.root)

    @property
    def target(self) -> str:
        return str(self.decisions_dir)

    # -- listing --------------------------------------------------------------------------------------------

    def _candidates(self) -> tuple[dict[str, tuple[int, int, tuple[int, int] | None]], set[str]]:
        """(artifact name → (size, mtime_ns, sidecar size/mtime), names whose sidecar is still a ``.part``)."""
        out: dict[str, tuple[int, int, tuple[int, int] | None]] = {}
        waiting: set[str] = set()
        try:
            entries = list(os.scandir(self.root))
        except OSError as exc:
            raise ConfigError(f"inbox {self.root}: cannot list: {exc.strerror or exc} / 无法读取收件目录") from None
        names = {e.name for e in entries}
        for e in entries:
            name = e.name
            if name.startswith(".") or name in _SPECIAL_DIRS or name.endswith(_SKIP_SUFFIXES):
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue  # vanished between listing and stat
            if stat.S_ISLNK(st.st_mode):
                log.warning("inbox: %s is a symlink; skipped (only regular files are read) / 跳过符号链接", name)
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if any(f"{name}{s}.part" in names for s in SIDECAR_SUFFIXES):
                waiting.add(name)  # its metadata is still being written
                continue
            side = self._sidecar(name)
            side_sig: tuple[int, int] | None = None
            if side is not None:
                try:
                    sst = side.stat()
                    side_sig = (sst.st_size, sst.st_mtime_ns)
                except OSError:
                    continue
            out[name] = (st.st_size, st.st_mtime_ns, side_sig)
        return out, waiting

    def _sidecar(self, name: str) -> Path | None:
        for suffix in SIDECAR_SUFFIXES:
            p = self.root / f"{name}{suffix}"
            if p.is_file() and not p.is_symlink():
                return p
        return None

    def list_apps(self, since: datetime | None = None) -> Iterable[ListedVersion]:
        """Files whose size and mtime (and their sidecar's) did not change across two looks ``settle`` s apart.

        Files still changing are listed as *deferred* (reported, never read); ``*.part`` files are not listed.
        """
        first, _ = self._candidates()
        if not first:
            return []
        if self.settle > 0:
            self.sleep(self.settle)
        second, waiting = self._candidates()
        out: list[ListedVersion] = []
        for name in sorted(set(first) | waiting):
            if name in waiting or second.get(name) != first.get(name):
                why = "its metadata is still being written" if name in waiting else "still being written"
                out.append(ListedVersion(
                    adapter=self.name, app_id=name.rsplit(".", 1)[0], version=None, artifact=str(self.root / name),
                    sha256=None, key=name, extra=(("name", name), ("defer", f"{name}: {why}; left for the next "
                                                                            "sync / 文件仍在写入，稍后处理")),
                ))
                continue
            size, mtime_ns, _ = first[name]
            mtime = datetime.fromtimestamp(mtime_ns / 1e9, tz=timezone.utc)
            if since is not None and mtime < since:
                continue
            out.append(self._listed(name, size, mtime))
        return out

    def _listed(self, name: str, size: int, mtime: datetime) -> ListedVersion:
        path = self.root / name
        problem = ""
        meta = SubmissionMeta()
        declared_sha: str | None = None
        version: str | None = None
        side = self._sidecar(name)
        if side is not None:
            try:
                meta, declared_sha, version = _read_sidecar(side)
            except MetaError as exc:
                problem = f"{side.name}: {exc}"
        try:
            actual = sha256_file(path)
        except OSError as exc:
            actual = None
            problem = problem or f"{name}: cannot read: {exc.strerror or exc} / 无法读取文件"
        channel = meta.channel or Channel.SUBMISSION
        app_id = meta.app_id or name.rsplit(".", 1)[0]
        extra: list[tuple[str, str]] = [("name", name)]
        if actual:
            extra.append(("actual_sha256", actual))
        if declared_sha:
            extra.append(("declared_sha256", declared_sha))
        if side is not None:
            extra.append(("sidecar", side.name))
        if problem:
            extra.append(("refuse", problem))
        return ListedVersion(
            adapter=self.name, app_id=app_id, version=version, artifact=str(path),
            sha256=(declared_sha or actual), meta=replace(meta, channel=channel), channel=channel, size=size,
            updated=mtime, key=name, extra=tuple(extra),
        )

    # -- fetching and settling ------------------------------------------------------------------------------

    def fetch(self, version: ListedVersion, dest_dir: Path) -> Path:
        """Copy the file into the private dir, verifying it is still the bytes that were listed (and declared)."""
        if version.get("defer"):
            raise FetchError(version.get("defer") or "", transient=True)
        problem = version.get("refuse")
        if problem:
            raise FetchError(problem)
        name = version.get("name") or version.key
        declared = version.get("declared_sha256")
        actual = version.get("actual_sha256")
        if declared and actual and declared != actual:
            raise FetchError(
                f"{name}: sha256 mismatch: file is {actual}, sidecar says {declared}; artifact refused / "
                "sha256 与元数据不符，拒绝扫描"
            )
        if version.size is not None and version.size > self.max_bytes:
            raise FetchError(f"{name}: {version.size} bytes exceeds the {self.max_bytes}-byte cap / 超过大小上限")
        try:
            return copy_verified(self.root / name, dest_dir / name, sha256=actual, max_bytes=self.max_bytes,
                                 label=name)
        except FetchError:
            # The bytes differ from the ones listed a moment ago: someone is still writing. Not bad, not ready.
            raise FetchError(f"{name}: changed while being read; left for the next sync / 文件仍在变化，下次再处理",
                             transient=True) from None

    def finish(self, version: ListedVersion, outcome: Outcome, message: str = "") -> None:
        """Move the artifact (and its sidecar) to ``done/`` or ``failed/``; deferred files stay where they are."""
        if outcome is Outcome.DEFERRED:
            return
        name = version.get("name") or version.key
        folder = self.root / ("done" if outcome is Outcome.SCANNED else "failed")
        folder.mkdir(exist_ok=True)
        src = self.root / name
        if not src.exists():
            return
        dest_name = name
        if (folder / dest_name).exists():
            stem, dot, ext = name.rpartition(".")
            tag = (version.get("actual_sha256") or version.sha256 or str(time.time_ns()))[:12]
            dest_name = f"{stem}.{tag}.{ext}" if dot and stem else f"{name}.{tag}"
        side = version.get("sidecar")
        if side and (self.root / side).exists():
            os.replace(self.root / side, folder / (dest_name + side[len(name):]))
        if outcome is Outcome.REFUSED and message:
            note = folder / f"{dest_name}.error.txt"
            tmp = folder / f".{dest_name}.error.tmp"
            tmp.write_text(message + "\n", encoding="utf-8")
            os.replace(tmp, note)
        os.replace(src, folder / dest_name)  # last: the artifact leaves the inbox only when all else is done

    # -- decisions ------------------------------------------------------------------------------------------

    def push(self, record: DecisionRecord) -> None:
        """Write the decision as a JSON file into ``decisions/`` (atomic; the same delivery id overwrites)."""
        write_decision_file(self.decisions_dir, record)


def _read_sidecar(path: Path) -> tuple[SubmissionMeta, str | None, str | None]:
    """Sidecar → (metadata, declared sha256, version); unknown keys and bad types fail (as ``--meta`` does)."""
    try:
        if path.stat().st_size > MAX_META_BYTES:
            raise MetaError(f"larger than {MAX_META_BYTES} bytes / 元数据文件过大")
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MetaError(f"cannot read: {exc} / 无法读取元数据文件") from None
    try:
        data = yaml.safe_load(text)  # YAML also reads JSON
    except yaml.YAMLError as exc:
        raise MetaError(f"invalid YAML: {exc} / YAML 格式错误") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MetaError("metadata must be a mapping at the top level / 顶层应为对象")
    data = dict(data)
    sha = data.pop("sha256", None)
    version = data.pop("version", None)
    if sha is not None:
        if not isinstance(sha, str) or not _is_sha256(sha.strip()):
            raise MetaError(f"sha256: expected 64 hex digits, got {sha!r} / sha256 格式错误")
        sha = sha.strip().lower()
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, (str, int, float)):
            raise MetaError(f"version: expected a string, got {version!r} / version 应为字符串")
        version = str(version)
    return parse_meta(data), sha, version


def _is_sha256(s: str) -> bool:
    return len(s) == 64 and all(c in "0123456789abcdefABCDEF" for c in s)

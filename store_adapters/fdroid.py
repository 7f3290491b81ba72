"""``fdroid``: an F-Droid repository (https://f-droid.org/docs/All_our_APIs/#the-repo-index), by URL or path.

Why F-Droid: it is a real, public, documented store index, so the adapter shows the interface against a
format nobody here invented. Layout read:

- ``entry.json`` (index-v2 entry point): ``{"timestamp", "version", "index": {"name": "/index-v2.json",
  "sha256", "size", "numPackages"}, "diffs": {…}}``. The index file is checked against that sha256.
- ``index-v2.json``: ``packages → {package name: {"metadata": {"name": {locale: text}, "authorName", …},
  "versions": {sha256: {"added" (ms), "file": {"name": "/pkg_code.apk", "sha256", "size"},
  "manifest": {"versionName", "versionCode", …}}}}}``.
- ``index-v1.json`` (older repositories): ``"apps": [{"packageName", "name", "authorName", "localized"}]`` and
  ``"packages": {package name: [{"apkName", "hash", "hashType": "sha256", "size", "versionName",
  "versionCode", "added"}]}``.

The signed JARs (``entry.jar``, ``index-v1.jar``) are not verified here: the repository's signing key is an
F-Droid client concern; what synthreview guarantees is that the APK scanned is the one the index lists
(sha256 and size checked before the scanner sees a byte). Names and authors become submission metadata
(``app_name``, ``developer``, ``app_id``) on the ``listed`` channel: these apps are already distributed.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from filings.meta import Channel, SubmissionMeta
from store_adapters.base import (
    MAX_ARTIFACT_BYTES,
    AdapterError,
    ConfigError,
    DecisionRecord,
    FetchError,
    ListedVersion,
    PushError,
    StoreAdapter,
    check_digest,
    check_keys,
    copy_verified,
    parse_when,
    write_decision_file,
)
from store_adapters.http import MAX_JSON_BYTES, Http, HttpPolicy, HttpStatusError, origin, parse_json

log = logging.getLogger(__name__)

CONFIG_KEYS = frozenset({
    "url", "path", "index", "packages", "latest_only", "decisions_dir", "locales", "max_bytes", "max_index_bytes",
    "timeout", "retries", "backoff", "max_backoff", "max_retry_after",
})

#: Locale preference for names (zh-CN first: the reviewers' language; then English; then whatever exists).
DEFAULT_LOCALES = ("zh-CN", "zh-Hans", "zh", "en-US", "en", "en-GB")


class NotFound(AdapterError):
    """An index file the repository does not have (404, or no such file in a local repository)."""


class FDroidAdapter(StoreAdapter):
    """Lists an F-Droid repository's packages and versions; downloads and verifies APKs."""

    name = "fdroid"

    def __init__(
        self,
        location: str,
        *,
        policy: HttpPolicy | None = None,
        index: str = "auto",
        packages: Iterable[str] = (),
        latest_only: bool = False,
        decisions_dir: str | os.PathLike[str] | None = None,
        locales: Iterable[str] = DEFAULT_LOCALES,
        max_bytes: int = MAX_ARTIFACT_BYTES,
        max_index_bytes: int = MAX_JSON_BYTES,
    ) -> None:
        if index not in ("auto", "v2", "v1"):
            raise ConfigError(f"fdroid: index must be auto, v2 or v1, got {index!r} / index 取值无效")
        scheme = urlsplit(location).scheme.lower()
        self.remote = scheme in ("http", "https")
        if self.remote:
            self.base = location if location.endswith("/") else location + "/"
            self.root: Path | None = None
            self.http: Http | None = Http(policy or HttpPolicy())
        else:
            local = unquote(urlsplit(location).path) if scheme == "file" else location
            self.root = Path(local).resolve()
            if not self.root.is_dir():
                raise ConfigError(f"fdroid: {self.root} is not a repository folder / 仓库目录不存在")
            self.base = str(self.root)
            self.http = None
        self.index = index
        self.packages = frozenset(packages)
        self.latest_only = latest_only
        self.decisions_dir = Path(decisions_dir).resolve() if decisions_dir else None
        self.locales = tuple(locales)
        self.max_bytes = max_bytes
        self.max_index_bytes = max_index_bytes
        self.index_format = ""  # "v2" or "v1" once listed

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], url: str | None = None) -> FDroidAdapter:
        """``--url`` (or ``url``/``path``): the repository (the folder holding ``index-v1.json`` / ``entry.json``)."""
        check_keys(cfg, CONFIG_KEYS, cls.name)
        location = url or cfg.get("url") or cfg.get("path")
        if not location or not isinstance(location, str):
            raise ConfigError("fdroid: give the repository with --url or `url:` in --config / 请用 --url 指定仓库")
        try:
            policy = HttpPolicy.from_config(cfg)
        except AdapterError as exc:
            raise ConfigError(f"fdroid: {exc}") from None
        packages = cfg.get("packages") or []
        if isinstance(packages, str) or not isinstance(packages, list):
            raise ConfigError("fdroid: packages must be a list of package names / packages 应为包名列表")
        locales = cfg.get("locales") or list(DEFAULT_LOCALES)
        if isinstance(locales, str) or not isinstance(locales, list):
            raise ConfigError("fdroid: locales must be a list / locales 应为列表")
        return cls(
            location, policy=policy, index=str(cfg.get("index", "auto")), packages=[str(p) for p in packages],
            latest_only=bool(cfg.get("latest_only", False)), decisions_dir=cfg.get("decisions_dir"),
            locales=[str(x) for x in locales], max_bytes=_pos_int(cfg, "max_bytes", MAX_ARTIFACT_BYTES),
            max_index_bytes=_pos_int(cfg, "max_index_bytes", MAX_JSON_BYTES),
        )

    @property
    def source(self) -> str:
        return self.base

    @property
    def target(self) -> str:
        return str(self.decisions_dir) if self.decisions_dir else self.base

    def close(self) -> None:
        if self.http is not None:
            self.http.close()

    # -- reading the repository -----------------------------------------------------------------------------

    def _url(self, rel: str) -> str:
        """URL of a repository file; refuses names that would leave the repository (another host, ``..``)."""
        clean = _relative(rel)
        url = urljoin(self.base, quote(clean, safe="/@:+,;=-._~"))
        if origin(url) != origin(self.base) or not urlsplit(url).path.startswith(urlsplit(self.base).path):
            raise FetchError(f"{rel!r} points outside the repository; refused / 文件名指向仓库之外，拒绝")
        return url

    def _local(self, rel: str) -> Path:
        assert self.root is not None
        p = (self.root / _relative(rel)).resolve()
        if not p.is_relative_to(self.root):
            raise FetchError(f"{rel!r} points outside the repository; refused / 文件名指向仓库之外，拒绝")
        return p

    def _read(self, rel: str, *, sha256: str | None = None, size: int | None = None) -> bytes:
        """An index document's bytes (bounded), checked against the entry point's sha256 when given."""
        if self.http is not None:
            try:
                raw, _ = self.http.get_bytes(self._url(rel), max_bytes=self.max_index_bytes)
            except HttpStatusError as exc:
                if exc.status in (404, 410):
                    raise NotFound(str(exc)) from None
                raise
        else:
            p = self._local(rel)
            if not p.is_file():
                raise NotFound(f"{p}: no such file / 文件不存在")
            if p.stat().st_size > self.max_index_bytes:
                raise AdapterError(f"{p}: larger than {self.max_index_bytes} bytes / 索引文件过大")
            raw = p.read_bytes()
        if sha256 is not None or size is not None:
            try:
                check_digest(hashlib.sha256(raw).hexdigest(), len(raw), sha256=sha256, size=size, label=rel)
            except FetchError as exc:
                raise AdapterError(f"index refused: {exc} / 索引校验失败") from None
        return raw

    def _load(self) -> tuple[str, Any]:
        """("v2", index-v2 data) through ``entry.json``, else ("v1", index-v1 data)."""
        if self.index in ("auto", "v2"):
            try:
                entry = parse_json(self._read("entry.json"), "entry.json")
            except NotFound:
                if self.index == "v2":
                    raise
                entry = None
            if entry is not None:
                idx = entry.get("index") if isinstance(entry, Mapping) else None
                if not isinstance(idx, Mapping) or not isinstance(idx.get("name"), str):
                    raise AdapterError("entry.json: no index.name / entry.json 缺少 index.name")
                sha = idx.get("sha256") if isinstance(idx.get("sha256"), str) else None
                size = idx.get("size") if isinstance(idx.get("size"), int) else None
                return "v2", parse_json(self._read(idx["name"], sha256=sha, size=size), idx["name"])
        return "v1", parse_json(self._read("index-v1.json"), "index-v1.json")

    def list_apps(self, since: datetime | None = None) -> Iterable[ListedVersion]:
        """Every version of every package (``latest_only``: the highest versionCode), added at/after ``since``."""
        fmt, data = self._load()
        self.index_format = fmt
        if not isinstance(data, Mapping):
            raise AdapterError(f"index-{fmt}.json: top level is not an object / 索引格式错误")
        versions = self._v2(data) if fmt == "v2" else self._v1(data)
        out: list[ListedVersion] = []
        by_app: dict[str, list[ListedVersion]] = {}
        for lv in versions:
            if self.packages and lv.app_id not in self.packages:
                continue
            by_app.setdefault(lv.app_id, []).append(lv)
        for app_id in sorted(by_app):
            vs = sorted(by_app[app_id], key=lambda v: (v.version_code or 0, v.version or ""), reverse=True)
            if self.latest_only:
                vs = vs[:1]
            out.extend(v for v in vs if since is None or v.updated is None or v.updated >= since)
        return out

    def _v2(self, data: Mapping[str, Any]) -> Iterable[ListedVersion]:
        packages = data.get("packages")
        if not isinstance(packages, Mapping):
            raise AdapterError("index-v2.json: no packages object / 索引缺少 packages")
        for pkg, entry in packages.items():
            if not isinstance(entry, Mapping):
                log.warning("fdroid: %s: malformed package entry; skipped / 条目格式错误", pkg)
                continue
            md = _mapping(entry.get("metadata"))
            meta = self._meta(str(pkg), self._localized(md.get("name")), md.get("authorName"))
            for vkey, v in _mapping(entry.get("versions")).items():
                if not isinstance(v, Mapping):
                    continue
                f, mf = _mapping(v.get("file")), _mapping(v.get("manifest"))
                yield self._version(str(pkg), meta, f.get("name"), f.get("sha256"), f.get("size"),
                                    mf.get("versionName"), mf.get("versionCode"), v.get("added"), str(vkey), "sha256")

    def _v1(self, data: Mapping[str, Any]) -> Iterable[ListedVersion]:
        apps = data.get("apps")
        info: dict[str, SubmissionMeta] = {}
        for app in apps if isinstance(apps, list) else []:
            if not isinstance(app, Mapping) or not isinstance(app.get("packageName"), str):
                continue
            loc = _mapping(app.get("localized"))
            names = {k: v.get("name") for k, v in loc.items() if isinstance(v, Mapping) and v.get("name")}
            name = app.get("name") if isinstance(app.get("name"), str) else self._localized(names)
            info[app["packageName"]] = self._meta(app["packageName"], name, app.get("authorName"))
        packages = data.get("packages")
        if not isinstance(packages, Mapping):
            raise AdapterError("index-v1.json: no packages object / 索引缺少 packages")
        for pkg, plist in packages.items():
            if not isinstance(plist, list):
                continue
            meta = info.get(str(pkg)) or self._meta(str(pkg), None, None)
            for p in plist:
                if not isinstance(p, Mapping):
                    continue
                yield self._version(str(pkg), meta, p.get("apkName"), p.get("hash"), p.get("size"),
                                    p.get("versionName"), p.get("versionCode"), p.get("added"),
                                    str(p.get("apkName") or ""), str(p.get("hashType") or "sha256"))

    def _version(self, pkg: str, meta: SubmissionMeta, fname: Any, sha: Any, size: Any, vname: Any, vcode: Any,
                 added: Any, key: str, hash_type: str) -> ListedVersion:
        """One ListedVersion; anything that would prevent verification becomes a refusal reported at fetch."""
        problems: list[str] = []
        if not isinstance(fname, str) or not fname.strip("/"):
            problems.append("no file name in the index / 索引缺少文件名")
            fname = ""
        if hash_type.lower() != "sha256":
            problems.append(f"hashType {hash_type!r} cannot be verified (sha256 needed) / 无法校验")
        if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdefABCDEF" for c in sha)):
            problems.append("no valid sha256 in the index; refusing to scan unverified bytes / 索引缺少有效 sha256")
            sha = None
        code = vcode if isinstance(vcode, int) and not isinstance(vcode, bool) else None
        if code is None and isinstance(vcode, str) and vcode.isdigit():
            code = int(vcode)
        version = str(vname) if isinstance(vname, (str, int, float)) and not isinstance(vname, bool) else None
        extra = [("file", fname)]
        if problems:
            extra.append(("refuse", f"{pkg} {version or ''}: " + "; ".join(problems)))
        return ListedVersion(
            adapter=self.name, app_id=pkg, version=version, artifact=(self._artifact_ref(fname) if fname else ""),
            sha256=sha.lower() if sha else None, meta=meta, channel=Channel.LISTED,
            size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
            version_code=code, updated=parse_when(added), key=key, extra=tuple(extra),
        )

    def _artifact_ref(self, fname: str) -> str:
        try:
            return self._url(fname) if self.http is not None else str(self._local(fname))
        except FetchError:
            return fname  # refused again, with the message, at fetch time

    def _localized(self, value: Any) -> str | None:
        if isinstance(value, str):
            return value.strip() or None
        if not isinstance(value, Mapping):
            return None
        for loc in self.locales:
            v = value.get(loc)
            if isinstance(v, str) and v.strip():
                return v.strip()
        for v in value.values():
            if isinstance(v, str) and v.strip():
                return v.strip()
        return None

    @staticmethod
    def _meta(pkg: str, name: str | None, author: Any) -> SubmissionMeta:
        dev = author.strip() if isinstance(author, str) and author.strip() else None
        return SubmissionMeta(app_name=name, developer=dev, app_id=pkg, channel=Channel.LISTED)

    # -- fetching -------------------------------------------------------------------------------------------

    def fetch(self, version: ListedVersion, dest_dir: Path) -> Path:
        """Download (or copy) the APK into ``dest_dir`` and verify size and sha256 against the index."""
        problem = version.get("refuse")
        if problem:
            raise FetchError(problem)
        fname = version.get("file") or ""
        base = PurePosixPath(_relative(fname)).name or "artifact.apk"
        dest = dest_dir / base
        label = f"{version.label} ({base})"
        if self.http is not None:
            return self.http.download(self._url(fname), dest, sha256=version.sha256, size=version.size,
                                      max_bytes=self.max_bytes, label=label)
        return copy_verified(self._local(fname), dest, sha256=version.sha256, size=version.size,
                             max_bytes=self.max_bytes, label=label)

    # -- decisions ------------------------------------------------------------------------------------------

    def push(self, record: DecisionRecord) -> None:
        """F-Droid has no API for decisions: write them as JSON files into ``decisions_dir`` for the maintainers."""
        if self.decisions_dir is None:
            raise PushError(
                "fdroid: a repository index has no way to receive decisions; set decisions_dir in --config / "
                "F-Droid 仓库无法接收决定，请在配置中设置 decisions_dir"
            )
        write_decision_file(self.decisions_dir, record)


def _relative(name: str) -> str:
    """Index file names are repository-relative (v2 writes ``/pkg_1.apk``); refuse ``..``, schemes, backslashes."""
    if "://" in name or "\\" in name or name.startswith("//") or "\x00" in name:
        raise FetchError(f"{name!r}: not a repository-relative file name; refused / 文件名无效，拒绝")
    rel = name.lstrip("/")
    if any(part in ("..", ".") for part in rel.split("/")):
        raise FetchError(f"{name!r}: points outside the repository; refused / 文件名指向仓库之外，拒绝")
    return rel


def _mapping(value: Any) -> Mapping[str, Any]:
    """The value if it is an object, else an empty one (index data is untrusted input: wrong types are skipped)."""
    return value if isinstance(value, Mapping) else {}


def _pos_int(cfg: Mapping[str, Any], key: str, default: int) -> int:
    v = cfg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ConfigError(f"fdroid: {key} must be a positive integer, got {v!r} / {key} 无效")
    return v

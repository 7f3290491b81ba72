"""The one interface every store backend implements, and the frozen values that cross it.

An adapter knows where artifacts come from and where decisions go; it never reviews anything (DESIGN.md).
``synthreview store sync`` asks an adapter for :class:`ListedVersion` values, has it :meth:`StoreAdapter.fetch`
each new one into a private temp dir (sha256-verified: a mismatch is a :class:`FetchError`, never a scan),
scans the file, then tells the adapter the outcome (:meth:`StoreAdapter.finish`). ``store push`` hands it
:class:`DecisionRecord` values (:meth:`StoreAdapter.push`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from filings.meta import Channel, SubmissionMeta

__all__ = [
    "AdapterError",
    "ConfigError",
    "AuthError",
    "FetchError",
    "PushError",
    "Outcome",
    "ListedVersion",
    "DecisionReason",
    "DecisionRecord",
    "StoreAdapter",
    "sha256_file",
    "copy_verified",
    "check_digest",
    "remove_tree",
    "write_decision_file",
    "parse_when",
    "lookup",
    "check_keys",
    "MAX_ARTIFACT_BYTES",
]

#: Default size cap for one downloaded artifact (big games exceed 1 GiB; a review store sets its own).
MAX_ARTIFACT_BYTES = 2 << 30

_CHUNK = 1 << 16


class AdapterError(Exception):
    """A store backend could not be read or written (network, format, HTTP status); nothing was decided."""


class ConfigError(AdapterError):
    """The adapter's configuration is missing or wrong (bad YAML, missing token variable, unknown key)."""


class AuthError(AdapterError):
    """The store refused our credentials (401/403): retrying would not help, a person has to fix the token."""


class FetchError(AdapterError):
    """One artifact was refused: checksum mismatch, truncated download, too large, unreadable metadata.

    The artifact is reported and never scanned; the next sync tries it again.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        #: True when the artifact is not bad, just not ready (changed since listing): leave it, try next sync.
        self.transient = transient


class PushError(AdapterError):
    """A decision could not be delivered; it stays pending for the next ``store push``."""


class Outcome(str, Enum):
    """What became of a fetched artifact, so an adapter can settle it (inbox: move to ``done/`` or ``failed/``)."""

    SCANNED = "scanned"  # scanned and recorded (or already scanned earlier: same sha256)
    REFUSED = "refused"  # fetch/verification refused it; it was not scanned
    DEFERRED = "deferred"  # not ready (still changing); left where it is for the next sync


@dataclass(frozen=True)
class ListedVersion:
    """One version of one app as the store lists it (before any download)."""

    adapter: str
    app_id: str
    version: str | None
    artifact: str  # URL or local path, as the adapter understands it
    sha256: str | None  # expected sha256 (lower-case hex); None when the store does not publish one
    meta: SubmissionMeta = field(default_factory=SubmissionMeta)
    channel: Channel = Channel.SUBMISSION
    size: int | None = None  # expected size in bytes, when published
    version_code: int | None = None
    updated: datetime | None = None  # when the store added/changed it (for ``--since``)
    key: str = ""  # the backend's own id for this version (REST item id, inbox file name, …)
    extra: tuple[tuple[str, str], ...] = ()  # adapter-private strings it needs back in fetch/finish

    @property
    def label(self) -> str:
        """``app_id version`` for messages."""
        return f"{self.app_id} {self.version}" if self.version else self.app_id

    def get(self, name: str) -> str | None:
        """An adapter-private value from :attr:`extra`."""
        return dict(self.extra).get(name)


@dataclass(frozen=True)
class DecisionReason:
    """One reason behind a decision, with the article it cites (as in the JSON report)."""

    code: str
    article: str
    zh: str
    en: str


@dataclass(frozen=True)
class DecisionRecord:
    """A decision to deliver: which scan, which version, what action, why; ``delivery_id`` is the idempotency key."""

    delivery_id: str  # stable for (scan id, action, adapter target): a resend carries the same id
    scan_id: str
    app_id: str
    version: str | None
    sha256: str
    action: str  # DESIGN.md action id (list, warn, needs_review, reject, suspend, takedown)
    action_zh: str
    channel: str
    reasons: tuple[DecisionReason, ...] = ()
    key: str = ""  # the backend's id of the version (ListedVersion.key)
    decided_at: str = ""  # ISO 8601, UTC
    tool_version: str = ""
    scanned_app_id: str | None = None  # the package / appid the scanner read (may differ from the listing's)

    def to_json(self) -> dict[str, Any]:
        """The JSON body adapters send (stable field names; extended, never narrowed)."""
        return {
            "delivery_id": self.delivery_id,
            "scan_id": self.scan_id,
            "app_id": self.app_id,
            "version": self.version,
            "sha256": self.sha256,
            "key": self.key,
            "channel": self.channel,
            "action": self.action,
            "action_zh": self.action_zh,
            "reasons": [{"code": r.code, "article": r.article, "zh": r.zh, "en": r.en} for r in self.reasons],
            "decided_at": self.decided_at,
            "tool_version": self.tool_version,
            "scanned_app_id": self.scanned_app_id,
        }


class StoreAdapter(ABC):
    """A store backend: list versions, fetch one verified artifact, deliver one decision."""

    #: Adapter name as given to ``--adapter``.
    name: str = ""

    @property
    @abstractmethod
    def source(self) -> str:
        """Where artifacts come from (folder, repository URL, API base URL): scopes "already scanned"."""

    @property
    def target(self) -> str:
        """Where decisions go: part of the delivery key, so two targets each get every decision once."""
        return self.source

    @abstractmethod
    def list_apps(self, since: datetime | None = None) -> Iterable[ListedVersion]:
        """Versions the store offers now (changed at or after ``since`` when given)."""

    @abstractmethod
    def fetch(self, version: ListedVersion, dest_dir: Path) -> Path:
        """Put the artifact into ``dest_dir`` (a private temp dir) and return its path, sha256-verified.

        Raises :class:`FetchError` when the bytes are not the listed ones (checksum, size, truncation).
        """

    @abstractmethod
    def push(self, record: DecisionRecord) -> None:
        """Deliver one decision; must be safe to repeat with the same ``delivery_id``. Raises :class:`PushError`."""

    def finish(self, version: ListedVersion, outcome: Outcome, message: str = "") -> None:  # noqa: B027
        """Settle a version after sync handled it (default: nothing; the inbox moves files)."""

    def close(self) -> None:  # noqa: B027
        """Release sessions and temp files."""

    def __enter__(self) -> StoreAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------- helpers


def sha256_file(path: Path) -> str:
    """sha256 of a file, streamed (artifacts can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def copy_verified(
    src: Path,
    dest: Path,
    *,
    sha256: str | None,
    size: int | None = None,
    max_bytes: int = MAX_ARTIFACT_BYTES,
    label: str = "",
) -> Path:
    """Copy ``src`` to ``dest`` hashing on the way; refuse (and delete the copy) if size or sha256 differ.

    Copying first means the bytes scanned are exactly the bytes verified, even if the source changes later.
    """
    h = hashlib.sha256()
    n = 0
    tmp = dest.with_name(dest.name + ".part")
    try:
        with open(src, "rb") as fi, open(tmp, "wb") as fo:
            for chunk in iter(lambda: fi.read(_CHUNK), b""):
                n += len(chunk)
                if n > max_bytes:
                    raise FetchError(f"{label or src}: larger than the {max_bytes}-byte cap / 超过大小上限")
                h.update(chunk)
                fo.write(chunk)
        check_digest(h.hexdigest(), n, sha256=sha256, size=size, label=label or str(src))
        os.replace(tmp, dest)
        return dest
    except OSError as exc:
        raise FetchError(f"{label or src}: cannot read artifact: {exc.strerror or exc} / 无法读取文件") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def check_digest(actual: str, n: int, *, sha256: str | None, size: int | None, label: str) -> None:
    """Compare what was received with what the store listed; raise :class:`FetchError` on any difference."""
    if size is not None and n != size:
        kind = "truncated" if n < size else "oversize"
        zh = "下载不完整" if n < size else "文件大小不符"
        raise FetchError(f"{label}: {kind}: got {n} bytes, index says {size} / {zh}")
    if sha256 is not None and actual.lower() != sha256.lower():
        raise FetchError(
            f"{label}: sha256 mismatch: got {actual}, index says {sha256.lower()}; artifact refused / "
            "sha256 校验失败，拒绝扫描"
        )


def write_decision_file(folder: Path, record: DecisionRecord) -> Path:
    """Write a decision as JSON into ``folder`` atomically (temp file + ``os.replace``); same id → same file.

    For backends without an API (a drop folder, a static F-Droid repository): a person or a script picks the
    files up. Rewriting the same delivery id replaces the file, so a resend is never a second decision.
    """
    folder.mkdir(parents=True, exist_ok=True)
    safe_app = "".join(c if c.isalnum() or c in "._-" else "_" for c in record.app_id)[:100] or "app"
    dest = folder / f"{safe_app}.{record.scan_id}.{record.action}.{record.delivery_id[:12]}.json"
    tmp = folder / f".{dest.name}.tmp"
    try:
        tmp.write_text(json.dumps(record.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, dest)
    except OSError as exc:
        raise PushError(f"{folder}: cannot write decision: {exc.strerror or exc} / 无法写入决定文件") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest


def remove_tree(path: Path) -> None:
    """Remove a private temp dir, ignoring what is already gone."""
    shutil.rmtree(path, ignore_errors=True)


def parse_when(value: Any) -> datetime | None:
    """A store timestamp → aware UTC datetime: ISO 8601 text, or epoch seconds/milliseconds (F-Droid uses ms)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        secs = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(secs, tz=timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return parse_when(int(text))
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return None


def check_keys(cfg: Mapping[str, Any], allowed: frozenset[str], adapter: str) -> None:
    """Refuse unknown config keys: a typo (``retires:``) must not silently fall back to a default."""
    unknown = sorted(str(k) for k in cfg if k not in allowed)
    if unknown:
        raise ConfigError(
            f"{adapter}: unknown config key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))} / 未知配置项"
        )


def lookup(data: Any, dotted: str | None) -> Any:
    """``a.b.0.c`` inside nested mappings/lists; None when any step is missing (field mappings are optional)."""
    if not dotted:
        return None
    cur = data
    for part in dotted.split("."):
        if isinstance(cur, Mapping):
            cur = cur.get(part)
        elif isinstance(cur, list) and part.lstrip("-").isdigit():
            i = int(part)
            cur = cur[i] if -len(cur) <= i < len(cur) else None
        else:
            return None
        if cur is None:
            return None
    return cur

"""Error types of the mini-program readers; each is a :class:`~scanner.errors.ReadError`, so callers catch one base."""

from __future__ import annotations

from scanner.errors import ReadError


class MiniProgramError(ReadError):
    """Base of every mini-program reader error (a package or part of it could not be read)."""


class WxapkgFormatError(MiniProgramError):
    """A WeChat ``.wxapkg`` header or index is inconsistent (bad magic, counts or lengths beyond the file)."""


class WxapkgDecryptError(MiniProgramError):
    """A PC-encrypted (``V1MMWX``) package could not be decrypted or its XOR key not recovered."""


class TtpkgFormatError(MiniProgramError):
    """A Douyin ``TPKG`` header or index is inconsistent, or it is a variant whose index is obfuscated."""


class ContainerFormatError(MiniProgramError):
    """A zip/tar based mini-program container (rpk, hap, amr, source zip) is unusable as such."""


class ConfigError(MiniProgramError):
    """A package's config file (app-config.json, manifest.json, module.json, Manifest.xml…) is unreadable."""

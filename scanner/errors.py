"""Errors readers raise. Everything an artifact can make a reader do ends in one of these, never another type."""


class ReadError(Exception):
    """An artifact (or part of one) could not be read; becomes a ``ScanError`` and forces ``needs_review``."""

    def __init__(self, message: str, locator: str = "", stage: str = "read") -> None:
        super().__init__(message)
        self.message = message
        self.locator = locator
        self.stage = stage


class LimitExceeded(ReadError):
    """A resource limit (bytes, entries, depth, ratio, time) was hit; reading stops for that part."""


class BudgetSpent(LimitExceeded):
    """The whole artifact's budget (total bytes read, wall time) is spent: reading stops for all of it."""


class ZipFormatError(ReadError):
    """The zip structure is broken beyond what Android's installer would tolerate."""


class DexFormatError(ReadError):
    """A DEX file's header or tables are inconsistent."""

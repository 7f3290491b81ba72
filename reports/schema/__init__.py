"""Shipped JSON Schemas: our JSON report contract and the official SARIF 2.1.0 schema (see SOURCES.md).

Pipelines that consume ``synthreview`` output can validate against the same files the tests use, so a
contract break shows up as a schema error rather than as a silently wrong store decision.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import FormatChecker, ValidationError
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

__all__ = [
    "REPORT_SCHEMA",
    "SARIF_SCHEMA",
    "SARIF_SCHEMA_URI",
    "ValidationError",
    "load_schema",
    "report_errors",
    "sarif_errors",
    "validate_report",
    "validate_sarif",
]

REPORT_SCHEMA = "report.schema.json"
SARIF_SCHEMA = "sarif-schema-2.1.0.json"
#: The ``id`` of the shipped SARIF schema: the OASIS SARIF 2.1.0 Errata 01 published schema.
SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A shipped schema by file name (package data, read once)."""
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


# -- URI formats -------------------------------------------------------------------------------------------
# jsonschema only checks "uri"/"uri-reference" when the optional rfc3987 package is installed; SARIF readers
# (GitHub code scanning among them) reject invalid URIs, so check them here with RFC 3986's character rules.

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_URI_CHARS = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")

_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("uri-reference")
def _is_uri_reference(value: object) -> bool:
    """RFC 3986 URI-reference: only allowed characters, valid %-escapes, no ':' in a relative first segment."""
    if not isinstance(value, str):
        return True
    if not _URI_CHARS.match(value):
        return False
    if _SCHEME.match(value):
        return True
    first = value.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return ":" not in first


@_FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    """RFC 3986 absolute URI: a scheme, then URI characters."""
    if not isinstance(value, str):
        return True
    return bool(_SCHEME.match(value)) and _is_uri_reference(value)


@cache
def _validator(name: str) -> Validator:
    schema = load_schema(name)
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=_FORMATS)  # type: ignore[no-any-return]


def _errors(name: str, obj: Any) -> Iterator[ValidationError]:
    return _validator(name).iter_errors(obj)


def _raise_best(name: str, obj: Any) -> None:
    err = best_match(_errors(name, obj))
    if err is not None:
        raise err


def report_errors(obj: Any) -> list[str]:
    """Every violation of the JSON report schema, as ``path: message`` lines (empty = valid)."""
    return [f"{e.json_path}: {e.message}" for e in _errors(REPORT_SCHEMA, obj)]


def validate_report(obj: Any) -> None:
    """Raise :class:`jsonschema.ValidationError` unless ``obj`` (parsed JSON) is a valid report or list of them."""
    _raise_best(REPORT_SCHEMA, obj)


def sarif_errors(obj: Any) -> list[str]:
    """Every violation of the official SARIF 2.1.0 schema (URIs checked too), as ``path: message`` lines."""
    return [f"{e.json_path}: {e.message}" for e in _errors(SARIF_SCHEMA, obj)]


def validate_sarif(obj: Any) -> None:
    """Raise :class:`jsonschema.ValidationError` unless ``obj`` is a valid SARIF 2.1.0 log."""
    _raise_best(SARIF_SCHEMA, obj)

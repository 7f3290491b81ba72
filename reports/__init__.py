"""Formatters: pure functions of ScanResult → text (json, sarif, html, md, table)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import assert_never

from reports.model import ScanResult


class Format(str, Enum):
    """Report formats of ``synthreview scan --format``."""

    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"
    HTML = "html"
    MD = "md"


def render(fmt: Format, results: Sequence[ScanResult]) -> str:
    """Render results in a format."""
    if fmt is Format.TABLE:
        from reports.terminal import render_terminal

        return render_terminal(results)
    if fmt is Format.JSON:
        from reports.json_report import render_json

        return render_json(results)
    if fmt is Format.SARIF:
        from reports.sarif import render_sarif

        return render_sarif(results)
    if fmt is Format.HTML:
        from reports.html import render_html

        return render_html(results)
    if fmt is Format.MD:
        from reports.markdown import render_markdown

        return render_markdown(results)
    assert_never(fmt)

"""Docs as tests: RULES.md is generated from the packs, and the README names every command."""

from __future__ import annotations

from pathlib import Path

from rules.loader import default_pack
from synthreview.cli import COMMANDS, build_parser
from synthreview.commands.rules import rules_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_rules_md_is_fresh() -> None:
    expected = rules_markdown(default_pack()) + "\n"
    assert (ROOT / "RULES.md").read_text(encoding="utf-8") == expected, (
        "RULES.md is stale: run `synthreview rules list --format md -o RULES.md`"
    )


def test_readme_mentions_every_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        assert f"synthreview {name}" in readme, name
    assert set(sub.choices) <= set(COMMANDS)  # type: ignore[arg-type]

"""The zh-CN developer notice, golden-tested (issue #6 acceptance 3, issue #10 acceptance 2).

Regenerate after an intended change with ``REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_reports_markdown.py``
and review the diff. Volatile fields (tool version, hashes, absolute paths) are normalised first.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from test_reports_cases import HOSTILE_NAME, ROOT, case

from reports.markdown import md_code, md_text, render_markdown

GOLDEN = Path(__file__).resolve().parent / "golden"
REGEN = os.environ.get("REGEN_GOLDEN") == "1"
GOLDEN_CASES = ("demo", "plain", "truncated", "miniprogram_ai", "listed_mismatch", "valid_filing")


def normalise(text: str, tool_version: str) -> str:
    """Replace what changes without the notice changing: tool version, sha256 values, the checkout path."""
    text = text.replace(f"synthreview {tool_version}", "synthreview <version>")
    text = re.sub(r"\b[0-9a-f]{64}\b", "<sha256>", text)
    return text.replace(str(ROOT), "<root>")


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_notice_matches_golden(name: str) -> None:
    r = case(name)
    got = normalise(render_markdown([r]), r.provenance.tool_version)
    path = GOLDEN / f"notice_{name}.md"
    if REGEN:
        path.parent.mkdir(exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert path.is_file(), f"{path.name} missing: run with REGEN_GOLDEN=1"
    assert got == path.read_text(encoding="utf-8"), f"{path.name} differs: review, then REGEN_GOLDEN=1"


def test_notice_says_what_a_developer_needs() -> None:
    """Independent of the golden text: the parts the issue asks for are there."""
    md = render_markdown([case("demo")])
    assert md.startswith("# 审核意见：")
    assert "**不予上架**（reject）" in md
    assert "人脸生成、替换、编辑与操控" in md  # capability in Chinese
    assert "FaceUnity Nama SDK" in md  # SDK
    assert "`demo_faceapp.apk!lib/arm64-v8a/libCNamaSDK.so`" in md  # evidence locator
    assert "第十九条" in md and "第二十三条" in md  # articles in Chinese
    assert "## 四、服务提供者义务核查" in md and "内容审核" in md  # compliance checklist
    assert "## 五、请补充提交的材料" in md
    for need in ("算法备案编号", "安全评估", "标识材料", "内容审核机制说明", "单独同意"):
        assert need in md, need
    assert md.rstrip().splitlines()[-1].startswith("English summary: reject")


def test_clean_app_gets_no_demands() -> None:
    md = render_markdown([case("plain")])
    assert "**通过**（list）" in md and "无需补充材料" in md and "不适用" in md


def test_errors_are_listed_and_block_list() -> None:
    md = render_markdown([case("truncated")])
    assert "## 六、扫描错误" in md and "人工复核" in md
    assert "完整、未经篡改的安装包" in md


def test_several_notices_are_separated() -> None:
    md = render_markdown([case("demo"), case("plain")])
    assert md.count("# 审核意见：") == 2 and "\n---\n\n# 审核意见：Quick Notes" in md


def test_package_text_cannot_inject_markdown() -> None:
    md = render_markdown([case("hostile")])
    assert HOSTILE_NAME not in md
    assert "<script>" not in md and "](http" not in md.replace("\\](http", "")
    assert md_text("<b>") == "\\<b\\>"
    assert md_text("face_manipulation") == "face_manipulation"
    assert md_text("_x_") == "\\_x\\_"
    assert md_code("a`b") == "``a`b``"
    assert md_code("x\ny") == "`x y`"

"""``synthreview registry import|lookup`` through ``main(argv)`` (issue #5 acceptance 4)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import docx
import pytest

from synthreview.cli import main

JIANYING = "网信算备110108823483901230015号"
DS_HEADER = ["序号", "算法名称", "角色", "主体名称", "应用产品", "主要用途", "备案编号", "备注"]
ROWS = [
    ["1", "腾讯会议虚拟背景算法", "服务提供者", "深圳市腾讯计算机系统有限公司", "腾讯会议（APP）", "虚拟背景",
     "网信算备440305295988701230021号", ""],
    ["2", "腾讯云人脸融合算法", "服务技术支持者", "深圳市腾讯计算机系统有限公司", "--", "人脸融合",
     "网信算备440305295988701230013号", ""],
]


def make_docx(path: Path) -> Path:
    d = docx.Document()
    d.add_paragraph("境内深度合成服务算法备案清单（2023年6月）")
    t = d.add_table(rows=1, cols=len(DS_HEADER))
    for c, h in zip(t.rows[0].cells, DS_HEADER):
        c.text = h
    for r in ROWS:
        for c, v in zip(t.add_row().cells, r):
            c.text = v
    d.save(str(path))
    return path


def test_lookup_on_demo_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "none.db"
    assert main(["registry", "lookup", JIANYING, "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "剪映特效算法" in out and "北京抖音信息服务有限公司" in out and "demo registry" in out
    assert not db.exists()  # a lookup never creates a DB


def test_lookup_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "lookup", "110108823483901230015", "--db", str(tmp_path / "x.db"),
                 "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["number"] == JIANYING and data["validity"] == "valid" and data["registry"]["demo"] is True
    (row,) = data["rows"]
    assert row["algorithm"] == "剪映特效算法" and row["role_kind"] == "provider" and row["cancelled"] is None


def test_lookup_cancelled_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "lookup", "网信算备440305295988701240113号", "--db", str(tmp_path / "x.db"),
                 "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cancelled"]["algorithm"] == "应用宝图像融合算法"


def test_lookup_genai(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "lookup", "Beijing-YunQue-20230821", "--db", str(tmp_path / "x.db")]) == 0
    assert "云雀大模型" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("number", "needle"),
    [
        ("网信算备110108823483901230017号", "not found"),  # valid check digit, not listed
        ("网信算备110108823483901230016号", "check digit is 6, expected 5"),
        ("网信算备11010882348390123001号", "wrong length: 20 digits, expected 21"),
        ("网信算备110108xxxxxx号", "placeholder"),
        ("hello", "not a recognisable filing number"),
        ("Atlantis-Foo-20230821", "unknown province"),
        ("京ICP备2023031661号-3A", "beian.miit.gov.cn"),
    ],
)
def test_lookup_unknown_or_malformed(tmp_path: Path, capsys: pytest.CaptureFixture[str], number: str,
                                     needle: str) -> None:
    assert main(["registry", "lookup", number, "--db", str(tmp_path / "x.db")]) == 1
    cap = capsys.readouterr()
    assert cap.out == ""
    assert needle in cap.err
    assert any("\u4e00" <= ch <= "\u9fff" for ch in cap.err.splitlines()[0])  # a Chinese line too


def test_import_then_lookup_uses_db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "s.db"
    f = make_docx(tmp_path / "list.docx")
    assert main(["registry", "import", str(f), "--db", str(db)]) == 0
    assert "imported batch #1: 2 deep_synthesis" in capsys.readouterr().out
    assert main(["registry", "import", str(f), "--db", str(db)]) == 0
    assert "already imported" in capsys.readouterr().out

    assert main(["registry", "lookup", "网信算备440305295988701230013号", "--db", str(db), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["registry"]["demo"] is False and data["rows"][0]["role_kind"] == "supporter"
    # the DB now has a registry, so the demo rows are no longer consulted
    assert main(["registry", "lookup", JIANYING, "--db", str(db)]) == 1
    assert "not found" in capsys.readouterr().err


def test_import_cancellations_marks_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "s.db"
    main(["registry", "import", str(make_docx(tmp_path / "list.docx")), "--db", str(db)])
    c = tmp_path / "c.csv"
    with c.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([["备案编号"], ["网信算备440305295988701230021号"]])
    assert main(["registry", "import", str(c), "--db", str(db), "--kind", "cancellation"]) == 0
    capsys.readouterr()
    assert main(["registry", "lookup", "网信算备440305295988701230021号", "--db", str(db)]) == 0
    assert "已注销" in capsys.readouterr().out


def test_import_garbage_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.docx"
    bad.write_bytes(b"not a docx at all")
    assert main(["registry", "import", str(bad), "--db", str(tmp_path / "s.db")]) == 1
    cap = capsys.readouterr()
    assert "import failed" in cap.err and "导入失败" in cap.err


def test_db_from_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "env.db"
    monkeypatch.setenv("SYNTHREVIEW_DB", str(db))
    assert main(["registry", "import", str(make_docx(tmp_path / "l.docx"))]) == 0
    assert db.exists()
    capsys.readouterr()
    assert main(["registry", "lookup", "440305295988701230021"]) == 0
    assert "腾讯会议虚拟背景算法" in capsys.readouterr().out


def test_registry_needs_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["registry"])
    assert exc.value.code == 2

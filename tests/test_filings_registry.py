"""Registry import: the CAC layouts in .docx/.xlsx/.csv/.json import, re-import is a no-op, cancellations mark
rows, garbage fails closed with RegistryImportError only."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import docx
import openpyxl
import pytest
import sqlite_utils

from filings.registry import (
    BatchKind,
    ImportKind,
    ListKind,
    Product,
    RegistryImportError,
    Role,
    has_registry,
    import_file,
    load_seed_registry,
    load_snapshot,
    open_db,
    parse_products,
    parse_registry_file,
)

DS_HEADER = ["序号", "算法名称", "角色", "主体名称", "应用产品", "主要用途", "备案编号", "备注"]
GENAI_HEADER = ["序号", "属地", "模型名称", "备案单位", "备案号", "备案时间"]


def ds_rows() -> list[list[str]]:
    """The seed's deep-synthesis rows as published cells (batch 2023-06 and 2023-08 excerpts)."""
    seed = load_seed_registry()
    out = []
    for r in seed.rows:
        if r.list_kind is ListKind.DEEP_SYNTHESIS:
            out.append([r.seq, r.algorithm, r.role, r.entity, r.products, r.purpose, r.number, r.note])
    return out


def genai_rows() -> list[list[str]]:
    seed = load_seed_registry()
    return [[r.seq, r.region, r.algorithm, r.entity, r.number, r.filed] for r in seed.rows
            if r.list_kind is not ListKind.DEEP_SYNTHESIS]


def write_docx(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]], title: str) -> Path:
    """A .docx laid out like the CAC attachment: a title paragraph, then one table whose first row is the header."""
    d = docx.Document()
    d.add_paragraph(title)
    t = d.add_table(rows=1, cols=len(header))
    for cell, h in zip(t.rows[0].cells, header):
        cell.text = h
    for row in rows:
        cells = t.add_row().cells
        for cell, v in zip(cells, row):
            cell.text = v
    d.save(str(path))
    return path


def write_xlsx(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["境内深度合成服务算法备案清单"])  # a title row above the header, as stores' sheets often have
    ws.append(list(header))
    for r in rows:
        ws.append([int(r[0]) if r[0].isdigit() else r[0], *r[1:]])
    wb.save(str(path))
    return path


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_json(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    path.write_text(json.dumps([dict(zip(header, r)) for r in rows], ensure_ascii=False), encoding="utf-8")
    return path


WRITERS: dict[str, Callable[[Path, Sequence[str], Sequence[Sequence[str]]], Path]] = {
    "docx": lambda p, h, r: write_docx(p, h, r, "境内深度合成服务算法备案清单（2023年6月）"),
    "xlsx": write_xlsx,
    "csv": write_csv,
    "json": write_json,
}


def counts(db: sqlite_utils.Database) -> tuple[int, int, int]:
    return (db.table("registry_batches").count, db.table("registry_rows").count,
            db.table("registry_cancellations").count)


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_deep_synthesis_list_imports_in_every_form(tmp_path: Path, fmt: str) -> None:
    rows = ds_rows()
    f = WRITERS[fmt](tmp_path / f"list.{fmt}", DS_HEADER, rows)
    db = open_db(tmp_path / "s.db")
    res = import_file(db, f)
    assert res.created and res.batch.kind is BatchKind.DEEP_SYNTHESIS and res.batch.row_count == len(rows)
    assert counts(db) == (1, len(rows), 0)

    again = import_file(db, f)
    assert not again.created and again.batch.id == res.batch.id
    assert counts(db) == (1, len(rows), 0)  # importing twice adds nothing

    snap = load_snapshot(db)
    assert not snap.demo and len(snap) == len(rows)
    (row,) = snap.lookup("网信算备110108823483901230015号")
    assert (row.algorithm, row.entity, row.role_kind) == ("剪映特效算法", "北京抖音信息服务有限公司", Role.PROVIDER)
    assert row.batch_source == f.name
    (sup,) = snap.lookup("110108823483901230023")
    assert sup.role_kind is Role.SUPPORTER and sup.products == "--" and sup.product_list == ()


def test_same_rows_in_two_forms_are_two_batches_but_one_row(tmp_path: Path) -> None:
    rows = ds_rows()
    db = open_db(tmp_path / "s.db")
    import_file(db, write_docx(tmp_path / "a.docx", DS_HEADER, rows, "清单"))
    import_file(db, write_csv(tmp_path / "a.csv", DS_HEADER, rows))
    assert counts(db)[0] == 2
    snap = load_snapshot(db)
    assert len(snap.lookup("网信算备110108823483901230015号")) == 1
    assert len(snap.batches) == 2 and snap.snapshot_id != load_seed_registry().snapshot_id


def test_snapshot_id_is_hash_over_batches(tmp_path: Path) -> None:
    rows = ds_rows()
    a = tmp_path / "a.csv"
    write_csv(a, DS_HEADER, rows)
    b = tmp_path / "b.csv"
    write_csv(b, DS_HEADER, rows[:10])
    db1, db2 = open_db(tmp_path / "1.db"), open_db(tmp_path / "2.db")
    import_file(db1, a)
    import_file(db1, b)
    import_file(db2, b)
    import_file(db2, a)
    assert load_snapshot(db1).snapshot_id == load_snapshot(db2).snapshot_id
    db3 = open_db(tmp_path / "3.db")
    import_file(db3, a)
    assert load_snapshot(db3).snapshot_id != load_snapshot(db1).snapshot_id


@pytest.mark.parametrize("fmt", ["docx", "csv", "xlsx", "json"])
def test_genai_list_imports(tmp_path: Path, fmt: str) -> None:
    rows = genai_rows()
    f = WRITERS[fmt](tmp_path / f"genai.{fmt}", GENAI_HEADER, rows)
    db = open_db(tmp_path / "s.db")
    res = import_file(db, f)
    assert res.batch.kind is BatchKind.GENAI and res.batch.row_count == len(rows)
    snap = load_snapshot(db)
    (dengji,) = snap.lookup("Beijing-WangYiYouDaoCiDian-20260415S0167")
    assert dengji.list_kind is ListKind.GENAI_DENGJI and dengji.entity == "北京网易有道计算机系统有限公司"
    (beian,) = snap.lookup("zhejiang-tongyiqianwen-20230901")  # province casing varies in the wild
    assert beian.list_kind is ListKind.GENAI_BEIAN and beian.filed == "2023-09-12"


def test_later_genai_header_variant(tmp_path: Path) -> None:
    header = ["序号", "属地", "大模型名称", "备案单位", "备案编号", "备案时间"]
    f = write_csv(tmp_path / "g.csv", header, [["1", "北京市", "豆包手机助手", "北京春田知韵科技有限公司",
                                                 "Beijing-DouBaoShouJiZhuShou-202603120194", "2026/7/15"]])
    pb = parse_registry_file(f)
    assert pb.kind is BatchKind.GENAI and pb.rows[0].filed == "2026-07-15"


CANCELLED = ["网信算备330110985154601250033号", "网信算备440305295988701240113号", "110108823483901230015"]


def test_cancellations_mark_rows_txt(tmp_path: Path) -> None:
    db = open_db(tmp_path / "s.db")
    import_file(db, write_csv(tmp_path / "list.csv", DS_HEADER, ds_rows()))
    txt = tmp_path / "numbers.txt"
    txt.write_text("\n".join(CANCELLED) + "\n", encoding="utf-8")
    res = import_file(db, txt)
    assert res.batch.kind is BatchKind.CANCELLATION and res.batch.row_count == 3
    snap = load_snapshot(db)
    assert snap.is_cancelled("网信算备110108823483901230015号")
    assert snap.lookup("网信算备110108823483901230015号")  # the row stays, marked cancelled
    assert not snap.is_cancelled("网信算备110108823483901230023号")
    assert import_file(db, txt).created is False
    assert counts(db)[2] == 3


def test_cancellation_before_list_still_marks(tmp_path: Path) -> None:
    db = open_db(tmp_path / "s.db")
    import_file(db, write_csv(tmp_path / "c.csv", ["备案编号"], [[n] for n in CANCELLED]))
    import_file(db, write_docx(tmp_path / "list.docx", DS_HEADER, ds_rows(), "境内深度合成服务算法备案清单"))
    assert load_snapshot(db).is_cancelled("110108823483901230015")


def test_cancellation_notice_docx(tmp_path: Path) -> None:
    header = ["序号", "算法名称", "主体名称", "应用产品", "备案编号"]
    rows = [["1", "应用宝图像融合算法", "深圳市腾讯计算机系统有限公司", "应用宝(APP)", "网信算备440305295988701240113号"],
            ["2", "腾讯数字人视频合成算法", "深圳市腾讯计算机系统有限公司", "--", "网信算备440305295988701240147号"]]
    f = write_docx(tmp_path / "notice.docx", header, rows, '关于注销"应用宝图像融合算法"等2个算法备案编号的公告')
    pb = parse_registry_file(f)
    assert pb.kind is BatchKind.CANCELLATION
    assert [(c.number, c.algorithm) for c in pb.cancellations] == [
        ("网信算备440305295988701240113号", "应用宝图像融合算法"),
        ("网信算备440305295988701240147号", "腾讯数字人视频合成算法")]


def test_cancellation_docx_of_paragraphs_needs_kind_or_title(tmp_path: Path) -> None:
    d = docx.Document()
    d.add_paragraph("以下编号：")
    for n in CANCELLED:
        d.add_paragraph(n)
    f = tmp_path / "plain.docx"
    d.save(str(f))
    with pytest.raises(RegistryImportError):
        parse_registry_file(f)  # auto: no table, no 注销 in the title → refuse
    pb = parse_registry_file(f, ImportKind.CANCELLATION)
    assert len(pb.cancellations) == 3


def test_forced_kind_must_fit(tmp_path: Path) -> None:
    f = write_csv(tmp_path / "g.csv", GENAI_HEADER, genai_rows())
    with pytest.raises(RegistryImportError, match="deep_synthesis header"):
        parse_registry_file(f, "deep_synthesis")


def test_list_named_like_a_notice_is_ambiguous(tmp_path: Path) -> None:
    f = write_csv(tmp_path / "注销清单.csv", DS_HEADER, ds_rows())
    with pytest.raises(RegistryImportError, match="ambiguous"):
        parse_registry_file(f)
    assert parse_registry_file(f, "deep_synthesis").kind is BatchKind.DEEP_SYNTHESIS


def test_numeric_excel_cells_are_not_trusted(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(DS_HEADER)
    ws.append([1, "剪映特效算法", "服务提供者", "北京抖音信息服务有限公司", "剪映（APP）", "", 110108823483901230015, ""])
    ws.append([2, "腾讯会议虚拟背景算法", "服务提供者", "深圳市腾讯计算机系统有限公司", "腾讯会议（APP）", "",
               "网信算备440305295988701230021号", ""])
    f = tmp_path / "n.xlsx"
    wb.save(str(f))
    pb = parse_registry_file(f)
    assert [r.number for r in pb.rows] == ["网信算备440305295988701230021号"]
    assert any("lost digits" in w for w in pb.warnings)


def _garbage(path: Path) -> Path:
    path.write_bytes(os.urandom(2048))
    return path


def _zip_not_docx(path: Path) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "not a word document")
    return path


def _docx_without_table(path: Path) -> Path:
    d = docx.Document()
    d.add_paragraph("境内深度合成服务算法备案清单")
    d.save(str(path))
    return path


def _docx_header_only(path: Path) -> Path:
    return write_docx(path, DS_HEADER, [], "清单")


def _docx_other_table(path: Path) -> Path:
    return write_docx(path, ["姓名", "电话"], [["张三", "123"]], "通讯录")


def _empty_xlsx(path: Path) -> Path:
    openpyxl.Workbook().save(str(path))
    return path


def _csv_wrong_headers(path: Path) -> Path:
    return write_csv(path, ["name", "company", "id"], [["剪映特效算法", "北京抖音信息服务有限公司", "110108823483901230015"],
                                                       ["foo", "bar", "baz"]])


def _csv_partial_header(path: Path) -> Path:
    return write_csv(path, ["算法名称", "主体名称", "备案编号"], [["剪映特效算法", "北京抖音", "110108823483901230015"]])


def _csv_binary(path: Path) -> Path:
    path.write_bytes(b"\x00\x01\x02" * 100)
    return path


def _json_garbage(path: Path) -> Path:
    path.write_text("{not json", encoding="utf-8")
    return path


def _json_wrong_shape(path: Path) -> Path:
    path.write_text(json.dumps({"hello": [1, 2, {"a": None}]}), encoding="utf-8")
    return path


def _json_wrong_keys(path: Path) -> Path:
    path.write_text(json.dumps([{"a": 1, "b": 2}]), encoding="utf-8")
    return path


def _empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _txt_not_numbers(path: Path) -> Path:
    path.write_text("hello\nworld\n", encoding="utf-8")
    return path


def _unsupported(path: Path) -> Path:
    path.write_text("x", encoding="utf-8")
    return path


def _garbage_xlsx(path: Path) -> Path:
    path.write_bytes(b"PK\x03\x04" + os.urandom(500))
    return path


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("garbage.docx", _garbage),
        ("zip.docx", _zip_not_docx),
        ("notable.docx", _docx_without_table),
        ("headeronly.docx", _docx_header_only),
        ("other.docx", _docx_other_table),
        ("empty.xlsx", _empty_xlsx),
        ("garbage.xlsx", _garbage_xlsx),
        ("wrong.csv", _csv_wrong_headers),
        ("partial.csv", _csv_partial_header),
        ("binary.csv", _csv_binary),
        ("garbage.json", _json_garbage),
        ("shape.json", _json_wrong_shape),
        ("keys.json", _json_wrong_keys),
        ("empty.csv", _empty_file),
        ("words.txt", _txt_not_numbers),
        ("list.pdf", _unsupported),
    ],
)
def test_malformed_files_fail_closed(tmp_path: Path, name: str, make: Callable[[Path], Path]) -> None:
    f = make(tmp_path / name)
    db = open_db(tmp_path / "s.db")
    with pytest.raises(RegistryImportError) as exc:
        import_file(db, f)
    assert str(exc.value)
    assert counts(db) == (0, 0, 0)  # nothing half-imported


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryImportError, match="cannot read"):
        parse_registry_file(tmp_path / "nope.docx")


def test_seed_registry_holds_every_reference_row() -> None:
    seed = load_seed_registry()
    assert seed.demo and seed.source == "seed"
    kinds = [r.list_kind for r in seed.rows]
    assert kinds.count(ListKind.DEEP_SYNTHESIS) == 41 + 14  # §5.1 batch 1 and batch 2 (+ 豆包 #31)
    assert kinds.count(ListKind.GENAI_BEIAN) + kinds.count(ListKind.GENAI_DENGJI) == 19  # §5.2
    assert kinds.count(ListKind.GENAI_DENGJI) == 3
    assert len(seed.cancellations) == 9  # §5.3
    assert seed.lookup("网信算备110108823483901230031号")[0].algorithm == "豆包大模型算法"
    c = seed.cancellation("440305295988701240147")
    assert c is not None and c.entity == "深圳市腾讯计算机系统有限公司" and c.cancelled == "2026-07"
    assert seed is load_seed_registry()  # cached, immutable
    assert load_seed_registry().snapshot_id == seed.snapshot_id


def test_empty_db_falls_back_to_seed(tmp_path: Path) -> None:
    db = open_db(tmp_path / "s.db")
    assert not has_registry(db)
    assert load_snapshot(db).demo
    assert not load_snapshot(db, fallback_to_seed=False).demo
    assert load_snapshot(None).demo


@pytest.mark.parametrize(
    ("text", "products", "open_ended"),
    [
        ("美团（APP）", (Product("美团", ("APP",)),), False),
        ("1688工业品（APP）、阿里巴巴（APP、网站）", (Product("1688工业品", ("APP",)), Product("阿里巴巴", ("APP", "网站"))), False),
        ("西瓜视频（APP）、剪映（APP）等", (Product("西瓜视频", ("APP",)), Product("剪映", ("APP",))), True),
        ("酷狗概念版(APP)、酷狗音乐(APP)", (Product("酷狗概念版", ("APP",)), Product("酷狗音乐", ("APP",))), False),
        ("写作蛙（小程序）", (Product("写作蛙", ("小程序",)),), False),
        ("--", (), False),
        ("(其他)", (Product("", ("其他",)),), False),
    ],
)
def test_parse_products(text: str, products: tuple[Product, ...], open_ended: bool) -> None:
    assert parse_products(text) == (products, open_ended)

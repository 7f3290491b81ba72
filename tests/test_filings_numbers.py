"""Filing-number parsers: real numbers validate, mutations mostly fail, placeholders and odd spellings are named."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from filings.numbers import (
    FilingKind,
    NumberStatus,
    find_filings,
    number_key,
    parse_filing,
    suanbei_check_digit,
    suanbei_ok,
)

SEED = Path(__file__).resolve().parent.parent / "filings" / "data" / "seed_registry.json"

#: filings.md §2.1 / §2.6: numbers seen in apps, footers and vendor pages (not all are list rows).
IN_APP_NUMBERS = (
    "310115124334401240013", "110108645502801230035", "330110507206401240101", "110108896786101240023",
    "110108823483901230065", "440305295988701230071", "330105747635301240017", "110114085306301240013",
    "330109830471102220013", "110108916280901240011", "110108970550101240011", "110108823483901230031",
)


def _seed_numbers() -> tuple[list[str], list[str]]:
    seed = json.loads(SEED.read_text(encoding="utf-8"))
    algo: list[str] = []
    genai: list[str] = []
    for b in seed["batches"]:
        for r in b["rows"]:
            n = r.get("备案编号") or r.get("备案号")
            (genai if b["kind"] == "genai" else algo).append(n)
    return algo, genai


def _real_digits() -> list[str]:
    algo, _ = _seed_numbers()
    digits = {re.sub(r"\D", "", n) for n in algo} | set(IN_APP_NUMBERS)
    return sorted(digits)


def test_every_seed_number_validates() -> None:
    algo, genai = _seed_numbers()
    assert len(algo) >= 60 and len(genai) >= 19
    for n in algo:
        fn = parse_filing(n)
        assert fn.kind is FilingKind.ALGORITHM and fn.status is NumberStatus.VALID, (n, fn.problem_en)
    for n in genai:
        fn = parse_filing(n)
        assert fn.kind in (FilingKind.GENAI_BEIAN, FilingKind.GENAI_DENGJI) and fn.ok, (n, fn.problem_en)
        assert (fn.kind is FilingKind.GENAI_DENGJI) == ("S" in n.rsplit("-", 1)[1])


def test_every_in_app_number_validates() -> None:
    for d in IN_APP_NUMBERS:
        assert suanbei_ok(d), d
    for gid in ("Beijing-DeepseekChat-202404280016", "Beijing-XiaomiMiMo-202601050182",
                "Jiangsu-ZhiBiaoBao-202512030061", "ZhongYangQiYe-JiuTian-20240123"):
        assert parse_filing(gid).ok, gid


def test_every_21_digit_number_in_the_reference_validates(shared_dir: Path) -> None:
    text = (shared_dir / "reference" / "filings.md").read_text(encoding="utf-8")
    numbers = set(re.findall(r"(?<![0-9A-Za-z])\d{21}(?![0-9A-Za-z])", text))  # not inside AIGC producer codes
    assert len(numbers) >= 60
    bad = sorted(n for n in numbers if not suanbei_ok(n))
    assert not bad


def test_single_digit_mutations_mostly_fail_the_check_digit() -> None:
    """Acceptance 1: over all single-digit substitutions of the real numbers, ≥ 85 % fail the check."""
    total = failed = 0
    for d in _real_digits():
        assert suanbei_ok(d)
        for i in range(21):
            for ch in "0123456789":
                if ch == d[i]:
                    continue
                total += 1
                mutated = d[:i] + ch + d[i + 1:]
                if parse_filing(f"网信算备{mutated}号").status is NumberStatus.BAD_CHECK_DIGIT:
                    failed += 1
    rate = failed / total
    assert total == len(_real_digits()) * 21 * 9
    assert rate >= 0.85, rate


@given(st.text(alphabet="0123456789", min_size=20, max_size=20))
def test_check_digit_is_always_odd(first20: str) -> None:
    c = suanbei_check_digit(first20)
    assert c % 2 == 1
    assert suanbei_ok(first20 + str(c))


def test_algorithm_fields() -> None:
    fn = parse_filing("网信算备110108823483901230015号")
    assert fn.ok and fn.algorithm is not None
    a = fn.algorithm
    assert (a.region, a.entity_id, a.category, a.year, a.sequence, a.check_digit) == (
        "110108", "8234839", "01", 2023, "001", 5)
    assert a.category_zh == "生成合成类"
    assert parse_filing("330108562416102220019").algorithm.category_zh == "个性化推送类"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "kind", "status", "normalized"),
    [
        ("网信算备110108823483901230015号", FilingKind.ALGORITHM, NumberStatus.VALID, "网信算备110108823483901230015号"),
        ("网信算备：310115124334401240013号", FilingKind.ALGORITHM, NumberStatus.VALID, "网信算备310115124334401240013号"),
        ("网信算备 110108823483901230015 号", FilingKind.ALGORITHM, NumberStatus.VALID, "网信算备110108823483901230015号"),
        ("１１０１０８８２３４８３９０１２３００１５", FilingKind.ALGORITHM, NumberStatus.VALID,
         "网信算备110108823483901230015号"),
        ("110108823483901230015", FilingKind.ALGORITHM, NumberStatus.VALID, "网信算备110108823483901230015号"),
        ("110108823483901230016", FilingKind.ALGORITHM, NumberStatus.BAD_CHECK_DIGIT, "网信算备110108823483901230016号"),
        ("网信算备11000000000001号", FilingKind.ALGORITHM, NumberStatus.PLACEHOLDER, "网信算备11000000000001号"),
        ("网信算备110108xxxxxx号", FilingKind.ALGORITHM, NumberStatus.PLACEHOLDER, "网信算备110108xxxxxx号"),
        ("网信算备11010882348390123001号", FilingKind.ALGORITHM, NumberStatus.MALFORMED, "网信算备11010882348390123001号"),
        ("网信算备1101088234839012300155号", FilingKind.ALGORITHM, NumberStatus.MALFORMED,
         "网信算备1101088234839012300155号"),
        ("Beijing-WenXinYiYan-20230821", FilingKind.GENAI_BEIAN, NumberStatus.VALID, "Beijing-WenXinYiYan-20230821"),
        ("Beijing-DeepseekChat-202404280016", FilingKind.GENAI_BEIAN, NumberStatus.VALID,
         "Beijing-DeepseekChat-202404280016"),
        ("Beijing-WangYiYouDaoCiDian-20260415S0167", FilingKind.GENAI_DENGJI, NumberStatus.VALID,
         "Beijing-WangYiYouDaoCiDian-20260415S0167"),
        ("Tianjin-360ZhiNaoDaMoXing-20230831", FilingKind.GENAI_BEIAN, NumberStatus.VALID,
         "Tianjin-360ZhiNaoDaMoXing-20230831"),
        ("Beijing-Foo-20231340", FilingKind.GENAI_BEIAN, NumberStatus.MALFORMED, "Beijing-Foo-20231340"),
        ("Beijing-Foo-2023082112", FilingKind.GENAI_BEIAN, NumberStatus.MALFORMED, "Beijing-Foo-2023082112"),
        ("Beijing-Foo-20260415S01", FilingKind.GENAI_DENGJI, NumberStatus.MALFORMED, "Beijing-Foo-20260415S01"),
        ("Atlantis-Foo-20230821", FilingKind.GENAI_BEIAN, NumberStatus.MALFORMED, "Atlantis-Foo-20230821"),
        ("京ICP备2023031661号-3A", FilingKind.APP_BEIAN, NumberStatus.VALID, "京ICP备2023031661号-3A"),
        ("陕ICP备16009628号-11", FilingKind.ICP, NumberStatus.VALID, "陕ICP备16009628号-11"),
        ("沪ICP备13030189号", FilingKind.ICP, NumberStatus.VALID, "沪ICP备13030189号"),
        ("京ICP备123号", FilingKind.ICP, NumberStatus.MALFORMED, "京ICP备123号"),
        ("京ICP备xxxxxxxx号", FilingKind.ICP, NumberStatus.PLACEHOLDER, "京ICP备xxxxxxxx号"),
        ("hello world", FilingKind.UNKNOWN, NumberStatus.MALFORMED, "hello world"),
        ("", FilingKind.UNKNOWN, NumberStatus.MALFORMED, ""),
    ],
)
def test_parse_filing(text: str, kind: FilingKind, status: NumberStatus, normalized: str) -> None:
    fn = parse_filing(text)
    assert (fn.kind, fn.status, fn.normalized) == (kind, status, normalized)
    if status is not NumberStatus.VALID:
        assert fn.problem_zh and fn.problem_en


def test_messages_say_what_is_wrong() -> None:
    assert "expected 21" in parse_filing("网信算备11010882348390123001号").problem_en
    bad = parse_filing("110108823483901230016")
    assert "probably mistyped or fabricated" in bad.problem_en and "expected 5" in bad.problem_en
    assert "校验位" in bad.problem_zh


def test_genai_fields() -> None:
    g = parse_filing("Beijing-WangYiYouDaoCiDian-20260415S0167").genai
    assert g is not None and g.registration and g.serial == "0167" and g.date == date(2026, 4, 15)
    g2 = parse_filing("Beijing-XiaomiMiMo-202601050182").genai
    assert g2 is not None and not g2.registration and g2.serial == "0182"


def test_find_filings_in_footer_text() -> None:
    text = ("Xiaomi MiMo: Beijing-XiaomiMiMo-202601050182 | 网信算备110108916280901240011号 | 京ICP备17028681号-55 "
            "BEI_AN_NUMBER = \"京ICP备2023031661号-3A\"; 网信算备：310115124334401240013号; 网信算备110108xxxxxx号; "
            "沪公网安备：31010402333815号; Mozilla-Firefox-20230101; https://beian.cac.gov.cn/#/index")
    found = find_filings(text)
    got = [(f.kind, f.status, f.normalized) for f in found]
    assert got == [
        (FilingKind.GENAI_BEIAN, NumberStatus.VALID, "Beijing-XiaomiMiMo-202601050182"),
        (FilingKind.ALGORITHM, NumberStatus.VALID, "网信算备110108916280901240011号"),
        (FilingKind.ICP, NumberStatus.VALID, "京ICP备17028681号-55"),
        (FilingKind.APP_BEIAN, NumberStatus.VALID, "京ICP备2023031661号-3A"),
        (FilingKind.ALGORITHM, NumberStatus.VALID, "网信算备310115124334401240013号"),
        (FilingKind.ALGORITHM, NumberStatus.PLACEHOLDER, "网信算备110108xxxxxx号"),
    ]
    for f in found:
        assert text[f.span[0]:f.span[1]] == f.raw


def test_find_filings_bare_numbers_only_when_asked() -> None:
    text = 'BEI_AN_BAIDU = "110108645502801230035"; id=123456789012345678901; ts=20230821101010'
    assert find_filings(text) == []
    bare = find_filings(text, include_bare=True)
    assert [f.normalized for f in bare] == ["网信算备110108645502801230035号"]


def test_find_filings_full_width_keeps_spans() -> None:
    text = "备案：网信算备１１０１０８８２３４８３９０１２３００１５号。"
    (f,) = find_filings(text)
    assert f.ok and f.normalized == "网信算备110108823483901230015号"
    assert text[f.span[0]:f.span[1]] == f.raw


def test_number_key_matches_spellings() -> None:
    k = number_key("网信算备110108823483901230015号")
    assert k == number_key("110108823483901230015") == number_key("网信算备：110108823483901230015号")
    assert number_key("ZheJiang-TongYiQianWen-20230901") == number_key("Zhejiang-TongYiQianWen-20230901")


@given(st.text(max_size=200))
def test_find_filings_never_raises(text: str) -> None:
    for f in find_filings(text, include_bare=True):
        assert text[f.span[0]:f.span[1]] == f.raw
    parse_filing(text)


def test_parse_filing_reads_one_number_in_a_label() -> None:
    assert parse_filing("备案号：网信算备110108823483901230031号（豆包）").normalized == "网信算备110108823483901230031号"
    assert parse_filing("110108823483901230015号").ok
    two = parse_filing("网信算备110108823483901230031号、Beijing-YunQue-20230821")
    assert two.status is NumberStatus.MALFORMED and "several" in two.problem_en

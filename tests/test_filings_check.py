"""The filing cross-check, table-driven over the failure modes stores see (issue #5 acceptance 3).

Inventories are built directly from scanner.model dataclasses; the registry is the seed rows (filings.md §5),
once as the demo registry and once as if it were the complete list.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import pytest

from filings.check import (
    Article,
    FilingCheck,
    FilingStatus,
    ItemStatus,
    app_form,
    cert_organization,
    check_filings,
    normalize_entity,
    same_entity,
)
from filings.meta import Assessment, SubmissionMeta
from filings.registry import RegistrySnapshot, load_seed_registry
from scanner.model import (
    Artifact,
    ArtifactKind,
    Certificate,
    Inventory,
    Located,
    Manifest,
    MiniProgram,
    StringsOfInterest,
)
from scanner.serialize import to_data

DEMO = load_seed_registry()
#: The seed rows treated as if they were the complete registry (so "not found" means unknown).
FULL = dataclasses.replace(DEMO, demo=False, source="test-full")

DOUYIN = "北京抖音信息服务有限公司"
JIANYING = "网信算备110108823483901230015号"  # 剪映特效算法, provider, 剪映（APP）…等
VOLC_SUPPORTER = "网信算备110108823483901230023号"  # 火山引擎智能美化特效算法, supporter
BAIDU_PLATO = "网信算备110108645502801230027号"  # 百度PLATO大模型算法, provider, 小侃星球（APP）
KUAISHOU = "网信算备110108413760701220011号"  # 快手短视频生成合成算法, 快手（APP）
ZHIPU = "网信算备110108105858001230019号"  # 写作蛙（网站）、ChatGLM（网站）、写作蛙（小程序）
CHONGPANGPANG = "网信算备330110985154601250033号"  # cancelled 2026-01
KAOLA_PUSH = "网信算备330108562416102220019号"  # cancelled, category 02
YOUDAO_DENGJI = "Beijing-WangYiYouDaoCiDian-20260415S0167"
WENXIN = "Beijing-WenXinYiYan-20230821"
LINK = Located("https://beian.cac.gov.cn/#/index", "app.apk!classes.dex")
AIGC = Located("AIGC", "app.apk!classes2.dex")
LABEL = Located("内容由AI生成", "app.apk!resources.arsc")
FULL_ASSESS = (Assessment("A-1", "全国互联网安全管理服务平台", date(2025, 5, 1),
                          ("face_manipulation", "image_generation", "text_generation", "speech_synthesis")),)


def inventory(
    *, name: str = "剪映", kind: ArtifactKind = ArtifactKind.APK, shown: tuple[str, ...] = (),
    links: tuple[Located, ...] = (LINK,), markers: tuple[Located, ...] = (AIGC,),
    labels: tuple[Located, ...] = (LABEL,), cert_subject: str = "CN=Android, O=Android, C=US",
    cert_org: str | None = None, mini: MiniProgram | None = None,
) -> Inventory:
    return Inventory(
        artifact=Artifact(path="app.apk", sha256="0" * 64, kind=kind, size=1, app_id="com.example", name=name),
        manifest=Manifest(package="com.example", label=name),
        certificates=(Certificate("v2", cert_subject, cert_subject, "1" * 64, organization=cert_org),),
        strings=StringsOfInterest(
            filings=tuple(Located(s, "app.apk!classes.dex") for s in shown),
            beian_links=links if shown else (), aigc_markers=markers, labels=labels,
        ),
        miniprogram=mini,
    )


def meta(**kw: object) -> SubmissionMeta:
    base: dict[str, object] = {"developer": DOUYIN, "app_name": "剪映", "declares_aigc": True,
                               "assessments": FULL_ASSESS, "filings": (JIANYING,)}
    base.update(kw)
    return SubmissionMeta(**base)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Case:
    id: str
    meta: SubmissionMeta
    inv: Inventory
    caps: Mapping[str, str]
    status: FilingStatus
    expect: tuple[tuple[str, ItemStatus], ...]  # (code, status) that must be present
    absent: tuple[str, ...] = ()  # codes that must not be present
    registry: RegistrySnapshot = field(default=FULL)


FACE = {"face_manipulation": "high"}
LLM = {"text_generation": "high"}

CASES = [
    Case("valid_provider_filing_for_this_product", meta(), inventory(shown=(JIANYING,)), FACE, FilingStatus.VALID,
         (("registry_found", ItemStatus.OK), ("displayed", ItemStatus.OK), ("assessment_ok", ItemStatus.OK),
          ("aigc_declaration_ok", ItemStatus.OK), ("implicit_label_evidence", ItemStatus.OK),
          ("explicit_label_evidence", ItemStatus.OK)),
         absent=("not_displayed", "not_declared", "filing_missing", "entity_mismatch")),
    Case("number_of_another_company", meta(developer="北京示例科技有限公司", app_name="示例相机"),
         inventory(name="示例相机", shown=(JIANYING,)), FACE, FilingStatus.MISMATCH,
         (("entity_mismatch", ItemStatus.ERROR),), absent=("registry_found",)),
    Case("supporter_only_number", meta(filings=(VOLC_SUPPORTER,)), inventory(shown=(VOLC_SUPPORTER,)), FACE,
         FilingStatus.MISMATCH, (("supporter_number", ItemStatus.ERROR),), absent=("registry_found",)),
    Case("supporter_alongside_own_filing", meta(filings=(JIANYING, VOLC_SUPPORTER)),
         inventory(shown=(JIANYING, VOLC_SUPPORTER)), FACE, FilingStatus.VALID,
         (("registry_found", ItemStatus.OK), ("upstream_number", ItemStatus.INFO)), absent=("supporter_number",)),
    Case("cancelled_number", meta(developer="杭州宠胖胖科技有限公司", app_name="宠胖胖", filings=(CHONGPANGPANG,)),
         inventory(name="宠胖胖", shown=(CHONGPANGPANG,)), FACE, FilingStatus.CANCELLED,
         (("registry_cancelled", ItemStatus.ERROR),)),
    Case("cancelled_number_of_another_category", meta(developer="杭州优卖网络科技有限公司", app_name="考拉海购",
                                                      filings=(KAOLA_PUSH,)),
         inventory(name="考拉海购"), FACE, FilingStatus.CANCELLED,
         (("number_category", ItemStatus.WARNING), ("registry_cancelled", ItemStatus.ERROR))),
    Case("bad_check_digit", meta(filings=("网信算备110108823483901230016号",)),
         inventory(shown=("网信算备110108823483901230016号",)), FACE, FilingStatus.INVALID,
         (("number_check_digit", ItemStatus.WARNING), ("registry_unknown", ItemStatus.ERROR))),
    Case("bad_check_digit_on_demo_registry", meta(filings=("网信算备110108823483901230016号",)),
         inventory(shown=("网信算备110108823483901230016号",)), FACE, FilingStatus.UNVERIFIABLE,
         (("number_check_digit", ItemStatus.WARNING), ("registry_unknown", ItemStatus.WARNING)), registry=DEMO),
    Case("placeholder_declared", meta(filings=("网信算备110108xxxxxx号",)), inventory(), FACE, FilingStatus.INVALID,
         (("number_malformed", ItemStatus.ERROR), ("filing_missing", ItemStatus.ERROR))),
    Case("shown_in_app_but_not_declared", meta(filings=()), inventory(shown=(JIANYING,)), FACE, FilingStatus.VALID,
         (("not_declared", ItemStatus.WARNING), ("registry_found", ItemStatus.OK), ("displayed", ItemStatus.OK))),
    Case("declared_but_not_shown_art19", meta(), inventory(), FACE, FilingStatus.VALID,
         (("not_displayed", ItemStatus.WARNING), ("registry_found", ItemStatus.OK)), absent=("displayed",)),
    Case("shown_without_beian_link", meta(), inventory(shown=(JIANYING,), links=()), FACE, FilingStatus.VALID,
         (("no_beian_link", ItemStatus.WARNING),), absent=("displayed",)),
    Case("entity_mismatch_with_cert_subject", meta(),
         inventory(shown=(JIANYING,), cert_subject="CN=dev, O=深圳市某某网络科技有限公司, C=CN"), FACE,
         FilingStatus.MISMATCH, (("cert_entity_mismatch", ItemStatus.ERROR),), absent=("registry_found",)),
    Case("cert_subject_suffix_and_width_variants_match", meta(developer=None),
         inventory(shown=(JIANYING,), cert_subject="CN=dev, O=北京抖音信息服务有限责任公司, C=CN"), FACE,
         FilingStatus.VALID, (("registry_found", ItemStatus.OK),), absent=("cert_entity_mismatch",)),
    Case("english_cert_and_no_developer_is_unverifiable", meta(developer=None),
         inventory(shown=(JIANYING,), cert_org="Beijing Douyin Information Service Co., Ltd."), FACE,
         FilingStatus.UNVERIFIABLE, (("entity_unverifiable", ItemStatus.WARNING),)),
    Case("product_not_covered", meta(developer="北京快手科技有限公司", app_name="快影", filings=(KUAISHOU,)),
         inventory(name="快影", shown=(KUAISHOU,)), FACE, FilingStatus.MISMATCH,
         (("product_not_covered", ItemStatus.ERROR),)),
    Case("product_listed_with_etc_is_unverifiable", meta(app_name="抖音极速版"),
         inventory(name="抖音极速版", shown=(JIANYING,)), FACE, FilingStatus.UNVERIFIABLE,
         (("product_unverifiable", ItemStatus.WARNING),)),
    Case("form_app_vs_miniprogram_listing", meta(developer="北京智谱华章科技有限公司", app_name="写作蛙", filings=(ZHIPU,)),
         inventory(name="写作蛙", shown=(ZHIPU,)), {"text_generation": "high"}, FilingStatus.MISMATCH,
         (("product_form_mismatch", ItemStatus.ERROR),)),
    Case("form_miniprogram_covered",
         meta(developer="北京智谱华章科技有限公司", app_name="写作蛙", filings=(ZHIPU, "Beijing-ChatGLM-20230821")),
         inventory(name="写作蛙", kind=ArtifactKind.WXAPKG, shown=(ZHIPU,),
                   mini=MiniProgram(platform="wechat", appid="wx0123456789abcdef", name="写作蛙")),
         LLM, FilingStatus.VALID, (("registry_found", ItemStatus.OK), ("genai_ok", ItemStatus.OK))),
    Case("llm_app_without_dengji_or_beian", meta(developer="北京百度网讯科技有限公司", app_name="小侃星球",
                                                 filings=(BAIDU_PLATO,)),
         inventory(name="小侃星球", shown=(BAIDU_PLATO,)), LLM, FilingStatus.MISSING,
         (("registry_found", ItemStatus.OK), ("genai_missing", ItemStatus.ERROR))),
    Case("llm_app_with_own_dengji", meta(developer="北京网易有道计算机系统有限公司", app_name="网易有道词典",
                                         filings=(YOUDAO_DENGJI,)),
         inventory(name="网易有道词典", shown=(YOUDAO_DENGJI,)), LLM, FilingStatus.VALID,
         (("genai_ok", ItemStatus.OK), ("algorithm_filing_via_genai", ItemStatus.INFO)), absent=("filing_missing",)),
    Case("llm_app_showing_only_upstream_beian", meta(developer="北京示例科技有限公司", app_name="示例助手", filings=()),
         inventory(name="示例助手", shown=(WENXIN,)), LLM, FilingStatus.MISSING,
         (("genai_upstream", ItemStatus.INFO), ("genai_upstream_only", ItemStatus.WARNING),
          ("filing_missing", ItemStatus.ERROR))),
    Case("assessment_not_covering_detected_capability",
         meta(assessments=(Assessment("A-2", "全国互联网安全管理服务平台", date(2025, 5, 1), ("face_manipulation",)),)),
         inventory(shown=(JIANYING,)), {"face_manipulation": "high", "speech_synthesis": "medium"}, FilingStatus.VALID,
         (("assessment_not_covering", ItemStatus.ERROR),), absent=("assessment_ok",)),
    Case("no_assessment_declared", meta(assessments=()), inventory(shown=(JIANYING,)), FACE, FilingStatus.VALID,
         (("assessment_missing", ItemStatus.ERROR),)),
    Case("declares_aigc_false_with_capability", meta(declares_aigc=False), inventory(shown=(JIANYING,)), FACE,
         FilingStatus.VALID, (("aigc_declaration_false", ItemStatus.ERROR),)),
    Case("aigc_not_declared", meta(declares_aigc=None), inventory(shown=(JIANYING,)), FACE, FilingStatus.VALID,
         (("aigc_declaration_missing", ItemStatus.WARNING),)),
    Case("no_labeling_evidence", meta(), inventory(shown=(JIANYING,), markers=(), labels=()), FACE,
         FilingStatus.VALID,
         (("implicit_label_missing", ItemStatus.WARNING), ("explicit_label_missing", ItemStatus.INFO))),
    Case("capability_but_no_filing_anywhere", meta(filings=()), inventory(), FACE, FilingStatus.MISSING,
         (("filing_missing", ItemStatus.ERROR),)),
    Case("nothing_detected_nothing_declared", SubmissionMeta(), inventory(), {}, FilingStatus.NOT_REQUIRED,
         (("not_required", ItemStatus.INFO),),
         absent=("filing_missing", "assessment_missing", "implicit_label_missing")),
    Case("low_confidence_only", SubmissionMeta(declares_aigc=False), inventory(), {"image_generation": "low"},
         FilingStatus.NOT_REQUIRED,
         (("not_required", ItemStatus.INFO), ("aigc_declaration_low_confidence", ItemStatus.INFO)),
         absent=("aigc_declaration_false",)),
    Case("declared_aigc_nothing_detected_no_filing", SubmissionMeta(declares_aigc=True), inventory(), {},
         FilingStatus.MISSING, (("aigc_declared_not_detected", ItemStatus.INFO), ("filing_missing", ItemStatus.ERROR))),
    Case("upstream_provider_number_shown", meta(), inventory(shown=(JIANYING, BAIDU_PLATO)), FACE, FilingStatus.VALID,
         (("upstream_number", ItemStatus.INFO), ("registry_found", ItemStatus.OK))),
    Case("website_icp_instead_of_app_beian", meta(icp_filing="沪ICP备13030189号"), inventory(shown=(JIANYING,)), FACE,
         FilingStatus.VALID, (("icp_not_app_beian", ItemStatus.WARNING),)),
    Case("own_cancelled_number_only_shown", meta(developer="杭州宠胖胖科技有限公司", app_name="宠胖胖", filings=()),
         inventory(name="宠胖胖", shown=(CHONGPANGPANG,)), FACE, FilingStatus.CANCELLED,
         (("registry_cancelled", ItemStatus.ERROR),)),
]


def test_enough_cases() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cross_check(case: Case) -> None:
    result = check_filings(case.meta, case.inv, case.caps, case.registry, today=date(2026, 9, 1))
    got = {(i.code, i.status) for i in result.checks}
    summary = "\n".join(f"{i.status.value:7} {i.code}: {i.en}" for i in result.checks)
    assert result.status is case.status, summary
    for want in case.expect:
        assert want in got, f"missing {want}\n{summary}"
    for code in case.absent:
        assert code not in result.codes(), f"unexpected {code}\n{summary}"
    for i in result.checks:
        assert isinstance(i.article, Article) and i.zh and i.en
    assert result.registry_snapshot == case.registry.snapshot_id


def test_declared_and_found_numbers_are_reported() -> None:
    r = check_filings(meta(filings=("110108823483901230015", YOUDAO_DENGJI), icp_filing="京ICP备2023031661号-3A"),
                      inventory(shown=("备案号：网信算备110108823483901230015号", "Beijing-XiaomiMiMo-202601050182")),
                      FACE, FULL)
    assert r.declared == (JIANYING, YOUDAO_DENGJI, "京ICP备2023031661号-3A")
    assert r.found_in_app == (JIANYING, "Beijing-XiaomiMiMo-202601050182")
    rep = {n.number: n for n in r.numbers}
    assert rep[JIANYING].declared and rep[JIANYING].locators == ("app.apk!classes.dex",)
    assert rep[JIANYING].registry.value == "found" and rep[JIANYING].own is True


def test_result_is_json_ready_and_deterministic() -> None:
    args = (meta(), inventory(shown=(JIANYING,)), FACE, FULL)
    a, b = check_filings(*args), check_filings(*args)
    assert a == b
    data = to_data(a)
    assert set(data) >= {"declared", "found_in_app", "checks", "status"}
    assert data["status"] == "valid" and data["checks"][0]["article"].startswith("Provisions")


def test_assessment_date_checks_only_with_today() -> None:
    m = meta(assessments=(Assessment("A-3", None, date(2030, 1, 1), ("face_manipulation",)),))
    without = check_filings(m, inventory(shown=(JIANYING,)), FACE, FULL)
    assert "assessment_future_date" not in without.codes() and "assessment_incomplete" in without.codes()
    with_today = check_filings(m, inventory(shown=(JIANYING,)), FACE, FULL, today=date(2026, 1, 1))
    assert "assessment_future_date" in with_today.codes()


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("图形起源（北京）科技有限公司", "图形起源(北京)科技有限公司", True),
        ("北京抖音信息服务有限公司", "北京抖音信息服务有限责任公司", True),
        ("科大讯飞股份有限公司", "科大讯飞有限公司", True),
        ("北京 抖音 信息服务有限公司", "北京抖音信息服务有限公司", True),
        ("ＡＢＣ科技有限公司", "abc科技有限公司", True),
        ("深圳市腾讯计算机系统有限公司", "腾讯音乐娱乐（深圳）有限公司", False),
        ("北京抖音信息服务有限公司", "北京抖音信息服务有限公司上海分公司", False),
        ("", "", False),
    ],
)
def test_same_entity(a: str, b: str, same: bool) -> None:
    assert same_entity(a, b) is same


def test_normalize_entity_strips_suffix_once() -> None:
    assert normalize_entity("有限公司") == "有限公司"  # never normalise a name to nothing
    assert normalize_entity("Example Co., Ltd.") == normalize_entity("EXAMPLE CO LTD")


@pytest.mark.parametrize(
    ("subject", "org", "expected"),
    [
        ("CN=a, O=北京抖音信息服务有限公司, C=CN", None, "北京抖音信息服务有限公司"),
        ("CN=a,O=Example\\, Inc.,C=US", None, "Example, Inc."),
        ("C=CN, O=\\E5\\8C\\97\\E4\\BA\\AC, CN=x", None, "北京"),
        ("CN=a, C=US", None, None),
        ("CN=a, O=x", "Override Org", "Override Org"),
    ],
)
def test_cert_organization(subject: str, org: str | None, expected: str | None) -> None:
    assert cert_organization(Certificate("v2", subject, subject, "0" * 64, organization=org)) == expected


def test_app_form() -> None:
    assert app_form(inventory()) == "APP"
    assert app_form(inventory(kind=ArtifactKind.WXAPKG)) == "小程序"
    assert app_form(inventory(kind=ArtifactKind.RPK)) == "快应用"
    assert app_form(inventory(mini=MiniProgram(platform="douyin"))) == "小程序"


def test_check_result_type() -> None:
    assert isinstance(check_filings(SubmissionMeta(), inventory(), {}, DEMO), FilingCheck)


# -- submission metadata (the check's first input) ------------------------------------------------------------

from pathlib import Path  # noqa: E402

from filings.meta import Channel, MetaError, load_meta, meta_from_text  # noqa: E402

META_YAML = """\
app_name: 示例相机
developer: 北京示例科技有限公司
uscc: 91110108MA0000000X
app_id: com.example.camera
declares_aigc: true
filings: ["网信算备110108823483901230031号", "Beijing-YunQue-20230821"]
icp_filing: 京ICP备2023031661号-3A
assessments: [{id: "A-1", issuer: "全国互联网安全管理服务平台", date: 2025-05-01, covers: [face_manipulation]}]
channel: submission
wxapkg_appid: wx0123456789abcdef
"""


def test_load_meta_yaml_and_json(tmp_path: Path) -> None:
    y = tmp_path / "m.yaml"
    y.write_text(META_YAML, encoding="utf-8")
    m = load_meta(y)
    assert m.developer == "北京示例科技有限公司" and m.declares_aigc is True and m.channel is Channel.SUBMISSION
    assert m.filings == ("网信算备110108823483901230031号", "Beijing-YunQue-20230821")
    assert m.assessments == (Assessment("A-1", "全国互联网安全管理服务平台", date(2025, 5, 1), ("face_manipulation",)),)
    j = tmp_path / "m.json"
    data = {k: v for k, v in to_data(m).items() if v is not None}
    j.write_text(json.dumps(data, ensure_ascii=False, default=str), encoding="utf-8")  # to_data keeps dates
    assert load_meta(j) == m
    assert meta_from_text("") == SubmissionMeta() and meta_from_text("{}") == SubmissionMeta()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("developr: x", "unknown metadata key"),
        ("filings: 网信算备110108823483901230031号", "filings: expected a list"),
        ("declares_aigc: maybe", "declares_aigc"),
        ("channel: shelf", "channel"),
        ("assessments: [{id: a, covers: [face_swap]}]", "unknown capability"),
        ("assessments: [{id: a, date: 'next week'}]", "YYYY-MM-DD"),
        ("assessments: [{id: a, scope: x}]", "unknown key"),
        ("- just\n- a list", "mapping"),
        ("developer: [1, 2]", "expected a string"),
        ("a: [unclosed", "invalid YAML"),
    ],
)
def test_meta_errors(text: str, needle: str) -> None:
    with pytest.raises(MetaError, match=needle):
        meta_from_text(text, fmt="yaml")


def test_load_meta_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MetaError, match="cannot read"):
        load_meta(tmp_path / "nope.yaml")

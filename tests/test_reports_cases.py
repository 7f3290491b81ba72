"""ScanResults the report tests share: real fixtures, in-memory packages, an error case, a hostile name.

Built once per session (``case(name)``) and imported by the other ``test_reports_*`` modules; the test here
pins what each case is, so a golden diff is never mistaken for a change in the scenario itself.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from functools import cache, lru_cache
from pathlib import Path

from mp_factory import app_config, build_wxapkg, cloud_ai_wxapkg

from filings.meta import Assessment, Channel, SubmissionMeta
from reports.model import ScanResult
from rules.fixtures import build_apk
from synthreview.pipeline import Context, evaluate_inventory, scan_bytes, scan_path

ROOT = Path(__file__).resolve().parent.parent
APK = ROOT / "tests" / "fixtures" / "apk"

DOUYIN = "北京抖音信息服务有限公司"
JIANYING = "网信算备110108823483901230015号"  # seed registry: 剪映特效算法, provider, 剪映（APP）…
ASSESSED = (Assessment("A-1", "全国互联网安全管理服务平台", date(2025, 5, 1), ("face_manipulation",)),)
HOSTILE_NAME = '<script>alert("x")</script> **bold** [link](http://evil.example) `tick` | pipe'


@lru_cache(maxsize=1)
def context() -> Context:
    """The shipped rule packs, policy and demo registry (loaded once)."""
    return Context.default()


def _demo_bytes() -> bytes:
    return (APK / "demo_faceapp.apk").read_bytes()


def _ai_wxapkg() -> bytes:
    js = (b'define("pages/chat/chat.js",function(require,module,exports,window){'
          b'wx.request({url:"https://dashscope.aliyuncs.com/api/v1/services/aigc/text-generation/generation"});'
          b'const m=wx.cloud.extend.AI.createModel("deepseek");});')
    return build_wxapkg({"/app-config.json": app_config(pages=["pages/chat/chat"]), "/app-service.js": js})


def _valid_filing_apk() -> bytes:
    return build_apk({
        "label": "剪映",
        "native_libs": ["libCNamaSDK.so", "libfuai.so"],
        "classes": ["com.faceunity.core.faceunity.FURenderKit"],
        "strings": [JIANYING, "https://beian.cac.gov.cn/#/index", "AIGC"],
        "resource_strings": ["内容由AI生成"],
    }, package="com.example.jianying")


def _hostile() -> ScanResult:
    r = scan_bytes("evil <b>app</b>.apk", _demo_bytes(), None, context())
    inv = r.inventory
    inv = dataclasses.replace(inv, artifact=dataclasses.replace(inv.artifact, name=HOSTILE_NAME))
    return evaluate_inventory(inv, None, context())


_BUILDERS = {
    "demo": lambda: scan_path(APK / "demo_faceapp.apk", None, context()),
    "plain": lambda: scan_path(APK / "plain_app.apk", None, context()),
    "obfuscated": lambda: scan_path(APK / "obfuscated_faceapp.apk", None, context()),
    "truncated": lambda: scan_bytes("truncated.apk", _demo_bytes()[: len(_demo_bytes()) // 2], None, context()),
    "empty": lambda: scan_bytes("empty.apk", b"", None, context()),
    "miniprogram_ai": lambda: scan_bytes("ai_chat.wxapkg", _ai_wxapkg(), None, context()),
    "miniprogram_plain": lambda: scan_bytes("cloud.wxapkg", cloud_ai_wxapkg(), None, context()),
    "listed_mismatch": lambda: scan_path(APK / "demo_faceapp.apk", SubmissionMeta(
        developer=DOUYIN, app_name="剪映", declares_aigc=True, filings=(JIANYING,), assessments=ASSESSED,
        channel=Channel.LISTED), context()),
    "valid_filing": lambda: scan_bytes("jianying.apk", _valid_filing_apk(), SubmissionMeta(
        developer=DOUYIN, app_name="剪映", declares_aigc=True, filings=(JIANYING,), assessments=ASSESSED),
        context()),
    "hostile": _hostile,
}
CASES = tuple(_BUILDERS)


@cache
def case(name: str) -> ScanResult:
    """One named ScanResult, built once per test session."""
    return _BUILDERS[name]()


def test_cases_are_the_scenarios_the_reports_tests_claim() -> None:
    """Each case stands for one decision path; if a rule or policy change moves it, say so here first."""
    assert case("demo").decision.action.value == "reject"
    assert case("demo").findings and not case("demo").errors
    assert case("plain").decision.action.value == "list"
    assert not case("plain").findings and not case("plain").compliance
    for name in ("truncated", "empty"):
        r = case(name)
        assert r.errors, name
        assert r.decision.action.value == "needs_review", name
    assert case("miniprogram_ai").inventory.artifact.kind.value == "wxapkg"
    assert any(f.capability == "text_generation" for f in case("miniprogram_ai").findings)
    assert case("listed_mismatch").decision.action.value == "takedown"
    assert case("valid_filing").filings is not None
    assert case("valid_filing").filings.status.value == "valid"
    assert case("hostile").inventory.artifact.name == HOSTILE_NAME

"""The human-readable reports' templates and the vocabulary they share (HTML page, Markdown notice).

Kept beside the templates so both formatters word things the same way: bilingual labels for capabilities,
duties and statuses, article citations in Chinese, and the list of materials a reviewer asks the developer
for. Everything here is a pure function of a :class:`~reports.model.ScanResult` (no I/O).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from filings.check import FilingStatus, ItemStatus
from reports.model import ScanResult
from rules.model import ART23, Capability

#: capability id → (中文, English); the Art. 23 clause itself is ``rules.model.ART23``.
CAPABILITY_LABELS: dict[str, tuple[str, str]] = {
    "text_generation": ("文本生成（篇章生成、文本风格转换、问答对话）",
                        "text generation (LLM chat, style transfer, Q&A)"),
    "speech_synthesis": ("语音合成（文本转语音）", "speech synthesis (text-to-speech)"),
    "voice_conversion": ("语音转换（声音克隆、语音属性编辑）", "voice conversion (voice cloning, voice editing)"),
    "audio_generation": ("音乐生成、场景声编辑", "music and sound generation"),
    "face_manipulation": ("人脸生成、替换、编辑与操控（换脸、美颜、人脸特效）",
                          "face generation, swapping, editing and reenactment"),
    "image_generation": ("图像/视频生成、增强与修复", "image and video generation, enhancement and inpainting"),
    "virtual_scene": ("三维重建、数字仿真、数字人", "3D reconstruction, digital simulation, digital humans"),
    "ml_runtime": ("端侧机器学习推理框架（辅助线索）", "on-device ML runtime (supporting evidence)"),
    "biometric_recognition": ("人脸识别、活体检测（辅助线索）", "face recognition / liveness (supporting evidence)"),
}

#: duty id → (中文, English).
DUTY_LABELS: dict[str, tuple[str, str]] = {
    "moderation": ("内容审核", "content moderation"),
    "real_name": ("用户真实身份认证", "real-name verification"),
    "report_entry": ("投诉举报入口", "complaint and report entry"),
    "consent": ("被编辑人单独同意", "separate consent of the edited person"),
    "explicit_label": ("显式标识", "explicit (visible) labels"),
    "implicit_label": ("隐式标识", "implicit (metadata) labels"),
    "filing_display": ("备案编号展示", "filing number shown in the app"),
}

DUTY_STATUS_LABELS: dict[str, tuple[str, str]] = {
    "present": ("已发现证据", "evidence found"),
    "absent": ("未发现", "not found"),
    "unknown": ("无法静态确认", "cannot be seen statically"),
}

FILING_STATUS_LABELS: dict[str, tuple[str, str]] = {
    FilingStatus.VALID.value: ("有效", "valid"),
    FilingStatus.MISSING.value: ("缺失", "missing"),
    FilingStatus.INVALID.value: ("无效", "invalid"),
    FilingStatus.CANCELLED.value: ("已注销", "cancelled"),
    FilingStatus.MISMATCH.value: ("主体或产品不符", "belongs to another entity or product"),
    FilingStatus.NOT_REQUIRED.value: ("无需备案", "not required"),
    FilingStatus.UNVERIFIABLE.value: ("无法核验", "cannot be verified"),
    "error": ("核验失败", "check failed"),
}

ITEM_STATUS_LABELS: dict[str, tuple[str, str]] = {
    ItemStatus.OK.value: ("通过", "ok"),
    ItemStatus.WARNING.value: ("警告", "warning"),
    ItemStatus.ERROR.value: ("问题", "error"),
    ItemStatus.INFO.value: ("提示", "info"),
}

CONFIDENCE_LABELS: dict[str, tuple[str, str]] = {"high": ("高", "high"), "medium": ("中", "medium"),
                                                 "low": ("低", "low")}

#: Evidence kinds (signal kinds and the extra kinds the matcher and pipeline emit) → (中文, English).
EVIDENCE_KIND_LABELS: dict[str, tuple[str, str]] = {
    "class_prefix": ("类包名", "class package"),
    "class": ("类", "class"),
    "native_lib": ("原生库", "native library"),
    "native_lib_regex": ("原生库", "native library"),
    "elf_symbol": ("原生导出符号", "native export"),
    "asset_glob": ("资源文件", "asset"),
    "model_format": ("模型文件", "model file"),
    "encrypted_model": ("加密模型文件", "encrypted model file"),
    "host": ("服务域名", "host"),
    "url": ("接口地址", "URL"),
    "string": ("字符串", "string"),
    "string_contains": ("字符串", "string"),
    "permission": ("权限", "permission"),
    "component": ("组件", "component"),
    "meta_data": ("清单元数据", "manifest meta-data"),
    "mp_plugin": ("小程序插件", "mini-program plugin"),
    "mp_api": ("小程序接口", "mini-program API"),
    "js_library": ("JS 库", "JS library"),
    "filing_string": ("备案信息", "filing text"),
}

_DS = {c.value for c in Capability if c.is_deep_synthesis}


def label(table: dict[str, tuple[str, str]], key: str, lang: str) -> str:
    """One side of a bilingual label; unknown keys fall back to the raw id (new enum values stay visible)."""
    pair = table.get(key)
    if pair is None:
        return key
    return pair[0] if lang == "zh" else pair[1]


def is_deep_synthesis(capability: str) -> bool:
    """Supporting categories (ml_runtime, biometric_recognition) are evidence, never deep synthesis by themselves."""
    return capability in _DS


def art23(capability: str) -> str:
    """The Art. 23 clause a capability falls under, or '' for supporting categories."""
    try:
        return ART23.get(Capability(capability), "")
    except ValueError:
        return ""


# -- article citations in Chinese ------------------------------------------------------------------------

_LAWS = {
    "": "《互联网信息服务深度合成管理规定》",
    "Provisions": "《互联网信息服务深度合成管理规定》",
    "Labeling Measures": "《人工智能生成合成内容标识办法》",
    "GenAI Measures": "《生成式人工智能服务管理暂行办法》",
}
_ART = re.compile(r"^(?:(Provisions|Labeling Measures|GenAI Measures)\s+)?Art\.\s*(\d{1,3})(.*)$")
_DIGITS = "零一二三四五六七八九"


def zh_number(n: int) -> str:
    """1–999 in Chinese numerals as used for article numbers (第十三条, 第二十三条)."""
    if n < 10:
        return _DIGITS[n]
    if n < 20:
        return "十" + (_DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return _DIGITS[n // 10] + "十" + (_DIGITS[n % 10] if n % 10 else "")
    rest = n % 100
    head = _DIGITS[n // 100] + "百"
    if not rest:
        return head
    return head + ("零" + _DIGITS[rest] if rest < 10 else ("一" if rest < 20 else "") + zh_number(rest))


def article_zh(citation: str) -> str:
    """'Art. 13; Art. 19; Labeling Measures Art. 7' → 《…规定》第十三条、第十九条；《…标识办法》第七条.

    Parts that are not an article of a known instrument (e.g. 'GB 45438-2025') are kept as they are.
    """
    out: list[str] = []
    law_prev: str | None = None
    for raw in (p.strip() for p in citation.split(";")):
        if not raw:
            continue
        m = _ART.match(raw)
        if not m:
            out.append(raw)
            law_prev = None
            continue
        law = _LAWS[m.group(1) or ""]
        art = f"第{zh_number(int(m.group(2)))}条{m.group(3).strip()}"
        if law == law_prev:
            out[-1] += "、" + art
        else:
            out.append(law + art)
        law_prev = law
    return "；".join(out)


# -- what to ask the developer for ------------------------------------------------------------------------


@dataclass(frozen=True)
class Material:
    """One item of "what to submit": a stable code, the article behind it, and the request in both languages."""

    code: str
    article: str
    zh: str
    en: str


_BAD_FILING = {FilingStatus.MISSING, FilingStatus.INVALID, FilingStatus.CANCELLED, FilingStatus.MISMATCH,
               FilingStatus.UNVERIFIABLE}
_NOT_PRESENT = {"absent", "unknown"}


def requested_materials(r: ScanResult) -> list[Material]:
    """What the developer must submit for this result, derived from filing items, the checklist and errors.

    Order is fixed (package, filings, assessment, declaration, labels, duties) so notices read the same way.
    """
    checks = r.filings.checks if r.filings else ()
    open_codes = {c.code for c in checks if c.status in (ItemStatus.ERROR, ItemStatus.WARNING)}
    all_codes = {c.code for c in checks}
    duty = {c.duty: c.status.value for c in r.compliance}
    ds = any(is_deep_synthesis(f.capability) for f in r.findings)
    out: list[Material] = []

    if r.errors:
        out.append(Material(
            "complete_package", "Art. 13",
            "完整、未经篡改的安装包（本次扫描未能完整解析，见“扫描错误”）",
            "a complete, untampered package (this scan could not read it fully; see the errors)"))
    if (r.filings is not None and r.filings.status in _BAD_FILING) or (r.filings is None and ds):
        out.append(Material(
            "own_filing", "Art. 19",
            "本应用作为深度合成服务提供者的算法备案编号（网信算备……号）及备案公示信息截图；"
            "技术支持者（上游 SDK 或模型厂商）的备案编号不能替代本应用的备案",
            "the app's own provider algorithm filing number (网信算备…号) with a screenshot of its public record; "
            "a technical supporter's (upstream SDK or model vendor's) number does not replace it"))
    if open_codes & {"genai_missing", "genai_upstream_only", "genai_unknown", "genai_upstream"}:
        out.append(Material(
            "genai_filing", "GenAI Measures Art. 17",
            "生成式人工智能服务的备案号或登记编号（调用第三方大模型的，需提供本应用自己的登记或备案）",
            "the generative-AI service 备案 or 登记 id (an app calling a third-party model needs its own)"))
    if open_codes & {"assessment_missing", "assessment_not_covering", "assessment_incomplete",
                     "assessment_future_date"}:
        out.append(Material(
            "security_assessment", "Art. 13; Art. 15; Art. 20",
            "安全评估材料（评估编号、出具机构、日期及全国互联网安全管理服务平台提交截图），须覆盖检测到的全部深度合成功能",
            "the security assessment (id, issuer, date and the submission screenshot from 全国互联网安全管理服务平台), "
            "covering every detected deep-synthesis function"))
    if open_codes & {"aigc_declaration_missing", "aigc_declaration_false"}:
        out.append(Material(
            "aigc_declaration", "Labeling Measures Art. 7",
            "关于是否提供人工智能生成合成服务的申报（declares_aigc），须与实际功能一致",
            "a declaration whether the app offers AI generation (declares_aigc), consistent with what it does"))
    if ("implicit_label_missing" in open_codes or "explicit_label_missing" in all_codes
            or duty.get("explicit_label") in _NOT_PRESENT or duty.get("implicit_label") in _NOT_PRESENT):
        out.append(Material(
            "labeling_materials", "Art. 16; Art. 17; Labeling Measures Art. 7; Labeling Measures Art. 8",
            "标识材料：生成内容上“AI生成”等显式标识的截图、隐式标识（GB 45438-2025 文件元数据）的实现说明及样例文件、"
            "用户协议中关于标识的条款",
            "labeling materials: screenshots of visible 'AI生成'-style labels on generated content, a description "
            "of the implicit labels (GB 45438-2025 file metadata) with a sample file, and the user-agreement clauses "
            "on labeling"))
    if duty.get("moderation") in _NOT_PRESENT:
        out.append(Material(
            "moderation_description", "Art. 10",
            "内容审核机制说明：对输入数据和合成结果的审核方式、使用的审核服务或自建能力",
            "a description of content moderation: how inputs and synthesized outputs are reviewed, and by which "
            "service"))
    if duty.get("real_name") in _NOT_PRESENT:
        out.append(Material(
            "real_name_description", "Art. 9",
            "用户真实身份信息认证方式说明（如手机号一键登录、实名认证）",
            "how users' real identities are verified (e.g. carrier one-click login, identity verification)"))
    if duty.get("report_entry") in _NOT_PRESENT:
        out.append(Material(
            "report_entry", "Art. 12",
            "投诉举报入口的截图及处理流程说明",
            "screenshots of the complaint/report entry and how reports are handled"))
    if duty.get("consent") in _NOT_PRESENT:
        out.append(Material(
            "consent_notice", "Art. 14",
            "编辑人脸、人声前取得被编辑人单独同意的提示文字或截图",
            "the notice that obtains the edited person's separate consent before face or voice editing"))
    if open_codes & {"not_displayed", "no_beian_link"} or duty.get("filing_display") == "absent":
        out.append(Material(
            "filing_display", "Art. 19",
            "应用内显著位置标明备案编号并提供公示信息链接（beian.cac.gov.cn）的截图",
            "a screenshot showing the filing number prominently in the app with a link to its public record "
            "(beian.cac.gov.cn)"))
    if open_codes & {"icp_malformed", "icp_not_app_beian"}:
        out.append(Material(
            "app_beian", "Art. 13",
            "正确的 App 备案号（以“-数字A”结尾）",
            "the correct App 备案 number (ending in '-nA')"))
    return out

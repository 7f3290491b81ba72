"""The provider-duty checklist (Chapter 2 of the Provisions) from duty-evidence findings: pure, no I/O.

A duty applies only when a deep-synthesis capability was found, so ordinary apps get no demands. Evidence a
static scan cannot see (server-side moderation, server-side real-name checks, labels burnt into images) is
reported as ``unknown`` with a note saying so, never guessed as present or absent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from rules.model import Capability, Duty, Evidence, Finding


class DutyStatus(str, Enum):
    """What the package shows for a duty."""

    PRESENT = "present"
    ABSENT = "absent"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ComplianceItem:
    """One row of the checklist in every report (DESIGN.md ``compliance[]``)."""

    article: str
    duty: str
    status: DutyStatus
    evidence: tuple[Evidence, ...] = ()
    zh: str = ""
    en: str = ""


ARTICLES = {
    Duty.MODERATION: "Art. 10",
    Duty.REAL_NAME: "Art. 9",
    Duty.REPORT_ENTRY: "Art. 12",
    Duty.CONSENT: "Art. 14",
    Duty.EXPLICIT_LABEL: "Art. 17; Labeling Measures Art. 4",
    Duty.IMPLICIT_LABEL: "Art. 16; Labeling Measures Art. 5; GB 45438-2025",
    Duty.FILING_DISPLAY: "Art. 19",
}

_CONSENT_CAPS = {Capability.FACE_MANIPULATION.value, Capability.VOICE_CONVERSION.value}

#: Wording when nothing was found: (status, zh, en).
_NOT_FOUND = {
    Duty.MODERATION: (
        DutyStatus.UNKNOWN,
        "安装包中未发现内容审核 SDK 或接口；服务端审核无法静态识别，请开发者说明输入与输出的审核措施。",
        "No content-moderation SDK or API in the package; server-side moderation cannot be seen statically — "
        "ask the developer to document how inputs and outputs are moderated.",
    ),
    Duty.REAL_NAME: (
        DutyStatus.UNKNOWN,
        "未发现一键登录或实名认证 SDK；若通过服务端短信等方式认证，无法静态识别，请开发者说明。",
        "No one-click login or identity-verification SDK found; server-side SMS or ID checks cannot be seen "
        "statically — ask the developer to document real-name verification.",
    ),
    Duty.REPORT_ENTRY: (
        DutyStatus.ABSENT,
        "未发现举报/投诉入口文字或页面（如“举报”“投诉”“12377”）。",
        "No complaint or report entry found (texts such as 举报/投诉/12377, report screens).",
    ),
    Duty.CONSENT: (
        DutyStatus.ABSENT,
        "提供人脸/人声编辑功能，但未发现取得被编辑人单独同意的提示文字。",
        "Face or voice editing is offered, but no notice obtaining the edited person's separate consent was found.",
    ),
    Duty.EXPLICIT_LABEL: (
        DutyStatus.ABSENT,
        "未发现“AI生成”等显式标识文字；图片水印与音频标识无法通过字符串检查，需人工核验。",
        "No explicit 'AI生成'-style label text found; image watermarks and audio labels cannot be checked by a "
        "string scan and need manual verification.",
    ),
    Duty.IMPLICIT_LABEL: (
        DutyStatus.ABSENT,
        "未发现 GB 45438 隐式标识（AIGC 元数据、TC260 命名空间）或 C2PA 写入代码；服务端写入无法静态识别。",
        "No GB 45438 implicit-label writer (AIGC metadata keys, TC260 namespace) or C2PA library found; labels "
        "written server-side cannot be seen statically.",
    ),
    Duty.FILING_DISPLAY: (
        DutyStatus.ABSENT,
        "未发现应用内展示的算法备案编号及 beian.cac.gov.cn 链接。",
        "No in-app display of the algorithm filing number with a beian.cac.gov.cn link was found.",
    ),
}

_PRESENT = {
    Duty.MODERATION: ("发现内容审核能力的证据。", "Evidence of content moderation found."),
    Duty.REAL_NAME: ("发现实名认证/一键登录能力的证据。", "Evidence of real-name verification found."),
    Duty.REPORT_ENTRY: ("发现举报/投诉入口的证据。", "Evidence of a complaint/report entry found."),
    Duty.CONSENT: ("发现单独同意提示的证据。", "Evidence of a separate-consent notice found."),
    Duty.EXPLICIT_LABEL: ("发现显式标识文字。", "Explicit AI-generated label text found."),
    Duty.IMPLICIT_LABEL: ("发现隐式标识写入能力。", "An implicit-label (metadata) writer was found."),
    Duty.FILING_DISPLAY: ("应用内展示了备案编号与公示链接。", "The filing number and its public link are shown in the app."),
}


def applicable_duties(capabilities: Iterable[str]) -> tuple[Duty, ...]:
    """Which duties a reviewer checks for these detected deep-synthesis capabilities."""
    caps = {c for c in capabilities if c in {x.value for x in Capability if x.is_deep_synthesis}}
    if not caps:
        return ()
    duties = [Duty.MODERATION, Duty.REAL_NAME, Duty.REPORT_ENTRY]
    if caps & _CONSENT_CAPS:
        duties.append(Duty.CONSENT)
    duties += [Duty.EXPLICIT_LABEL, Duty.IMPLICIT_LABEL, Duty.FILING_DISPLAY]
    return tuple(duties)


def checklist(
    capabilities: Iterable[str], duty_findings: Iterable[Finding], filing_display: tuple[Evidence, ...] | None = None
) -> tuple[ComplianceItem, ...]:
    """The checklist for the detected capabilities; ``filing_display`` is the Art. 19 evidence from filings."""
    by_duty: dict[str, list[Evidence]] = {}
    weak: dict[str, list[Evidence]] = {}
    for f in duty_findings:
        if f.duty:
            # A low-confidence hit (a generic word, a class bundled in an all-in-one SDK) is shown, not counted.
            (by_duty if f.confidence.rank >= 2 else weak).setdefault(f.duty, []).extend(f.evidence)
    if filing_display:
        by_duty.setdefault(Duty.FILING_DISPLAY.value, []).extend(filing_display)
    items = []
    for duty in applicable_duties(capabilities):
        ev = tuple(dict.fromkeys(by_duty.get(duty.value, ())))[:10]
        weak_ev = tuple(dict.fromkeys(weak.get(duty.value, ())))[:10]
        if ev:
            zh, en = _PRESENT[duty]
            items.append(ComplianceItem(ARTICLES[duty], duty.value, DutyStatus.PRESENT, ev, zh, en))
        elif weak_ev:
            items.append(ComplianceItem(
                ARTICLES[duty], duty.value, DutyStatus.UNKNOWN, weak_ev,
                "仅发现弱证据（通用词或打包的 SDK 类），需人工确认。",
                "Only weak evidence (a generic word or a class bundled in an all-in-one SDK); a reviewer must confirm.",
            ))
        else:
            status, zh, en = _NOT_FOUND[duty]
            items.append(ComplianceItem(ARTICLES[duty], duty.value, status, (), zh, en))
    return tuple(items)

"""The developer notice (审核意见) in zh-CN Markdown: a pure function of ScanResults → text.

It is what the store sends back to the developer, so it is written for them: what was found (capability in
Chinese, SDK, evidence), which article applies, what to submit, and the decision; one English summary line
closes it for reviewers and tickets. Values that come from the package (names, locators, strings) are put in
code spans or escaped, so a hostile app name cannot inject links or HTML into the portal that renders it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from reports.model import ScanResult
from reports.templates import (
    CAPABILITY_LABELS,
    CONFIDENCE_LABELS,
    DUTY_LABELS,
    DUTY_STATUS_LABELS,
    EVIDENCE_KIND_LABELS,
    FILING_STATUS_LABELS,
    ITEM_STATUS_LABELS,
    art23,
    article_zh,
    is_deep_synthesis,
    label,
    requested_materials,
)
from rules.model import Evidence, Finding

#: Evidence items listed per finding before "等 N 项" (the HTML page and JSON report carry them all).
MAX_EVIDENCE = 8

_CHANNEL_ZH = {"submission": "新提交审核（submission）", "listed": "已上架应用复查（listed）"}
_ACTION_LEAD = {
    "list": "同意上架。",
    "warn": "予以警示，请按下列要求补充材料或整改。",
    "needs_review": "转人工复核：补充下列材料并经复核后再作决定。",
    "reject": "本次提交不予上架，请按下列理由整改后重新提交。",
    "suspend": "暂停服务，请按下列要求整改后申请恢复。",
    "takedown": "予以下架，请按下列要求整改后重新提交审核。",
}
#: Characters that start Markdown syntax anywhere in a line; '_' only counts at a word edge (CommonMark does
#: not treat intraword underscores as emphasis, so ``face_manipulation`` stays readable).
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~#])|((?<!\w)_|_(?!\w))")


def md_text(value: object) -> str:
    """Plain text safe for Markdown: one line, special characters backslash-escaped."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), " ".join(str(value).split()))


def md_code(value: object) -> str:
    """An inline code span that holds any text literally (fence longer than any backtick run inside)."""
    text = " ".join(str(value).split())
    runs = [len(m) for m in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _evidence_line(e: Evidence) -> str:
    kind = label(EVIDENCE_KIND_LABELS, e.kind, "zh")
    tail = f"（{md_code(e.value)}）" if e.value and e.value not in e.locator else ""
    return f"{kind}：{md_code(e.locator)}{tail}"


def _finding_block(n: int, f: Finding) -> list[str]:
    lines = [f"### {n}. {md_text(label(CAPABILITY_LABELS, f.capability, 'zh'))}", ""]
    vendor = f"（{md_text(f.vendor)}）" if f.vendor else ""
    lines.append(f"- SDK / 服务：{md_text(f.sdk)}{vendor}")
    clause = art23(f.capability)
    if clause:
        lines.append(f"- 对应条款：{md_text(article_zh(clause))}")
    conf = label(CONFIDENCE_LABELS, f.confidence.value, "zh")
    lines.append(f"- 置信度：{conf}" + ("（与其他 SDK 存在歧义，需人工确认）" if f.ambiguous else ""))
    lines.append(f"- 规则：{md_code(f.rule_id)}")
    lines.append("- 证据：")
    evidence = tuple(dict.fromkeys(f.evidence))  # the same hit reported by two signals is shown once
    for e in evidence[:MAX_EVIDENCE]:
        lines.append(f"  - {_evidence_line(e)}")
    if len(evidence) > MAX_EVIDENCE:
        lines.append(f"  - 等 {len(evidence)} 项")
    lines.append("")
    return lines


def _notice(r: ScanResult) -> list[str]:
    inv, d = r.inventory, r.decision
    a = inv.artifact
    meta = r.meta
    channel = meta.channel.value if meta is not None and meta.channel is not None else "submission"
    title = a.name or (meta.app_name if meta else None) or a.app_id or a.path.rsplit("/", 1)[-1]
    out = [f"# 审核意见：{md_text(title)}", ""]
    out += ["> 本意见由 synthreview 对安装包的静态分析生成，经审核人员确认后发送给开发者。", ""]
    out += ["| 项目 | 内容 |", "| --- | --- |"]
    out.append(f"| 应用名称 | {md_text(a.name or (meta.app_name if meta else None) or '未识别')} |")
    if meta is not None and meta.developer:
        out.append(f"| 开发者（主体） | {md_text(meta.developer)} |")
    out.append(f"| 包名 / AppID | {md_code(a.app_id) if a.app_id else '未识别'} |")
    out.append(f"| 版本 | {md_code(a.version) if a.version else '未识别'} |")
    out.append(f"| 安装包 | {md_code(a.path.rsplit('/', 1)[-1])}（{a.kind.value}，{a.size} 字节） |")
    out.append(f"| SHA-256 | {md_code(a.sha256)} |")
    out.append(f"| 审核渠道 | {_CHANNEL_ZH.get(channel, md_text(channel))} |")
    out.append(f"| **审核结论** | **{d.action.zh}**（{d.action.value}） |")
    out.append("")

    lead = f"审核结论：**{d.action.zh}**（{d.action.value}）。{_ACTION_LEAD[d.action.value]}"
    out += ["## 一、审核结论", "", lead, ""]
    if d.reasons:
        out += ["理由与依据：", ""]
        for i, x in enumerate(d.reasons, 1):
            out.append(f"{i}. 【{md_text(article_zh(x.article))}】{md_text(x.zh)}")
        out.append("")

    ds = [f for f in r.findings if is_deep_synthesis(f.capability)]
    supporting = [f for f in r.findings if not is_deep_synthesis(f.capability)]
    out += ["## 二、检测到的深度合成功能", ""]
    if not ds:
        out += ["未发现深度合成功能。", ""]
    for i, f in enumerate(ds, 1):
        out += _finding_block(i, f)
    if supporting:
        out += ["辅助线索（本身不构成深度合成，仅供参考）：", ""]
        for f in supporting:
            ev = f"，如 {md_code(f.evidence[0].locator)}" if f.evidence else ""
            out.append(f"- {md_text(label(CAPABILITY_LABELS, f.capability, 'zh'))}：{md_text(f.sdk)}"
                       f"（置信度{label(CONFIDENCE_LABELS, f.confidence.value, 'zh')}{ev}）")
        out.append("")

    out += ["## 三、备案核验", ""]
    fc = r.filings
    if fc is None:
        out += ["备案核验未能完成（见“扫描错误”），需人工核验。", ""]
    else:
        out.append(f"- 核验状态：{label(FILING_STATUS_LABELS, fc.status.value, 'zh')}（{fc.status.value}）")
        out.append("- 申报的备案编号：" + ("、".join(md_code(x) for x in fc.declared) or "无"))
        out.append("- 应用内发现的备案编号：" + ("、".join(md_code(x) for x in fc.found_in_app) or "无"))
        if fc.checks:
            out.append("- 核验结果：")
            for c in fc.checks:
                out.append(f"  - 【{label(ITEM_STATUS_LABELS, c.status.value, 'zh')}】"
                           f"{md_text(article_zh(c.article.value))}：{md_text(c.zh)}")
        if fc.registry_demo:
            out.append("- 说明：本次仅与内置的演示备案清单核对，“未找到”不代表未备案，以网信办公示信息为准。")
        out.append("")

    out += ["## 四、服务提供者义务核查", ""]
    if not r.compliance:
        out += ["不适用：未检测到深度合成能力，不核查服务提供者义务。", ""]
    else:
        out += ["| 义务 | 条款 | 状态 | 证据或说明 |", "| --- | --- | --- | --- |"]
        for item in r.compliance:
            ev = "；".join(md_code(f"{e.locator} = {e.value}") for e in item.evidence[:3])
            note = (ev + "。" if ev else "") + md_text(item.zh)
            out.append(f"| {label(DUTY_LABELS, item.duty, 'zh')} | {md_text(article_zh(item.article))} | "
                       f"{label(DUTY_STATUS_LABELS, item.status.value, 'zh')} | {note} |")
        out.append("")

    materials = requested_materials(r)
    out += ["## 五、请补充提交的材料", ""]
    if not materials:
        out += ["无需补充材料。", ""]
    for i, m in enumerate(materials, 1):
        out.append(f"{i}. {md_text(m.zh)}（依据：{md_text(article_zh(m.article))}）")
    if materials:
        out.append("")

    if r.errors:
        out += ["## 六、扫描错误", "", "安装包未能完整解析，本次不能直接通过，需人工复核：", ""]
        for e in r.errors:
            out.append(f"- {md_code(e.stage)} {md_code(e.locator)}：{md_text(e.message)}")
        out.append("")

    p = r.provenance
    out += ["---", "",
            f"生成信息：synthreview {md_text(p.tool_version)} · 规则包 {md_code(p.rules_sha256)} · "
            f"策略 {md_code(p.policy_id)} {md_code(p.policy_sha256)} · 备案清单 {md_code(p.registry_snapshot)}"
            + ("（演示清单）" if p.registry_demo else ""), ""]
    out.append(_summary_en(r))
    return out


def _summary_en(r: ScanResult) -> str:
    """The closing English line: decision, app, what was found, filing status, articles, requests."""
    d, a = r.decision, r.inventory.artifact
    ds = [f for f in r.findings if is_deep_synthesis(f.capability)]
    found = "; ".join(f"{f.capability}: {f.sdk}" for f in ds) or "none"
    articles: list[str] = []
    for x in d.reasons:
        for part in x.article.split(";"):
            if part.strip() and part.strip() not in articles:
                articles.append(part.strip())
    who = " ".join(x for x in (a.name, a.app_id, a.version) if x) or a.path.rsplit("/", 1)[-1]
    filing = r.filings.status.value if r.filings else "error"
    return md_text(
        f"English summary: {d.action.value} ({d.action.zh}) for {who}. Deep-synthesis findings: {len(ds)} "
        f"({found}). Filing status: {filing}. Articles: {', '.join(articles) or '-'}. "
        f"Materials requested: {len(requested_materials(r))}. Scan errors: {len(r.errors)}.")


def render_markdown(results: Sequence[ScanResult]) -> str:
    """One notice per artifact, separated by a rule."""
    parts = ["\n".join(_notice(r)).rstrip("\n") + "\n" for r in results]
    return "\n---\n\n".join(parts)

"""The filing cross-check: declared numbers × numbers found in the app × the CAC registry → FilingCheck.

Art. 13 of the Deep Synthesis Provisions makes the store verify the filing and security assessment of every
deep-synthesis app. Stores check by hand against the CAC lists, and the failure modes are known: numbers
mistyped, borrowed from another company, taken from an upstream vendor's 技术支持者 filing, filed for a
different product, or cancelled. This module turns each of those into a :class:`FilingCheckItem` citing the
article behind it, and summarises the filing itself in :attr:`FilingCheck.status`.

Pure: no I/O, no clock (pass ``today`` to enable date checks). Inputs are the typed values of the earlier
stages; the registry comes in as an immutable :class:`~filings.registry.RegistrySnapshot`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Any

from filings.meta import DEEP_SYNTHESIS_CAPABILITIES, SubmissionMeta
from filings.numbers import FilingKind, FilingNumber, NumberStatus, find_filings, parse_filing
from filings.registry import RegistryRow, RegistrySnapshot, Role
from scanner.model import ArtifactKind, Certificate, Inventory

__all__ = [
    "ItemStatus",
    "FilingStatus",
    "Article",
    "RegistryState",
    "FilingCheckItem",
    "NumberReport",
    "FilingCheck",
    "check_filings",
    "normalize_entity",
    "same_entity",
    "cert_organization",
    "app_form",
]


class ItemStatus(str, Enum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    INFO = "info"


class FilingStatus(str, Enum):
    """The filing (备案) itself, summarised. Assessment/labeling problems are items, not a status."""

    VALID = "valid"  # an own provider filing in the registry covers this app
    MISSING = "missing"  # deep synthesis (or an LLM) detected/declared, no filing (or no GenAI 备案/登记)
    INVALID = "invalid"  # a declared number is malformed, a placeholder or not in the (full) registry
    CANCELLED = "cancelled"  # a declared (or the app's own displayed) number has been cancelled
    MISMATCH = "mismatch"  # the number exists but belongs to another entity/product/role
    NOT_REQUIRED = "not_required"  # nothing detected, nothing declared
    UNVERIFIABLE = "unverifiable"  # cannot be decided from the data at hand (demo registry, no entity, 等)


#: Most severe first: the overall status is the most severe one any check contributes.
_SEVERITY = (FilingStatus.CANCELLED, FilingStatus.INVALID, FilingStatus.MISMATCH, FilingStatus.MISSING,
             FilingStatus.UNVERIFIABLE, FilingStatus.VALID, FilingStatus.NOT_REQUIRED)


class Article(str, Enum):
    """The provisions an item rests on (value = the short English citation used in reports)."""

    DS_13 = "Provisions Art. 13"
    DS_16 = "Provisions Art. 16"
    DS_17 = "Provisions Art. 17"
    DS_19 = "Provisions Art. 19"
    GENAI_17 = "GenAI Measures Art. 17"
    LABEL_7 = "Labeling Measures Art. 7"

    @property
    def zh(self) -> str:
        return _ARTICLE_TEXT[self][0]

    @property
    def en(self) -> str:
        return _ARTICLE_TEXT[self][1]


_ARTICLE_TEXT: dict[Article, tuple[str, str]] = {
    Article.DS_13: ("《互联网信息服务深度合成管理规定》第十三条：应用商店应核验深度合成类应用的安全评估、备案等情况",
                    "Deep Synthesis Provisions Art. 13: app stores verify the security assessment and filing of "
                    "deep-synthesis apps"),
    Article.DS_16: ("《互联网信息服务深度合成管理规定》第十六条：对生成或编辑的信息内容添加不影响使用的标识",
                    "Deep Synthesis Provisions Art. 16: add marks that do not affect use to generated/edited content"),
    Article.DS_17: ("《互联网信息服务深度合成管理规定》第十七条：可能导致公众混淆或误认的，应进行显著标识",
                    "Deep Synthesis Provisions Art. 17: conspicuous labels where content may confuse or mislead "
                    "the public"),
    Article.DS_19: ("《互联网信息服务深度合成管理规定》第十九条：履行算法备案，并在应用中显著位置标明备案编号、提供公示信息链接",
                    "Deep Synthesis Provisions Art. 19: algorithm filing; show the filing number prominently in the "
                    "app with a link to the public record"),
    Article.GENAI_17: ("《生成式人工智能服务管理暂行办法》第十七条：具有舆论属性的服务应开展安全评估并履行算法备案",
                       "Interim Measures for Generative AI Services Art. 17: security assessment and algorithm filing "
                       "for services with public-opinion attributes"),
    Article.LABEL_7: ("《人工智能生成合成内容标识办法》第七条：应用分发平台应要求申报是否提供生成合成服务并核验标识材料",
                      "AI-Generated Content Labeling Measures Art. 7: distribution platforms require a declaration "
                      "of AIGC services and verify labeling materials"),
}


class RegistryState(str, Enum):
    FOUND = "found"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"
    NOT_CHECKED = "not_checked"  # malformed / placeholder / ICP numbers


@dataclass(frozen=True)
class FilingCheckItem:
    """One finding of the cross-check, bilingual, with the article it cites."""

    code: str
    status: ItemStatus
    article: Article
    zh: str
    en: str
    number: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class NumberReport:
    """Where one number came from and what the registry says about it (for reports and triage)."""

    number: str
    kind: FilingKind
    validity: NumberStatus
    declared: bool
    locators: tuple[str, ...]  # where it was found in the app (empty = not found)
    registry: RegistryState
    entity: str = ""
    algorithm: str = ""
    role: str = ""
    own: bool | None = None  # registry entity is the app's developer (None: unknown)


@dataclass(frozen=True)
class FilingCheck:
    """The result of :func:`check_filings` (the ``filings`` object of the JSON report)."""

    status: FilingStatus
    declared: tuple[str, ...]
    found_in_app: tuple[str, ...]
    checks: tuple[FilingCheckItem, ...]
    numbers: tuple[NumberReport, ...] = ()
    registry_snapshot: str = ""
    registry_demo: bool = False

    @property
    def errors(self) -> tuple[FilingCheckItem, ...]:
        return tuple(i for i in self.checks if i.status is ItemStatus.ERROR)

    @property
    def warnings(self) -> tuple[FilingCheckItem, ...]:
        return tuple(i for i in self.checks if i.status is ItemStatus.WARNING)

    def codes(self, status: ItemStatus | None = None) -> tuple[str, ...]:
        return tuple(i.code for i in self.checks if status is None or i.status is status)


# --------------------------------------------------------------------------------------------------------
# Names and entities

_ZH_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "公司")
_EN_SUFFIXES = ("companylimited", "colimited", "coltd", "limited", "ltd", "incorporated", "inc", "corporation",
                "corp", "llc")
_PUNCT = re.compile(r"[\s\u00b7\u30fb\u2022.,，。、'\"“”‘’()\[\]【】<>《》\-_/&]+")


def normalize_entity(name: str) -> str:
    """主体名称 for comparison: NFKC (full-width → half-width, （）→()), no spaces/punctuation, no company suffix."""
    t = _PUNCT.sub("", unicodedata.normalize("NFKC", name or "")).casefold()
    for suf in _ZH_SUFFIXES + _EN_SUFFIXES:
        if t.endswith(suf):
            return t[: -len(suf)] if len(t) > len(suf) else t
    return t


def same_entity(a: str | None, b: str | None) -> bool:
    """Same company modulo punctuation, width, spaces and 有限公司/有限责任公司/股份有限公司 variants."""
    return bool(a and b) and normalize_entity(a or "") == normalize_entity(b or "")


def _has_cjk(s: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in s)


def _rfc4514_unescape(value: str) -> str:
    out = bytearray()
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and re.fullmatch(r"[0-9A-Fa-f]{2}", value[i + 1:i + 3]):
            out.append(int(value[i + 1:i + 3], 16))
            i += 3
            continue
        if ch == "\\" and i + 1 < len(value):
            out.extend(value[i + 1].encode())
            i += 2
            continue
        out.extend(ch.encode())
        i += 1
    return out.decode("utf-8", errors="replace").strip()


def cert_organization(cert: Certificate) -> str | None:
    """The O= of a signing certificate (``organization`` if the reader filled it, else parsed from ``subject``)."""
    if cert.organization:
        return cert.organization.strip() or None
    parts = re.split(r"(?<!\\)[,+;]", cert.subject or "")
    for p in parts:
        k, sep, v = p.partition("=")
        if sep and k.strip().upper() in ("O", "2.5.4.10", "ORGANIZATIONNAME"):
            return _rfc4514_unescape(v.strip().strip('"')) or None
    return None


_MINI_KINDS = {ArtifactKind.WXAPKG, ArtifactKind.TTPKG, ArtifactKind.MINIPROGRAM_SOURCE, ArtifactKind.AMR}


def app_form(inventory: Inventory) -> str:
    """The 应用产品 form this artifact is: APP, 小程序 or 快应用."""
    mp = inventory.miniprogram
    if inventory.artifact.kind is ArtifactKind.RPK or (mp is not None and mp.platform == "quickapp"):
        return "快应用"
    if inventory.artifact.kind in _MINI_KINDS or mp is not None:
        return "小程序"
    return "APP"


def _norm_name(s: str) -> str:
    return _PUNCT.sub("", unicodedata.normalize("NFKC", s or "")).casefold()


def _app_names(meta: SubmissionMeta, inventory: Inventory) -> tuple[str, ...]:
    names: list[str] = []
    for n in (meta.app_name, inventory.artifact.name, inventory.manifest.label if inventory.manifest else None,
              inventory.miniprogram.name if inventory.miniprogram else None):
        if n and n.strip() and not n.strip().startswith("@"):  # "@string/app_name" is an unresolved reference
            if n.strip() not in names:
                names.append(n.strip())
    return tuple(names)


def _conf(v: Any) -> str:
    return str(getattr(v, "value", v)).lower()


# --------------------------------------------------------------------------------------------------------
# Items


def _item(code: str, status: ItemStatus, article: Article, zh: str, en: str, number: str | None = None,
          detail: str = "") -> FilingCheckItem:
    return FilingCheckItem(code, status, article, zh, en, number, detail)


def _row_summary(r: RegistryRow) -> str:
    bits = [r.algorithm, r.role or r.list_kind.value, r.entity]
    if r.products:
        bits.append(f"应用产品: {r.products}")
    if r.batch_source:
        bits.append(f"batch: {r.batch_source}")
    return " | ".join(b for b in bits if b)


@dataclass(frozen=True)
class _Num:
    fn: FilingNumber
    declared: bool
    locators: tuple[str, ...]


class _Outcome(str, Enum):
    OWN_VALID = "own_valid"
    OWN_UNCERTAIN = "own_uncertain"  # own entity, product list ends with 等 / form 其他 / no app name
    NOT_COVERED = "not_covered"  # own entity, this product/form not listed
    OTHER_ENTITY = "other_entity"
    CERT_MISMATCH = "cert_mismatch"
    ENTITY_UNKNOWN = "entity_unknown"
    SUPPORTER = "supporter"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # not in a full registry
    UNVERIFIED = "unverified"  # not in the demo registry
    MALFORMED = "malformed"


def _collect(meta: SubmissionMeta, inventory: Inventory) -> dict[str, _Num]:
    """Declared and in-app numbers by key, declared first (their spelling wins)."""
    nums: dict[str, _Num] = {}
    for text in meta.filings:
        fn = parse_filing(text)
        key = fn.key or text
        if key not in nums:
            nums[key] = _Num(fn, True, ())
    for loc in inventory.strings.filings:
        hits = find_filings(loc.value)
        if not hits:
            one = parse_filing(loc.value)
            hits = [one] if one.kind is not FilingKind.UNKNOWN else []
        for fn in hits:
            old = nums.get(fn.key)
            if old is None:
                nums[fn.key] = _Num(fn, False, (loc.locator,))
            elif loc.locator not in old.locators:
                nums[fn.key] = _Num(old.fn, old.declared, old.locators + (loc.locator,))
    return nums


@dataclass(frozen=True)
class _Ctx:
    developer: str | None
    cert_orgs: tuple[str, ...]  # CJK O= values (comparable to 主体名称)
    cert_other: tuple[str, ...]  # non-CJK O= values (not comparable)
    names: tuple[str, ...]
    form: str
    demo: bool

    def entity_refs(self) -> tuple[str, ...]:
        return tuple(x for x in ((self.developer,) + self.cert_orgs) if x)

    def is_own(self, entity: str) -> bool | None:
        refs = self.entity_refs()
        if not refs:
            return None
        return any(same_entity(entity, r) for r in refs)


def _coverage(rows: tuple[RegistryRow, ...], ctx: _Ctx) -> tuple[str, str]:
    """('covered'|'form'|'uncertain'|'no', detail) for this app against 应用产品 of the rows."""
    if not ctx.names:
        return "uncertain", "app name unknown (no app_name, label or artifact name)"
    names = [_norm_name(n) for n in ctx.names if _norm_name(n)]
    form_only: list[str] = []
    open_ended = False
    other_form = False
    for r in rows:
        products, open_list = r.product_list, r.products_open_ended
        open_ended |= open_list
        for p in products:
            pn = _norm_name(p.name)
            hit = bool(pn) and any(pn == n or (min(len(pn), len(n)) >= 2 and (pn in n or n in pn)) for n in names)
            if not pn and "其他" in p.forms:
                other_form = True
            if not hit:
                continue
            if not p.forms or ctx.form in p.forms:
                return "covered", f"{p.name}（{'、'.join(p.forms) or '?'}）"
            if "其他" in p.forms:
                other_form = True
            form_only.append(f"{p.name}（{'、'.join(p.forms)}）")
    if form_only:
        return "form", "; ".join(form_only)
    if open_ended or other_form:
        return "uncertain", "应用产品 ends with 等 / lists (其他)"
    return "no", ""


def _evaluate_algorithm(n: _Num, reg: RegistrySnapshot, ctx: _Ctx,
                        items: list[FilingCheckItem]) -> tuple[_Outcome, NumberReport]:
    fn = n.fn
    num = fn.normalized

    def report(state: RegistryState, row: RegistryRow | None = None, own: bool | None = None) -> NumberReport:
        return NumberReport(num, fn.kind, fn.status, n.declared, n.locators, state,
                            row.entity if row else "", row.algorithm if row else "", row.role if row else "", own)

    sev = ItemStatus.ERROR if n.declared else ItemStatus.WARNING
    where = "申报" if n.declared else "应用内"
    where_en = "declared" if n.declared else "found in the app"
    if fn.status in (NumberStatus.MALFORMED, NumberStatus.PLACEHOLDER):
        items.append(_item(
            "number_malformed", sev, Article.DS_19,
            f"{where}的备案编号格式无效：{num}（{fn.problem_zh}）",
            f"{where_en} filing number is not valid: {num} ({fn.problem_en})", num, "; ".join(n.locators)))
        return _Outcome.MALFORMED, report(RegistryState.NOT_CHECKED)
    if fn.status is NumberStatus.BAD_CHECK_DIGIT:
        items.append(_item(
            "number_check_digit", ItemStatus.WARNING, Article.DS_19,
            f"备案编号校验位不符：{num}，{fn.problem_zh}", f"filing number check digit mismatch: {num}; {fn.problem_en}",
            num))
    parts = fn.algorithm
    if parts is not None and parts.category != "01":
        items.append(_item(
            "number_category", ItemStatus.WARNING, Article.DS_19,
            f"{num} 的类别代码为 {parts.category}（{parts.category_zh}），不是生成合成类（01）备案",
            f"{num} has category {parts.category} ({parts.category_en}), not a generation/synthesis (01) filing",
            num))
    cancel = reg.cancellation(fn)
    rows = reg.lookup(fn)
    row = rows[-1] if rows else None
    own = ctx.is_own(row.entity if row else (cancel.entity if cancel else "")) if (row or cancel) else None
    if cancel is not None:
        status = ItemStatus.ERROR if (n.declared or own) else ItemStatus.WARNING
        algo = cancel.algorithm or (row.algorithm if row else "")
        items.append(_item(
            "registry_cancelled", status, Article.DS_13,
            f"备案编号已注销：{num}（{algo}，{cancel.entity}，注销 {cancel.cancelled or '日期未知'}）",
            f"filing number has been cancelled: {num} ({algo}, {cancel.entity}, cancelled "
            f"{cancel.cancelled or 'date unknown'})",
            num, cancel.batch_source))
        return _Outcome.CANCELLED, report(RegistryState.CANCELLED, row, own)
    if row is None:
        if reg.demo:
            items.append(_item(
                "registry_unknown", ItemStatus.WARNING, Article.DS_13,
                f"{num} 不在演示备案库（仅为节选）中，请导入完整清单或在 beian.cac.gov.cn 核实",
                f"{num} is not in the demo registry (an excerpt); import the full CAC list or verify on "
                f"beian.cac.gov.cn", num))
            return _Outcome.UNVERIFIED, report(RegistryState.UNKNOWN)
        items.append(_item(
            "registry_unknown", sev, Article.DS_13,
            f"{where}的备案编号不在网信办公布的备案清单中：{num}",
            f"{where_en} filing number is not in the CAC published lists: {num}", num, "; ".join(n.locators)))
        return _Outcome.UNKNOWN, report(RegistryState.UNKNOWN)

    rep = report(RegistryState.FOUND, row, own)
    summary = _row_summary(row)
    if row.role_kind is Role.SUPPORTER:
        # Whether this is an error depends on whether the app also has its own provider filing (decided later).
        return _Outcome.SUPPORTER, rep
    if own is False:
        if not n.declared:
            items.append(_item(
                "upstream_number", ItemStatus.INFO, Article.DS_19,
                f"应用内显示其他主体的备案编号 {num}（{row.entity}），可能是上游模型/服务的备案，不能替代本应用的备案",
                f"the app shows {num} of another entity ({row.entity}), likely an upstream model/service; it does "
                f"not replace this app's own filing", num, summary))
            return _Outcome.OTHER_ENTITY, rep
        if ctx.developer and not same_entity(row.entity, ctx.developer):
            items.append(_item(
                "entity_mismatch", ItemStatus.ERROR, Article.DS_13,
                f"备案主体“{row.entity}”与申报开发者“{ctx.developer}”不一致：该编号属于其他公司",
                f"filing entity '{row.entity}' differs from the declared developer '{ctx.developer}': the number "
                f"belongs to another company", num, summary))
            return _Outcome.OTHER_ENTITY, rep
    if n.declared or own:
        mismatched = [o for o in ctx.cert_orgs if not same_entity(row.entity, o)]
        if mismatched:
            items.append(_item(
                "cert_entity_mismatch", ItemStatus.ERROR, Article.DS_13,
                f"签名证书主体 O=“{mismatched[0]}”与备案主体“{row.entity}”不一致（可能借用他人备案或被重新打包）",
                f"signing certificate O='{mismatched[0]}' differs from the filing entity '{row.entity}' "
                f"(borrowed filing or repackaged app?)", num, summary))
            return _Outcome.CERT_MISMATCH, rep
    if own is None:
        items.append(_item(
            "entity_unverifiable", ItemStatus.WARNING if n.declared else ItemStatus.INFO, Article.DS_13,
            f"无法核对备案主体“{row.entity}”：未申报开发者，证书 O= 非中文或缺失",
            f"cannot verify the filing entity '{row.entity}': no developer declared and the certificate O= is "
            f"missing or not in Chinese", num, "; ".join(ctx.cert_other)))
        return _Outcome.ENTITY_UNKNOWN, rep

    cov, cov_detail = _coverage(rows, ctx)
    apps = "、".join(ctx.names) or "?"
    if cov == "covered":
        items.append(_item(
            "registry_found", ItemStatus.OK, Article.DS_13,
            f"备案有效：{num}（{row.algorithm}，服务提供者 {row.entity}）覆盖本{ctx.form}“{cov_detail}”",
            f"valid filing: {num} ({row.algorithm}, provider {row.entity}) covers this {ctx.form} as "
            f"'{cov_detail}'", num, summary))
        return _Outcome.OWN_VALID, rep
    if cov == "form":
        items.append(_item(
            "product_form_mismatch", sev, Article.DS_13,
            f"{num} 的应用产品“{cov_detail}”不包含本应用的形态（{ctx.form}）",
            f"{num} lists '{cov_detail}' but not this product's form ({ctx.form})", num, summary))
        return _Outcome.NOT_COVERED, rep
    if cov == "uncertain":
        items.append(_item(
            "product_unverifiable", ItemStatus.WARNING, Article.DS_13,
            f"无法确认 {num} 的应用产品包含“{apps}”（{row.products}）：请在 beian.cac.gov.cn 核实",
            f"cannot confirm that {num} covers '{apps}' (应用产品: {row.products}); verify on beian.cac.gov.cn",
            num, cov_detail))
        return _Outcome.OWN_UNCERTAIN, rep
    items.append(_item(
        "product_not_covered", sev, Article.DS_13,
        f"{num} 的应用产品（{row.products}）不包含本应用“{apps}”",
        f"{num} is filed for other products ({row.products}), not '{apps}'", num, summary))
    return _Outcome.NOT_COVERED, rep


def _worst(statuses: Iterable[FilingStatus]) -> FilingStatus:
    present = set(statuses)
    for s in _SEVERITY:
        if s in present:
            return s
    return FilingStatus.NOT_REQUIRED


def check_filings(meta: SubmissionMeta, inventory: Inventory, capabilities: Mapping[str, Any],
                  registry: RegistrySnapshot, *, today: date | None = None) -> FilingCheck:
    """Cross-check declarations, the app's contents and the registry (Art. 13/17/19, GenAI 17, Labeling 7).

    ``capabilities`` maps detected capability ids (DESIGN.md) to confidence ``high|medium|low``; only high
    and medium ones create duties, low ones are mentioned. ``today`` enables the future-date check on
    assessments (kept out by default so the function stays pure).
    """
    items: list[FilingCheckItem] = []
    caps = {k: _conf(v) for k, v in capabilities.items() if k in DEEP_SYNTHESIS_CAPABILITIES}
    strong = sorted(k for k, c in caps.items() if c != "low")
    weak = sorted(k for k, c in caps.items() if c == "low")
    required = bool(strong) or meta.declares_aigc is True

    orgs = [o for c in inventory.certificates if (o := cert_organization(c))]
    ctx = _Ctx(
        developer=meta.developer,
        cert_orgs=tuple(dict.fromkeys(o for o in orgs if _has_cjk(o))),
        cert_other=tuple(dict.fromkeys(o for o in orgs if not _has_cjk(o))),
        names=_app_names(meta, inventory),
        form=app_form(inventory),
        demo=registry.demo,
    )
    nums = _collect(meta, inventory)
    declared = tuple(dict.fromkeys(parse_filing(f).normalized or f for f in meta.filings))
    if meta.icp_filing:
        declared += (parse_filing(meta.icp_filing).normalized or meta.icp_filing,)
    found = tuple(n.fn.normalized for n in nums.values() if n.locators)
    reports: list[NumberReport] = []

    # -- 网信算备 numbers ------------------------------------------------------------------------------
    outcomes: list[tuple[_Num, _Outcome]] = []
    own_found_cancelled = False
    for n in nums.values():
        if n.fn.kind is FilingKind.ALGORITHM:
            outcome, rep = _evaluate_algorithm(n, registry, ctx, items)
            outcomes.append((n, outcome))
            reports.append(rep)
            own_found_cancelled |= outcome is _Outcome.CANCELLED and not n.declared and rep.own is True
    own_valid = [n for n, o in outcomes if o is _Outcome.OWN_VALID]
    has_own = bool(own_valid) or any(o is _Outcome.OWN_UNCERTAIN for _, o in outcomes)
    for n, o in outcomes:
        if o is not _Outcome.SUPPORTER:
            continue
        row = registry.lookup(n.fn)[-1]
        if n.declared and not has_own:
            items.append(_item(
                "supporter_number", ItemStatus.ERROR, Article.DS_19,
                f"{n.fn.normalized} 是“{row.entity}”的服务技术支持者备案（{row.algorithm}），不能代替本应用作为服务提供者的备案",
                f"{n.fn.normalized} is a technical supporter's filing of '{row.entity}' ({row.algorithm}); a "
                f"supporter's number never covers the app's own service: the provider must file",
                n.fn.normalized, _row_summary(row)))
        else:
            items.append(_item(
                "upstream_number", ItemStatus.INFO, Article.DS_19,
                f"{n.fn.normalized} 是上游技术支持者“{row.entity}”的备案（{row.algorithm}），仅作为上游模型的证据",
                f"{n.fn.normalized} is the upstream technical supporter filing of '{row.entity}' "
                f"({row.algorithm}); evidence of the upstream model only", n.fn.normalized, _row_summary(row)))

    declared_outcomes = {o for n, o in outcomes if n.declared}
    # A signer other than the filer is a mismatch even when the number is only displayed, not declared.
    if any(o is _Outcome.CERT_MISMATCH and not n.declared for n, o in outcomes):
        declared_outcomes.add(_Outcome.CERT_MISMATCH)
    genai_only = bool(strong) and set(strong) <= {"text_generation"}
    alg_contrib: list[FilingStatus] = []
    if _Outcome.CANCELLED in declared_outcomes or own_found_cancelled:
        alg_contrib.append(FilingStatus.CANCELLED)
    if declared_outcomes & {_Outcome.MALFORMED, _Outcome.UNKNOWN}:
        alg_contrib.append(FilingStatus.INVALID)
    if declared_outcomes & {_Outcome.OTHER_ENTITY, _Outcome.CERT_MISMATCH, _Outcome.NOT_COVERED}:
        alg_contrib.append(FilingStatus.MISMATCH)
    if own_valid:
        alg_contrib.append(FilingStatus.VALID)
    elif has_own or declared_outcomes & {_Outcome.UNVERIFIED, _Outcome.ENTITY_UNKNOWN}:
        alg_contrib.append(FilingStatus.UNVERIFIABLE)
    elif _Outcome.SUPPORTER in declared_outcomes:
        alg_contrib.append(FilingStatus.MISMATCH)
    # "Missing" = no well-formed number the app could stand on (a placeholder is not a filing).
    candidates = [o for n, o in outcomes if o is not _Outcome.MALFORMED and
                  (n.declared or o in (_Outcome.OWN_VALID, _Outcome.OWN_UNCERTAIN))]
    alg_missing = required and not candidates

    # -- Art. 19 display ----------------------------------------------------------------------------------
    links = inventory.strings.beian_links
    displayed_own = False
    for n, o in outcomes:
        if n.declared:
            if o in (_Outcome.MALFORMED, _Outcome.SUPPORTER, _Outcome.OTHER_ENTITY, _Outcome.CANCELLED,
                     _Outcome.UNKNOWN):
                continue  # Art. 19 display is moot for a number that is not the app's valid filing
        elif o not in (_Outcome.OWN_VALID, _Outcome.OWN_UNCERTAIN):
            continue
        num = n.fn.normalized
        if n.declared and not n.locators:
            items.append(_item(
                "not_displayed", ItemStatus.WARNING, Article.DS_19,
                f"申报的备案编号 {num} 未在应用包中找到：应在应用显著位置标明备案编号（如由服务端下发，请提供截图）",
                f"declared filing number {num} was not found in the package: Art. 19 requires it shown prominently "
                f"in the app (if served remotely, ask for a screenshot)", num))
            continue
        if n.locators:
            displayed_own = True
        if not n.declared:
            items.append(_item(
                "not_declared", ItemStatus.WARNING, Article.DS_13,
                f"应用内显示本主体的备案编号 {num}，但提交材料未申报",
                f"the app shows its own filing number {num} but the submission does not declare it", num,
                "; ".join(n.locators)))
    if displayed_own:
        if links:
            items.append(_item(
                "displayed", ItemStatus.OK, Article.DS_19,
                "应用内显示了备案编号并提供了公示信息链接（beian.cac.gov.cn）",
                "the app shows its filing number with a link to the public record (beian.cac.gov.cn)", None,
                links[0].locator))
        else:
            items.append(_item(
                "no_beian_link", ItemStatus.WARNING, Article.DS_19,
                "应用内显示了备案编号，但未找到备案公示信息链接（beian.cac.gov.cn）",
                "the app shows its filing number but no link to the public record (beian.cac.gov.cn) was found"))

    # -- GenAI 备案 / 登记 ----------------------------------------------------------------------------------
    genai_contrib: list[FilingStatus] = []
    genai = [n for n in nums.values() if n.fn.kind in (FilingKind.GENAI_BEIAN, FilingKind.GENAI_DENGJI)]
    own_genai: list[str] = []
    upstream_genai: list[str] = []
    for n in genai:
        fn, num = n.fn, n.fn.normalized
        sev = ItemStatus.ERROR if n.declared else ItemStatus.WARNING
        if fn.status is not NumberStatus.VALID:
            items.append(_item(
                "genai_malformed", sev, Article.GENAI_17,
                f"生成式AI备案/登记号格式无效：{num}（{fn.problem_zh}）",
                f"GenAI 备案/登记 id is not valid: {num} ({fn.problem_en})", num))
            reports.append(NumberReport(num, fn.kind, fn.status, n.declared, n.locators, RegistryState.NOT_CHECKED))
            if n.declared:
                genai_contrib.append(FilingStatus.INVALID)
            continue
        rows = registry.lookup(fn)
        if registry.is_cancelled(fn):
            items.append(_item("registry_cancelled", sev, Article.GENAI_17, f"生成式AI备案/登记已注销：{num}",
                               f"GenAI 备案/登记 has been cancelled: {num}", num))
            reports.append(NumberReport(num, fn.kind, fn.status, n.declared, n.locators, RegistryState.CANCELLED))
            if n.declared:
                genai_contrib.append(FilingStatus.CANCELLED)
            continue
        if not rows:
            demo = registry.demo
            items.append(_item(
                "genai_unknown", ItemStatus.WARNING if demo or not n.declared else ItemStatus.ERROR, Article.GENAI_17,
                f"{num} 不在{'演示' if demo else ''}生成式AI备案/登记清单中",
                f"{num} is not in the {'demo ' if demo else ''}GenAI 备案/登记 lists", num))
            reports.append(NumberReport(num, fn.kind, fn.status, n.declared, n.locators, RegistryState.UNKNOWN))
            if n.declared:
                genai_contrib.append(FilingStatus.UNVERIFIABLE if demo else FilingStatus.INVALID)
            continue
        row = rows[-1]
        own = ctx.is_own(row.entity)
        reports.append(NumberReport(num, fn.kind, fn.status, n.declared, n.locators, RegistryState.FOUND,
                                    row.entity, row.algorithm, "", own))
        kind_zh = "登记" if fn.kind is FilingKind.GENAI_DENGJI else "备案"
        if own:
            own_genai.append(num)
            items.append(_item(
                "genai_ok", ItemStatus.OK, Article.GENAI_17,
                f"生成式AI服务已{kind_zh}：{num}（{row.algorithm}，{row.entity}）",
                f"generative AI service {'registered' if kind_zh == '登记' else 'filed'}: {num} ({row.algorithm}, "
                f"{row.entity})", num, _row_summary(row)))
        elif own is False:
            upstream_genai.append(num)
            items.append(_item(
                "genai_upstream", ItemStatus.WARNING if n.declared else ItemStatus.INFO, Article.GENAI_17,
                f"{num} 是“{row.entity}”的模型{kind_zh}（{row.algorithm}），调用该模型的应用仍需自行登记或备案",
                f"{num} is the model {'registration' if kind_zh == '登记' else 'filing'} of '{row.entity}' "
                f"({row.algorithm}); an app calling that model still needs its own 登记 or 备案", num,
                _row_summary(row)))
        else:
            items.append(_item(
                "entity_unverifiable", ItemStatus.WARNING if n.declared else ItemStatus.INFO, Article.GENAI_17,
                f"无法核对 {num} 的备案单位“{row.entity}”：未申报开发者，证书 O= 非中文或缺失",
                f"cannot verify the entity '{row.entity}' of {num}: no developer declared, certificate O= missing "
                f"or not in Chinese", num))
            if n.declared:
                genai_contrib.append(FilingStatus.UNVERIFIABLE)
    if "text_generation" in strong:
        if own_genai:
            genai_contrib.append(FilingStatus.VALID)
        elif upstream_genai:
            genai_contrib.append(FilingStatus.UNVERIFIABLE)
            items.append(_item(
                "genai_upstream_only", ItemStatus.WARNING, Article.GENAI_17,
                "检测到大模型/文本生成能力，仅发现上游模型的备案号，未发现本应用自己的生成式AI登记或备案",
                "text generation (LLM) detected; only the upstream model's 备案 was found, not the app's own GenAI "
                "登记 or 备案"))
        elif not genai_contrib:
            genai_contrib.append(FilingStatus.MISSING)
            items.append(_item(
                "genai_missing", ItemStatus.ERROR, Article.GENAI_17,
                "检测到大模型/文本生成能力，但未申报也未在应用中发现生成式AI服务备案号或登记号",
                "text generation (LLM) detected but no GenAI 备案 or 登记 id was declared or found in the app"))
    if alg_missing and genai_only and own_genai:
        alg_missing = False  # an app that only calls a filed LLM is covered by its 登记 (filings.md §2.3)
        items.append(_item(
            "algorithm_filing_via_genai", ItemStatus.INFO, Article.DS_19,
            "未发现网信算备编号；本应用仅有文本生成能力，由其生成式AI登记/备案覆盖",
            "no 网信算备 number; the app only generates text and is covered by its GenAI 登记/备案"))
    if alg_missing:
        alg_contrib.append(FilingStatus.MISSING)
        what = "、".join(strong) or "declares_aigc: true"
        items.append(_item(
            "filing_missing", ItemStatus.ERROR, Article.DS_19,
            f"检测到深度合成能力（{what}），但未发现本应用作为服务提供者的算法备案编号",
            f"deep synthesis detected ({what}) but no provider algorithm filing (网信算备) of this app was declared "
            f"or found", None, what))

    if not required and not meta.filings:
        items.append(_item(
            "not_required", ItemStatus.INFO, Article.DS_13,
            "未检测到深度合成能力，也未申报备案编号：本检查不要求备案" + (f"（低置信度线索：{'、'.join(weak)}）" if weak else ""),
            "no deep-synthesis capability detected and nothing declared: no filing required by this check"
            + (f" (low-confidence hints: {', '.join(weak)})" if weak else "")))

    # -- security assessments (Art. 13) -------------------------------------------------------------------
    _check_assessments(meta, strong, items, today)
    # -- labeling (Art. 16/17, Labeling Measures Art. 7) --------------------------------------------------
    _check_labeling(meta, inventory, strong, weak, items)
    # -- ICP / App 备案 ----------------------------------------------------------------------------------
    _check_icp(meta, ctx, items)

    status = _worst(alg_contrib + genai_contrib) if (alg_contrib or genai_contrib) else FilingStatus.NOT_REQUIRED
    return FilingCheck(
        status=status, declared=declared, found_in_app=found, checks=tuple(items), numbers=tuple(reports),
        registry_snapshot=registry.snapshot_id, registry_demo=registry.demo,
    )


def _check_assessments(meta: SubmissionMeta, strong: list[str], items: list[FilingCheckItem],
                       today: date | None) -> None:
    for a in meta.assessments:
        label = a.id or "?"
        if not a.issuer or a.date is None:
            items.append(_item(
                "assessment_incomplete", ItemStatus.WARNING, Article.DS_13,
                f"安全评估 {label} 缺少出具机构或日期", f"security assessment {label} lacks an issuer or a date",
                None, label))
        if today is not None and a.date is not None and a.date > today:
            items.append(_item(
                "assessment_future_date", ItemStatus.WARNING, Article.DS_13,
                f"安全评估 {label} 的日期 {a.date.isoformat()} 晚于今天", f"security assessment {label} is dated in the "
                f"future ({a.date.isoformat()})", None, label))
    if not strong:
        return
    if not meta.assessments:
        items.append(_item(
            "assessment_missing", ItemStatus.ERROR, Article.DS_13,
            f"检测到深度合成能力（{'、'.join(strong)}），但未申报安全评估",
            f"deep synthesis detected ({', '.join(strong)}) but no security assessment was declared", None,
            ",".join(strong)))
        return
    covered = {c for a in meta.assessments for c in a.covers}
    missing = [c for c in strong if c not in covered]
    for c in missing:
        items.append(_item(
            "assessment_not_covering", ItemStatus.ERROR, Article.DS_13,
            f"申报的安全评估未覆盖检测到的能力：{c}",
            f"the declared security assessment(s) do not cover the detected capability: {c}", None, c))
    if not missing:
        items.append(_item(
            "assessment_ok", ItemStatus.OK, Article.DS_13,
            f"申报的安全评估覆盖全部检测到的能力（{'、'.join(strong)}）",
            f"the declared security assessment(s) cover every detected capability ({', '.join(strong)})"))


def _check_labeling(meta: SubmissionMeta, inventory: Inventory, strong: list[str], weak: list[str],
                    items: list[FilingCheckItem]) -> None:
    detected = "、".join(strong)
    if meta.declares_aigc is False and strong:
        items.append(_item(
            "aigc_declaration_false", ItemStatus.ERROR, Article.LABEL_7,
            f"申报未提供生成合成服务（declares_aigc: false），但检测到：{detected}",
            f"declared no AI-generation service (declares_aigc: false) but detected: {', '.join(strong)}",
            None, ",".join(strong)))
    elif meta.declares_aigc is None and strong:
        items.append(_item(
            "aigc_declaration_missing", ItemStatus.WARNING, Article.LABEL_7,
            f"未申报是否提供生成合成服务；检测到：{detected}",
            f"no declaration whether the app offers AI generation (declares_aigc); detected: {', '.join(strong)}",
            None, ",".join(strong)))
    elif meta.declares_aigc is False and weak:
        items.append(_item(
            "aigc_declaration_low_confidence", ItemStatus.INFO, Article.LABEL_7,
            f"申报未提供生成合成服务；低置信度线索：{'、'.join(weak)}",
            f"declared no AI generation; low-confidence hints: {', '.join(weak)}", None, ",".join(weak)))
    elif meta.declares_aigc is True and not strong:
        items.append(_item(
            "aigc_declared_not_detected", ItemStatus.INFO, Article.LABEL_7,
            "申报提供生成合成服务，静态分析未检测到相关能力（可能在服务端实现）",
            "declares AI generation; static analysis found no such capability (it may run server-side)"))
    elif meta.declares_aigc is True and strong:
        items.append(_item(
            "aigc_declaration_ok", ItemStatus.OK, Article.LABEL_7,
            "已申报提供生成合成服务，与检测结果一致", "declared AI generation, consistent with what was detected"))
    if not (strong or meta.declares_aigc):
        return
    markers = inventory.strings.aigc_markers
    if markers:
        items.append(_item(
            "implicit_label_evidence", ItemStatus.OK, Article.DS_16,
            f"发现隐式标识（GB 45438 AIGC 元数据/TC260 命名空间）写入证据：{markers[0].value}",
            f"evidence of implicit labeling (GB 45438 AIGC metadata / TC260 namespace): {markers[0].value}",
            None, markers[0].locator))
    else:
        items.append(_item(
            "implicit_label_missing", ItemStatus.WARNING, Article.LABEL_7,
            "未在代码中发现隐式标识（GB 45438 AIGC 元数据键或 TC260 命名空间）证据：请开发者提供标识材料",
            "no evidence of implicit labeling (GB 45438 'AIGC' metadata key or TC260 namespace) in the code: ask "
            "the developer for labeling materials"))
    labels = inventory.strings.labels
    if labels:
        items.append(_item(
            "explicit_label_evidence", ItemStatus.OK, Article.DS_17,
            f"发现显式标识文案：{labels[0].value}", f"visible AI-label text found: {labels[0].value}", None,
            labels[0].locator))
    else:
        items.append(_item(
            "explicit_label_missing", ItemStatus.INFO, Article.DS_17,
            "未在应用文案中发现“AI生成”类显式标识（可能为图片或服务端下发），请核验截图",
            "no visible 'AI生成'-style label text in the app's strings (it may be an image or served remotely); "
            "check screenshots"))


def _check_icp(meta: SubmissionMeta, ctx: _Ctx, items: list[FilingCheckItem]) -> None:
    if not meta.icp_filing:
        return
    fn = parse_filing(meta.icp_filing)
    if fn.kind not in (FilingKind.ICP, FilingKind.APP_BEIAN) or fn.status is not NumberStatus.VALID:
        items.append(_item(
            "icp_malformed", ItemStatus.WARNING, Article.DS_13,
            f"申报的ICP备案号格式无效：{meta.icp_filing}（{fn.problem_zh or '不是ICP备案号'}）",
            f"declared ICP number is not valid: {meta.icp_filing} ({fn.problem_en or 'not an ICP number'})",
            meta.icp_filing))
        return
    if ctx.form == "APP" and fn.kind is not FilingKind.APP_BEIAN:
        items.append(_item(
            "icp_not_app_beian", ItemStatus.WARNING, Article.DS_13,
            f"{fn.normalized} 是网站ICP备案，不是App备案（App备案号以“-数字A”结尾）",
            f"{fn.normalized} is a website ICP filing, not an App 备案 (App numbers end in '-nA')", fn.normalized))

"""Property tests for the loaders: registry importers (CSV/JSON/XLSX/DOCX), rule packs and store policies.

Only the module's own error escapes (``RegistryImportError``, ``RulePackError``, ``PolicyError``), memory stays
bounded, and — fail closed — whatever *does* load can be used: a loaded rule pack compiles and matches, a
loaded policy decides every input without raising (a policy that loads but crashes at decision time would
take every scan down with it). Fixed budget, ``derandomize=True``, no example database.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hostile_factory import json_bomb, mutations

from filings.registry import ImportKind, RegistryImportError, parse_registry_file
from rules.compliance import ComplianceItem, DutyStatus
from rules.loader import PACKS_DIR, RulePackError, load_pack
from rules.matcher import evaluate
from rules.model import Duty
from rules.policy import POLICIES_DIR, PolicyError, PolicyInput, decide, load_policy
from scanner.reader import read_artifact

FIX = Path(__file__).resolve().parent / "fixtures"
_TMP = Path(tempfile.mkdtemp(prefix="fuzz-loaders-"))


def fuzz(n: int) -> settings:
    return settings(max_examples=n, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def write(name: str, data: bytes) -> Path:
    p = _TMP / name
    p.write_bytes(data)
    return p


def peak_of(fn: Any) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- registry importers ---------------------------------------------------------------------------------

DS_ROWS = [
    ["序号", "算法名称", "角色", "主体名称", "应用产品", "主要用途", "备案编号", "备注"],
    ["1", "示例人脸生成算法", "服务提供者", "北京示例科技有限公司", "示例相机（APP）", "人脸特效", "网信算备110108823483901230031号", ""],
    ["2", "示例语音合成算法", "服务技术支持者", "上海示例智能有限公司", "示例（小程序、APP）等", "语音合成", "网信算备310104000000000001号", "变更"],
]
GENAI = [{"序号": 1, "属地": "北京", "模型名称": "示例大模型", "备案单位": "北京示例科技有限公司",
          "备案号": "Beijing-ShiLi-20240101", "备案时间": "2024-01-01"}]


def _csv() -> bytes:
    return "\n".join(",".join(r) for r in DS_ROWS).encode("utf-8")


def _xlsx() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for r in DS_ROWS:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _docx() -> bytes:
    import docx

    d = docx.Document()
    d.add_paragraph("境内深度合成服务算法备案清单")
    t = d.add_table(rows=0, cols=len(DS_ROWS[0]))
    for r in DS_ROWS:
        cells = t.add_row().cells
        for c, v in zip(cells, r):
            c.text = v
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _rezip(base: bytes, part_mutation: Any) -> bytes:
    """Apply ``part_mutation`` (name, bytes) -> bytes to the XML parts of an OOXML file and zip it again."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, part_mutation(info.filename, zin.read(info)))
    return out.getvalue()


TEXT_BASES = {".csv": [_csv(), _csv().replace(b",", b"\t")], ".json": [json.dumps(GENAI, ensure_ascii=False).encode(),
              json.dumps({"header": DS_ROWS[0], "rows": DS_ROWS[1:]}, ensure_ascii=False).encode()]}
OOXML_BASES = {".xlsx": _xlsx(), ".docx": _docx()}


def _registry_ok(p: Path, kind: ImportKind) -> None:
    size = p.stat().st_size

    def run() -> None:
        try:
            parse_registry_file(p, kind)
        except RegistryImportError:
            pass

    peak = peak_of(run)
    assert peak <= 64 * size + (16 << 20), f"peak {peak} for {size} bytes"


@fuzz(300)
@given(st.sampled_from(sorted(TEXT_BASES)).flatmap(lambda ext: st.tuples(st.just(ext), mutations(TEXT_BASES[ext]))),
       st.sampled_from(list(ImportKind)))
def test_registry_text_raises_only_import_errors(case: tuple[str, bytes], kind: ImportKind) -> None:
    ext, data = case
    _registry_ok(write("reg" + ext, data), kind)


@st.composite
def mutated_ooxml(draw):  # type: ignore[no-untyped-def]
    ext = draw(st.sampled_from(sorted(OOXML_BASES)))
    base = OOXML_BASES[ext]
    if draw(st.integers(0, 3)) == 0:  # the container itself
        return ext, draw(mutations([base], hot=[(0, 64), (len(base) - 512, len(base))]))
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        parts = [i.filename for i in z.infolist() if i.filename.endswith((".xml", ".rels"))]
        target = draw(st.sampled_from(parts))
        edited = draw(mutations([z.read(target)]))
    return ext, _rezip(base, lambda name, data: edited if name == target else data)


@fuzz(150)
@given(mutated_ooxml())
def test_registry_ooxml_raises_only_import_errors(case: tuple[str, bytes]) -> None:
    ext, data = case
    _registry_ok(write("reg" + ext, data), ImportKind.AUTO)


def test_registry_json_nesting_bomb() -> None:
    p = write("deep.json", json_bomb())
    with pytest.raises(RegistryImportError):
        parse_registry_file(p)


# --- rule packs -------------------------------------------------------------------------------------------

RULE_FILES = [PACKS_DIR / "face_manipulation/faceunity_nama.yaml", *sorted(PACKS_DIR.glob("text_generation/*.yaml"))[:2],
              *sorted(PACKS_DIR.glob("compliance/moderation/*.yaml"))[:1]]
RULE_TEXTS = [p.read_bytes() for p in RULE_FILES]
RULE_DOCS = [yaml.safe_load(t) for t in RULE_TEXTS]
INVENTORY = read_artifact(FIX / "apk/demo_faceapp.apk")
FINDINGS = evaluate(INVENTORY, load_pack())

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 1000), st.floats(allow_nan=False, width=32),
                     st.text(max_size=20), st.sampled_from(["native_lib", "class_prefix", "host", "high", "list",
                                                            "face_manipulation", "moderation", "com.x", "{0}", "{x"]))
YAML_VALUES = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                           max_leaves=12)


@st.composite
def edited_doc(draw, docs: list[Any]):  # type: ignore[no-untyped-def]
    """A real document with 1–4 structural edits: a value replaced, a key dropped or added, at any depth."""
    doc = json.loads(json.dumps(draw(st.sampled_from(docs)), default=str))
    for _ in range(draw(st.integers(1, 4))):
        node = doc
        for _depth in range(draw(st.integers(0, 3))):
            kids = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(node, list) else []
            kids = [(k, v) for k, v in kids if isinstance(v, (dict, list)) and v]
            if not kids:
                break
            node = draw(st.sampled_from(kids))[1]
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node, key=str)))
            op = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
            if op == "replace":
                node[key] = draw(YAML_VALUES)
            elif op == "drop":
                del node[key]
            else:
                node[draw(st.text(max_size=8))] = draw(YAML_VALUES)
        elif isinstance(node, list) and node:
            node[draw(st.integers(0, len(node) - 1))] = draw(YAML_VALUES)
    return yaml.safe_dump(doc, allow_unicode=True).encode("utf-8")


def _pack_ok(data: bytes) -> None:
    p = write("rule.yaml", data)
    try:
        pack = load_pack([p])
    except RulePackError:
        return
    evaluate(INVENTORY, pack)  # what loads must also compile and match


@fuzz(400)
@given(edited_doc(RULE_DOCS))
def test_rule_loader_structural_edits(data: bytes) -> None:
    _pack_ok(data)


@fuzz(300)
@given(mutations(RULE_TEXTS))
def test_rule_loader_text_mutations(data: bytes) -> None:
    _pack_ok(data)


# --- policies ---------------------------------------------------------------------------------------------

POLICY_TEXTS = [(POLICIES_DIR / "default.yaml").read_bytes(), (Path(__file__).parent / "policy/grid.yaml").read_bytes()]
POLICY_DOCS = [yaml.safe_load(POLICY_TEXTS[0])]
_INPUTS = [
    PolicyInput(),
    PolicyInput(scan_errors=2),
    PolicyInput(channel="listed", filing_status="missing", filing_codes=frozenset({"not_displayed"}), declares_aigc=True),
    PolicyInput(channel="bogus", filing_status="valid", declares_aigc=False,
                compliance=tuple(ComplianceItem("Art. 10", d.value, DutyStatus.ABSENT) for d in Duty)),
]


def _policy_ok(data: bytes) -> None:
    p = write("policy.yaml", data)
    try:
        policy = load_policy(p)
    except PolicyError:
        return
    for inp in (*_INPUTS, PolicyInput(findings=FINDINGS, filing_status="missing")):
        decide(inp, policy)  # what loads must decide every input


@fuzz(300)
@given(edited_doc(POLICY_DOCS))
def test_policy_loader_structural_edits(data: bytes) -> None:
    _policy_ok(data)


@fuzz(150)
@given(mutations(POLICY_TEXTS[:1]))
def test_policy_loader_text_mutations(data: bytes) -> None:
    _policy_ok(data)


# --- YAML bombs (deterministic) ---------------------------------------------------------------------------

#: Nine levels of nine aliases each: 9^9 nodes once expanded, a few hundred bytes as text.
ANCHORS = "".join(f"  - &a{i} [{', '.join([f'*a{i - 1}'] * 9) if i else ', '.join(['x'] * 9)}]\n" for i in range(9))


@pytest.mark.parametrize("where", ["name", "vendor", "capability"])
def test_rule_loader_alias_bomb(where: str) -> None:
    """A rule whose ``name``/``vendor``/``capability`` is the bomb: refused at once (str() or repr() of it — for the
    Rule, or for an "unknown capability" message — would never finish)."""
    lines = [ln for ln in RULE_TEXTS[0].decode().splitlines() if not ln.startswith(f"{where}:")]
    text = "\n".join(lines) + f"\nnotes:\n{ANCHORS}{where}: *a8\n"
    t = time.monotonic()
    with pytest.raises(RulePackError, match="YAML nodes"):
        load_pack([write("bomb.yaml", text.encode())])
    assert time.monotonic() - t < 5


def test_policy_loader_alias_bomb_and_nesting() -> None:
    text = "id: bomb\ndescription:\n" + ANCHORS + "decision:\n  - {id: d, default: true, action: list}\n"
    t = time.monotonic()
    with pytest.raises(PolicyError, match="YAML nodes"):
        load_policy(write("bomb_policy.yaml", text.encode()))
    with pytest.raises(PolicyError):
        load_policy(write("deep_policy.yaml", b"[" * 3000 + b"]" * 3000))
    with pytest.raises(RulePackError):
        load_pack([write("deep_rule.yaml", b"[" * 3000 + b"]" * 3000)])
    assert time.monotonic() - t < 10

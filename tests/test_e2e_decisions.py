"""End to end: APK + submission metadata → the expected action through `scan --format json` and `hook` exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from rules.fixtures import build_apk
from rules.loader import default_pack
from synthreview.cli import main

PACK = default_pack()
FIX = Path(__file__).resolve().parent / "fixtures"
EVIDENCE_RULES = [
    "face_manipulation.faceunity_nama",
    "moderation.netease_yidun",
    "explicit_label.ai_generated_notice",
    "implicit_label.tc260_xmp",
    "consent.edited_person_separate_consent",
    "report_entry.cac_12377",
    "real_name.cmcc_auth",
]
FILING = "网信算备440306133199401230043号"  # 逗拍人脸融合算法, 深圳市闪剪智能科技有限公司, 逗拍（APP）


def _spec(rule_ids: list[str], extra_strings: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    spec: dict[str, Any] = {"label": "逗拍"}
    for rid in rule_ids:
        rule = PACK.get(rid)
        assert rule is not None, rid
        for k, v in rule.fixtures["positive"].items():
            if isinstance(v, list):
                spec.setdefault(k, []).extend(v)
            elif isinstance(v, dict):
                spec.setdefault(k, {}).update(v)
            else:
                spec[k] = v
    spec.setdefault("strings", []).extend([FILING, "https://beian.cac.gov.cn/#/index", *extra_strings])
    return spec


META = {
    "app_name": "逗拍",
    "developer": "深圳市闪剪智能科技有限公司",
    "app_id": "com.fixture.app",
    "declares_aigc": True,
    "filings": [FILING],
    "assessments": [{"id": "A-1", "issuer": "全国互联网安全管理服务平台", "date": "2025-05-01", "covers": ["face_manipulation"]}],
    "channel": "submission",
}


def _write(tmp: Path, name: str, spec: dict[str, Any], meta: dict[str, Any]) -> tuple[str, str]:
    apk = tmp / f"{name}.apk"
    apk.write_bytes(build_apk(spec))
    m = tmp / f"{name}.meta.yaml"
    m.write_text(yaml.safe_dump(meta, allow_unicode=True), encoding="utf-8")
    return str(apk), str(m)


CASES = {
    "compliant face app": (EVIDENCE_RULES, {}, "list", 0),
    "no moderation evidence": ([r for r in EVIDENCE_RULES if not r.startswith("moderation")], {}, "warn", 1),
    "no consent notice": ([r for r in EVIDENCE_RULES if not r.startswith("consent")], {}, "needs_review", 3),
    "filing of another company": (EVIDENCE_RULES, {"developer": "北京示例科技有限公司"}, "reject", 4),
    "listed, filing missing": (EVIDENCE_RULES, {"filings": [], "channel": "listed"}, "takedown", 4),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_scan_and_hook_agree(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    rules, meta_over, action, code = CASES[name]
    spec = _spec(rules)
    if name == "listed, filing missing":
        spec["strings"] = [s for s in spec["strings"] if s != FILING]
    apk, meta = _write(tmp_path, "app", spec, {**META, **meta_over})
    assert main(["scan", "--no-db", "--format", "json", "--meta", meta, apk]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["decision"]["action"] == action, report["decision"]
    assert main(["hook", "--no-db", "--meta", meta, apk]) == code
    assert json.loads(capsys.readouterr().out)["decision"]["action"] == action


def test_custom_store_policy_can_suspend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "store.yaml"
    policy.write_text(
        "id: strict-store\ndecision:\n"
        "  - id: any_ds_listed\n    when: {max_confidence: [high], channel: listed}\n"
        "    action: {submission: needs_review, listed: suspend}\n"
        "    reasons: [{code: suspend_pending_review, article: 'Art. 13', zh: 暂停服务待复核, en: suspended pending review}]\n"
        "  - {id: d, default: true, action: list}\n",
        encoding="utf-8",
    )
    apk, meta = _write(tmp_path, "s", _spec(EVIDENCE_RULES), {**META, "channel": "listed"})
    assert main(["hook", "--no-db", "--policy", str(policy), "--meta", meta, apk]) == 4
    r = json.loads(capsys.readouterr().out)
    assert r["decision"]["action"] == "suspend" and r["decision"]["policy"] == "strict-store"


def test_bad_policy_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text("id: x\ndecision: []\n")
    with pytest.raises(SystemExit) as e:
        main(["hook", "--no-db", "--policy", str(policy), str(FIX / "apk/plain_app.apk")])
    assert e.value.code == 2
    assert "policy" in capsys.readouterr().err


@pytest.mark.parametrize("sample", [
    "apkinspector_truncated-cd.apk", "androguard_v1v2v3-lineage-3-signers-invalid-zip.apk",
    "gh_AbdulSammad08_Smart-DoorBell-lfs-pointer.apk",
])
def test_tampered_samples_never_list(samples: Path, sample: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["hook", "--no-db", str(samples / "apk/malformed" / sample)])
    r = json.loads(capsys.readouterr().out)
    assert r["decision"]["action"] == "needs_review" and code == 3
    assert r["errors"] and r["errors"][0]["stage"] in ("zip", "sniff")

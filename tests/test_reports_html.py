"""The HTML review page: structure, self-containment, escaping, and a real headless-Chromium render.

The browser test (issue #6 acceptance 3) skips when no ``chromium`` binary is installed; ``.ci/run`` installs
Debian's. It injects a small checker before the page's Content-Security-Policy takes effect, so the page
itself stays script-free, and reads the checker's verdict back from ``--dump-dom``.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from test_reports_cases import CASES, HOSTILE_NAME, case

from reports.html import render_html


class _Tags(HTMLParser):
    """Every start tag with its attributes, plus the text inside <style>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data


def _parse(page: str) -> _Tags:
    p = _Tags()
    p.feed(page)
    return p


def _by(p: _Tags, **want: str) -> list[dict[str, str | None]]:
    return [a for _, a in p.tags if all(a.get(k) == v for k, v in want.items())]


@pytest.mark.parametrize("name", CASES)
def test_page_structure(name: str) -> None:
    r = case(name)
    p = _parse(render_html([r]))
    assert len(_by(p, id="decision")) == 1
    assert _by(p, id="decision")[0]["data-action"] == r.decision.action.value
    rule_ids = [a["data-rule-id"] for _, a in p.tags if "finding" in (a.get("class") or "").split()]
    assert rule_ids == [f.rule_id for f in r.findings if f.capability not in ("ml_runtime", "biometric_recognition")] \
        + [f.rule_id for f in r.findings if f.capability in ("ml_runtime", "biometric_recognition")]
    for sec in ("findings", "filings", "compliance", "provenance"):
        assert _by(p, id=sec), sec
    assert bool(_by(p, id="errors")) == bool(r.errors)


def test_compliance_section_lists_every_duty() -> None:
    """Golden-ish: the checklist section, one row per duty with its status (issue #10 acceptance 2)."""
    r = case("demo")
    page = render_html([r])
    p = _parse(page)
    rows = [(a["data-duty"], a["data-status"]) for _, a in p.tags if a.get("class") == "duty"]
    assert rows == [(c.duty, c.status.value) for c in r.compliance]
    assert {d for d, _ in rows} == {"moderation", "real_name", "report_entry", "consent", "explicit_label",
                                    "implicit_label", "filing_display"}
    section = page[page.index('id="compliance"'):page.index('id="materials"')]
    for text in ("Compliance checklist", "合规义务核查", "内容审核", "content moderation", "Art. 10",
                 "《互联网信息服务深度合成管理规定》第十条", "无法静态确认 · unknown", "未发现 · absent"):
        assert text in section, text
    plain = render_html([case("plain")])
    assert 'id="compliance"' in plain and 'class="not-applicable"' in plain and "不适用" in plain


def test_decision_banner_shows_both_languages_and_articles() -> None:
    r = case("demo")
    page = render_html([r])
    banner = page[page.index('id="decision"'):page.index("</section>", page.index('id="decision"'))]
    assert "不予上架" in banner and ">reject<" in banner
    for x in r.decision.reasons:
        assert str(escape(x.zh)) in banner and str(escape(x.en)) in banner
        assert x.article in banner
    assert "《互联网信息服务深度合成管理规定》第十三条、第十九条" in banner


def test_filing_checks_and_provenance_are_shown() -> None:
    r = case("listed_mismatch")
    page = render_html([r])
    assert r.filings is not None
    for c in r.filings.checks:
        assert f'data-code="{c.code}"' in page
    assert r.provenance.rules_sha256 in page and r.provenance.registry_snapshot in page
    assert "channel 渠道: listed" in page


def test_page_is_self_contained() -> None:
    page = render_html([case(n) for n in CASES])
    p = _parse(page)
    names = {t for t, _ in p.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "base", "form"}
    for _, attrs in p.tags:
        assert "src" not in attrs
        href = attrs.get("href")
        assert href is None or href.startswith("#"), href
        assert not any(k.startswith("on") for k in attrs)
    assert "url(" not in p.style and "@import" not in p.style
    csp = _by(p, **{"http-equiv": "Content-Security-Policy"})
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")


def test_several_artifacts_have_unique_ids() -> None:
    page = render_html([case(n) for n in CASES])
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    assert "decision" in ids and f"decision-{len(CASES)}" in ids and 'id="summary"' in page


def test_hostile_package_text_is_escaped() -> None:
    page = render_html([case("hostile")])
    assert HOSTILE_NAME not in page
    assert "<script>" not in page
    assert str(escape(HOSTILE_NAME)) in page
    assert "evil &lt;b&gt;app&lt;/b&gt;.apk" in page


# -- headless Chromium -------------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

_CHECKER = """<script>
document.addEventListener('DOMContentLoaded', function () {
  function shown(el) {
    if (!el) { return false; }
    var box = el.getBoundingClientRect();
    if (box.width <= 0 || box.height <= 0) { return false; }
    for (var n = el; n && n.nodeType === 1; n = n.parentElement) {
      var s = window.getComputedStyle(n);
      if (s.display === 'none' || s.visibility !== 'visible' || parseFloat(s.opacity) === 0) { return false; }
    }
    return el.innerText.trim().length > 0;
  }
  var banner = document.getElementById('decision');
  var out = {
    decision: shown(banner),
    decisionText: banner ? banner.innerText : '',
    findings: Array.prototype.map.call(document.querySelectorAll('.finding'), function (f) {
      return {rule: f.getAttribute('data-rule-id'), shown: shown(f), text: f.innerText};
    }),
    compliance: shown(document.getElementById('compliance'))
  };
  var pre = document.createElement('pre');
  pre.id = 'synthreview-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""
_BLOCKED = "<script>document.documentElement.setAttribute('data-csp-bypassed', 'yes');</script>"


def _render_in_chromium(page: str, tmp_path: Path) -> tuple[dict[str, Any], str]:
    """Open the page from a file in headless Chromium and return the checker's verdict and the DOM."""
    head = '<meta charset="utf-8">\n'
    assert head in page
    # The checker goes before the CSP meta (a meta policy governs only what follows it); a second, "hostile"
    # inline script goes into the body, where the page's own policy must stop it.
    page = page.replace(head, head + _CHECKER, 1).replace("</main>", _BLOCKED + "</main>", 1)
    f = tmp_path / "report.html"
    f.write_text(page, encoding="utf-8")
    cmd = [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2000",
           "--dump-dom", f.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    dom = proc.stdout
    m = re.search(r'<pre id="synthreview-check">(.*?)</pre>', dom, re.S)
    assert m, f"checker output missing (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(html.unescape(m.group(1))), dom


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (Debian: apt-get install chromium)")
@pytest.mark.parametrize("names", [("demo",), ("miniprogram_ai", "truncated", "plain")], ids=["demo", "batch"])
def test_chromium_shows_decision_and_every_finding(names: tuple[str, ...], tmp_path: Path) -> None:
    results = [case(n) for n in names]
    verdict, dom = _render_in_chromium(render_html(results), tmp_path)
    first = results[0]
    assert verdict["decision"], "decision banner not visible"
    assert first.decision.action.zh in verdict["decisionText"]
    assert first.decision.action.value in verdict["decisionText"]
    expected = [f.rule_id for r in results for f in r.findings]
    assert sorted(x["rule"] for x in verdict["findings"]) == sorted(expected)
    assert expected, "the case should have findings to look at"
    for x in verdict["findings"]:
        assert x["shown"], f"finding {x['rule']} not visible"
        assert x["rule"] in x["text"]
    assert verdict["compliance"]
    assert 'id="decision"' in dom and 'class="finding' in dom
    assert 'data-csp-bypassed="yes"' not in dom, "the page's Content-Security-Policy did not stop an inline script"

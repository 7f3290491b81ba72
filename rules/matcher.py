"""Match a rule pack against an Inventory: indexed lookups and one Aho-Corasick pass, never regex-per-name.

Class names are sorted in every DexFile, so a package prefix is two binary searches; exact names, libraries, permissions and hosts are dict/set lookups;
substring signals share one Aho-Corasick automaton run over each string table. The compiled index is built
once per pack and reused for every artifact (and every stored inventory in a re-scan).
"""

from __future__ import annotations

import fnmatch
from bisect import bisect_left
import posixpath
import re
from collections import defaultdict
from dataclasses import dataclass, field

import ahocorasick

try:  # compiled one-pass presence test for many literals (scanner/_speedups.c)
    from scanner._speedups import compile_terms as _c_compile_terms
    from scanner._speedups import startswith_any as _c_startswith_any
    from scanner._speedups import terms_present as _c_terms_present
except ImportError:  # pragma: no cover - built by `pip install`; absent only without a C compiler
    _c_compile_terms = None
    _c_terms_present = None
    _c_startswith_any = None

from rules.model import Confidence, Evidence, Finding, Rule, RulePack, SignalKind
from scanner.model import Inventory

Hit = tuple[int, int]  # (rule index, signal index)
_ENTROPY_ENCRYPTED = 7.5


@dataclass
class _Index:
    """Lookup tables for one pack (built once)."""

    exact: dict[SignalKind, dict[str, list[Hit]]] = field(default_factory=lambda: defaultdict(dict))
    prefix: dict[SignalKind, list[tuple[str, Hit]]] = field(default_factory=lambda: defaultdict(list))
    lib_regex: list[tuple[re.Pattern[str], Hit]] = field(default_factory=list)
    glob_basename: dict[str, list[Hit]] = field(default_factory=dict)
    glob_regex: list[tuple[re.Pattern[str], Hit]] = field(default_factory=list)
    host_suffix: list[tuple[str, Hit]] = field(default_factory=list)
    url_ac: ahocorasick.Automaton | None = None
    str_ac: ahocorasick.Automaton | None = None
    # the same string terms for the compiled one-pass presence test (scanner._speedups.terms_present)
    str_terms: tuple[tuple[str, tuple[tuple[bool, tuple[Hit, ...]], ...]], ...] = ()
    str_set: object | None = None
    glob_any: re.Pattern[str] | None = None  # the glob regexes as one alternation: "does any match?"


def _add(table: dict[str, list[Hit]], key: str, hit: Hit) -> None:
    table.setdefault(key, []).append(hit)


def compile_pack(pack: RulePack) -> _Index:
    """Build the lookup tables for a pack."""
    idx = _Index()
    url_terms: dict[str, list[Hit]] = {}
    str_terms: dict[str, list[Hit]] = {}
    for ri, rule in enumerate(pack.rules):
        for si, sig in enumerate(rule.signals):
            hit = (ri, si)
            k, v = sig.kind, sig.value
            if k in (SignalKind.ELF_SYMBOL, SignalKind.COMPONENT, SignalKind.MP_API) and v.endswith("*"):
                idx.prefix[k].append((v[:-1], hit))
            elif k is SignalKind.NATIVE_LIB_REGEX:
                idx.lib_regex.append((re.compile(v), hit))
            elif k is SignalKind.ASSET_GLOB:
                base = v.rsplit("/", 1)[-1]
                if v.startswith("**/") and not any(c in base for c in "*?[") and "/" not in v[3:]:
                    _add(idx.glob_basename, base, hit)
                else:
                    idx.glob_regex.append((re.compile(fnmatch.translate(v.replace("**/", "*"))), hit))
            elif k is SignalKind.HOST and v.startswith("."):
                idx.host_suffix.append((v, hit))
            elif k is SignalKind.URL:
                _add(url_terms, v, hit)
            elif k is SignalKind.STRING_CONTAINS:
                _add(str_terms, v, hit)
            elif k is SignalKind.STRING and "\n" not in v:
                # Exact literals ride the same automaton pass (checked for whole-line matches), which spares
                # building a set of every string of the app.
                _add(str_terms, "\x00" + v, hit)
            else:
                _add(idx.exact[k], v, hit)
    if idx.glob_regex:
        idx.glob_any = re.compile("|".join(f"(?:{rx.pattern})" for rx, _hit in idx.glob_regex))
    if url_terms:
        idx.url_ac = _automaton(url_terms)
    if str_terms:
        idx.str_ac = _automaton(str_terms)
        idx.str_terms = tuple(idx.str_ac.values())
        if _c_compile_terms is not None:
            idx.str_set = _c_compile_terms(tuple(term for term, _groups in idx.str_terms))
    return idx


def _automaton(terms: dict[str, list[Hit]]) -> ahocorasick.Automaton:
    """One automaton for many terms; a key starting with NUL marks an exact (whole-string) literal."""
    a = ahocorasick.Automaton()
    merged: dict[str, list[tuple[bool, tuple[Hit, ...]]]] = {}
    for key, hits in terms.items():
        exact = key.startswith("\x00")
        term = key[1:] if exact else key
        merged.setdefault(term, []).append((exact, tuple(hits)))
    for term, groups in merged.items():
        a.add_word(term, (term, tuple(groups)))
    a.make_automaton()
    return a


_CACHE: dict[str, _Index] = {}


def index_for(pack: RulePack) -> _Index:
    """The compiled index for a pack, cached by the pack's content hash."""
    idx = _CACHE.get(pack.sha256)
    if idx is None:
        idx = _CACHE[pack.sha256] = compile_pack(pack)
    return idx


class _Hits:
    """First evidence per (rule, signal), plus a count of further occurrences."""

    def __init__(self) -> None:
        self.first: dict[Hit, Evidence] = {}
        self.count: dict[Hit, int] = defaultdict(int)

    def add(self, hits: list[Hit] | tuple[Hit, ...], kind: str, locator: str, value: str) -> None:
        for h in hits:
            self.count[h] += 1
            if h not in self.first:
                self.first[h] = Evidence(kind, locator, value)


def collect_hits(inv: Inventory, idx: _Index) -> _Hits:
    """Run every index against the Inventory."""
    out = _Hits()
    ex = idx.exact
    # classes: exact names, and package prefixes walked on dotted boundaries (per package, not per class)
    cls_exact = ex.get(SignalKind.CLASS, {})
    cls_prefix = ex.get(SignalKind.CLASS_PREFIX, {})
    # DexFile.classes is sorted, so each prefix is two binary searches: every class "P.…" lies in [P + ".", P + "/").
    for d in inv.dex:
        classes = d.classes
        n = len(classes)
        for name, hits in cls_exact.items():
            i = bisect_left(classes, name)
            if i < n and classes[i] == name:
                out.add(hits, "class", d.locator, name)
        for prefix, hits in cls_prefix.items():
            lo = bisect_left(classes, prefix + ".")
            if lo < n and classes[lo].startswith(prefix + "."):
                hi = bisect_left(classes, prefix + "/", lo)
                out.add(hits, "class", d.locator, classes[lo])
                for h in hits:
                    out.count[h] += hi - lo - 1
    # strings: exact set intersection, substrings through one automaton pass per table
    s_exact = ex.get(SignalKind.STRING, {})
    tables: list[tuple[str, tuple[str, ...] | list[str]]] = [(d.locator, d.strings) for d in inv.dex]
    tables += [(lib.path, lib.strings) for lib in inv.native_libs if lib.strings]
    tables += [(t.locator, t.strings) for t in inv.resource_strings]
    for loc, strings in tables:
        if s_exact:
            for s in s_exact.keys() & set(strings):
                out.add(s_exact[s], "string", loc, s)
        if idx.str_ac is not None:
            blob = "\n".join(strings)
            present = _c_terms_present(idx.str_set, blob) if idx.str_set is not None else None
            if present is not None:
                # Which terms occur at all, in one compiled pass; only those are checked further. Each
                # (term, exact) adds once per table, as in the automaton loop below (its specification).
                for i in present:
                    term, groups = idx.str_terms[i]
                    for exact, hits in groups:
                        if exact and not _whole_line(blob, term):
                            continue
                        out.add(hits, "string", loc, term)
                continue
            last = len(blob) - 1
            seen: set[tuple[str, bool]] = set()
            for end, (term, groups) in idx.str_ac.iter(blob):
                for exact, hits in groups:
                    if (term, exact) in seen:
                        continue
                    if exact:
                        start = end - len(term) + 1
                        if not ((start == 0 or blob[start - 1] == "\n") and (end == last or blob[end + 1] == "\n")):
                            continue
                    seen.add((term, exact))
                    out.add(hits, "string", loc, term)
    # native libraries and their symbols
    lib_exact = ex.get(SignalKind.NATIVE_LIB, {})
    sym_exact = ex.get(SignalKind.ELF_SYMBOL, {})
    sym_prefix = idx.prefix.get(SignalKind.ELF_SYMBOL, [])
    sym_prefix_t = tuple(p for p, _ in sym_prefix)
    lib_entries = [(lib.path, lib) for lib in inv.native_libs]
    so_names = {e.path for e in inv.entries if e.path.endswith(".so")} - {p for p, _ in lib_entries}
    for path in list(so_names) + [p for p, _ in lib_entries]:
        base = posixpath.basename(path.rsplit("!", 1)[-1])
        if base in lib_exact:
            out.add(lib_exact[base], "native_lib", path, base)
        for rx, hit in idx.lib_regex:
            if rx.fullmatch(base):
                out.add([hit], "native_lib", path, base)
    for path, lib in lib_entries:
        if sym_exact:
            for s in sym_exact.keys() & set(lib.exports):
                out.add(sym_exact[s], "elf_symbol", path, s)
        if sym_prefix_t:
            exports = lib.exports
            chosen = (
                [exports[i] for i in _c_startswith_any(exports, sym_prefix_t)] if _c_startswith_any is not None
                else [s for s in exports if s.startswith(sym_prefix_t)]
            )
            for s in chosen:
                for p, hit in sym_prefix:
                    if s.startswith(p):
                        out.add([hit], "elf_symbol", path, s)
    # entries: asset globs and model formats
    fmt_exact = ex.get(SignalKind.MODEL_FORMAT, {})
    for e in inv.entries:
        inner = e.path.split("!", 1)[1] if "!" in e.path else e.path
        base = posixpath.basename(inner)
        hits = idx.glob_basename.get(base)
        if hits:
            out.add(hits, _asset_kind(e.entropy), e.path, inner)
        if idx.glob_any is not None and idx.glob_any.match(inner):  # most members match no glob at all
            for rx, hit in idx.glob_regex:
                if rx.match(inner):
                    out.add([hit], _asset_kind(e.entropy), e.path, inner)
        if e.format in fmt_exact:
            out.add(fmt_exact[e.format], "model_file", e.path, e.format)
    # manifest
    man = inv.manifest
    if man is not None:
        mloc = inv.artifact.path.rsplit("/", 1)[-1] + "!AndroidManifest.xml"
        for kind, values in (
            (SignalKind.PERMISSION, man.permissions),
            (SignalKind.META_DATA, tuple(m.name for m in man.meta_data)),
        ):
            table = ex.get(kind, {})
            for v in table.keys() & set(values):
                out.add(table[v], kind.value, mloc, v)
        comp_exact = ex.get(SignalKind.COMPONENT, {})
        comp_prefix = idx.prefix.get(SignalKind.COMPONENT, [])
        for c in (*man.activities, *man.services, *man.receivers, *man.providers):
            if c in comp_exact:
                out.add(comp_exact[c], "component", mloc, c)
            for p, hit in comp_prefix:
                if c.startswith(p):
                    out.add([hit], "component", mloc, c)
    # hosts and URLs
    host_exact = ex.get(SignalKind.HOST, {})
    for h in inv.strings.hosts:
        if h.value in host_exact:
            out.add(host_exact[h.value], "host", h.locator, h.value)
        for suf, hit in idx.host_suffix:
            if h.value.endswith(suf) or h.value == suf[1:]:
                out.add([hit], "host", h.locator, h.value)
    if idx.url_ac is not None:
        for u in inv.strings.urls:
            for _end, (_term, groups) in idx.url_ac.iter(u.value):
                for _exact, hits in groups:
                    out.add(hits, "url", u.locator, u.value)
    # mini-programs
    mp = inv.miniprogram
    if mp is not None:
        plug = ex.get(SignalKind.MP_PLUGIN, {})
        for p in mp.plugins:
            if p.provider in plug:
                out.add(plug[p.provider], "mp_plugin", p.locator, f"{p.alias}:{p.provider}")
        api_exact = ex.get(SignalKind.MP_API, {})
        api_prefix = idx.prefix.get(SignalKind.MP_API, [])
        for a in mp.apis:
            if a.value in api_exact:
                out.add(api_exact[a.value], "mp_api", a.locator, a.value)
            for p, hit in api_prefix:
                if a.value.startswith(p):
                    out.add([hit], "mp_api", a.locator, a.value)
        js = ex.get(SignalKind.JS_LIBRARY, {})
        for j in mp.js_libraries:
            if j.value in js:
                out.add(js[j.value], "js_library", j.locator, j.value)
        for h in mp.hosts:
            if h.value in host_exact:
                out.add(host_exact[h.value], "host", h.locator, h.value)
            for suf, hit in idx.host_suffix:
                if h.value.endswith(suf) or h.value == suf[1:]:
                    out.add([hit], "host", h.locator, h.value)
    return out


def _whole_line(blob: str, term: str) -> bool:
    """Whether ``term`` occurs in ``blob`` as a whole newline-separated line (an exact string literal)."""
    n = len(term)
    pos = blob.find(term)
    while pos >= 0:
        end = pos + n
        if (pos == 0 or blob[pos - 1] == "\n") and (end == len(blob) or blob[end] == "\n"):
            return True
        pos = blob.find(term, pos + 1)
    return False


def _asset_kind(ent: float | None) -> str:
    return "encrypted_model" if ent is not None and ent > _ENTROPY_ENCRYPTED else "asset"


def evaluate(inv: Inventory, pack: RulePack) -> tuple[Finding, ...]:
    """All findings of ``pack`` on ``inv`` (pure: same inputs, same findings, in rule-id order)."""
    idx = index_for(pack)
    hits = collect_hits(inv, idx)
    per_rule: dict[int, list[int]] = defaultdict(list)
    for ri, si in hits.first:
        per_rule[ri].append(si)
    findings: dict[str, Finding] = {}
    for ri in sorted(per_rule):
        rule = pack.rules[ri]
        f = _score(rule, ri, sorted(per_rule[ri]), hits)
        if f is not None:
            findings[rule.id] = f
    out = []
    for rid, f in findings.items():
        rule = pack.get(rid)
        assert rule is not None
        others = [o for o in rule.ambiguous_with if o in findings]
        if others:
            conf = Confidence.LOW if f.confidence is Confidence.LOW else Confidence.MEDIUM
            note = rule.ambiguous_note or f"also matches {', '.join(others)}: the capability may belong to that SDK"
            f = Finding(**{**f.__dict__, "confidence": conf, "ambiguous": True, "notes": (*f.notes, note)})
        out.append(f)
    return tuple(out)


def _score(rule: Rule, ri: int, sig_idx: list[int], hits: _Hits) -> Finding | None:
    primary = [si for si in sig_idx if not rule.signals[si].supporting]
    if not primary:
        return None
    fired = sig_idx
    if rule.require_any and not any(rule.signals[si].kind in rule.require_any for si in primary):
        return None
    score = min(100, sum(rule.signals[si].weight for si in fired))
    th = rule.thresholds
    if score >= th.high:
        conf = Confidence.HIGH
    elif score >= th.medium:
        conf = Confidence.MEDIUM
    elif score >= th.low:
        conf = Confidence.LOW
    else:
        return None
    evidence = tuple(dict.fromkeys(hits.first[(ri, si)] for si in fired))  # two signals, one place: shown once
    notes = []
    for si in fired:
        n = hits.count[(ri, si)]
        if n > 1:
            sig = rule.signals[si]
            notes.append(f"{sig.kind.value} {sig.value!r}: {n} occurrences")
    if any(e.kind == "encrypted_model" for e in evidence):
        notes.append("high-entropy model files beside the SDK: encrypted models (ModelXRay: entropy > 7.5)")
    return Finding(
        rule_id=rule.id,
        capability=rule.capability.value if rule.capability else (rule.duty.value if rule.duty else ""),
        sdk=rule.name,
        vendor=rule.vendor,
        confidence=conf,
        score=score,
        evidence=evidence,
        notes=tuple(notes),
        duty=rule.duty.value if rule.duty else None,
    )

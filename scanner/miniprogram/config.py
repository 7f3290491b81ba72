"""Config files of each platform → identity, pages, permissions, plugins and declared features.

Configs are developer- (or attacker-) controlled JSON/XML: every field is type-checked before use, a bad
file becomes a :class:`ConfigError` (recorded, reading goes on), and XML goes through ``defusedxml``.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from scanner.miniprogram.collect import MiniAccumulator
from scanner.miniprogram.errors import ConfigError

_MAX_LIST = 10_000


def load_json(data: bytes, locator: str) -> Any:
    """Parse JSON tolerating a BOM; anything unparsable (or absurdly nested) raises :class:`ConfigError`."""
    text = data.decode("utf-8-sig", "replace")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"invalid JSON: {str(exc)[:200]}", locator, "config") from None


def _obj(cfg: Any, locator: str) -> dict[str, Any]:
    if not isinstance(cfg, dict):
        raise ConfigError(f"expected a JSON object at the top, found {type(cfg).__name__}", locator, "config")
    return cfg


def _str(v: Any) -> str | None:
    if isinstance(v, str) and v.strip():
        return v.strip()
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    return None


def _strs(v: Any) -> list[str]:
    return [s for s in (v if isinstance(v, list) else [])[:_MAX_LIST] if isinstance(s, str) and s]


def _page(p: str) -> str:
    p = p.strip().lstrip("/")
    return p[:-5] if p.endswith(".html") else p


# -- WeChat / Douyin / Alipay / QQ style app configs ----------------------------------------------------


def app_config(acc: MiniAccumulator, cfg: Any, loc: str) -> None:
    """``app-config.json`` (compiled WeChat/Douyin), ``app.json`` / ``game.json`` (source)."""
    c = _obj(cfg, loc)
    src = posixpath.basename(loc.rsplit("!", 1)[-1])
    for key in ("appid", "appId"):
        acc.set_appid(_str(c.get(key)), f"{key} in {src}", loc)
    acc.set_appid(_str(c.get("extAppid")), f"extAppid in {src}", loc)
    ext = c.get("ext")
    if isinstance(ext, dict):
        acc.set_appid(_str(ext.get("extAppid")), f"ext.extAppid in {src}", loc)
    acc.name = acc.name or _str(c.get("name")) or _str(c.get("appName"))
    acc.pages.extend(_page(p) for p in _strs(c.get("pages")))
    entry = _str(c.get("entryPagePath"))
    if entry and _page(entry) not in acc.pages:
        acc.pages.insert(0, _page(entry))
    subs = c.get("subPackages") or c.get("subpackages") or []
    for sp in subs[:_MAX_LIST] if isinstance(subs, list) else []:
        if not isinstance(sp, dict):
            continue
        root = (_str(sp.get("root")) or "").strip("/")
        for p in _strs(sp.get("pages")):
            p = _page(p)
            acc.pages.append(p if not root or p.startswith(root + "/") else f"{root}/{p}")
        plugins(acc, sp.get("plugins"), loc)
    plugins(acc, c.get("plugins"), loc)
    plugins(acc, c.get("ttPlugins"), loc)
    perm = c.get("permission")
    if isinstance(perm, dict):
        acc.permissions.extend(k for k in list(perm)[:_MAX_LIST] if isinstance(k, str))
    acc.permissions.extend(_strs(c.get("requiredPrivateInfos")))


def plugins(acc: MiniAccumulator, obj: Any, loc: str) -> None:
    """A ``plugins`` map: ``{alias: {"version": …, "provider": appid}}`` (also nested ``dependencies``)."""
    if not isinstance(obj, dict):
        return
    deps = obj.get("dependencies")
    if isinstance(deps, dict):
        plugins(acc, deps, loc)
    for alias, v in list(obj.items())[:_MAX_LIST]:
        if isinstance(v, dict) and ("provider" in v or "version" in v) and isinstance(alias, str):
            acc.add_plugin(alias, _str(v.get("provider")) or "", _str(v.get("version")), loc)


def project_config(acc: MiniAccumulator, cfg: Any, loc: str) -> dict[str, Any]:
    """``project.config.json`` of a source project: appid, project name, code roots."""
    c = _obj(cfg, loc)
    acc.set_appid(_str(c.get("appid")), "project.config.json", loc)
    acc.name = acc.name or _str(c.get("projectname"))
    return c


def package_json(acc: MiniAccumulator, cfg: Any, loc: str) -> None:
    """npm dependencies (e.g. of a cloud function: ``openai``, ``tencentcloud-sdk-nodejs``) → ``npm:<name>``."""
    c = _obj(cfg, loc)
    deps = c.get("dependencies")  # devDependencies are build tools, not shipped
    if isinstance(deps, dict):
        for name in list(deps)[:_MAX_LIST]:
            if isinstance(name, str) and name:
                acc.add_library(f"npm:{name}", loc)


# -- Quick App ----------------------------------------------------------------------------------------------


def quickapp_manifest(acc: MiniAccumulator, cfg: Any, loc: str) -> None:
    """Quick App ``manifest.json``: package, name, version, ``features`` (platform APIs), router pages."""
    c = _obj(cfg, loc)
    acc.set_appid(_str(c.get("package")), "manifest.json package", loc)
    acc.name = acc.name or _str(c.get("name"))
    acc.version = acc.version or _str(c.get("versionName"))
    acc.version_code = acc.version_code or _str(c.get("versionCode"))
    feats = c.get("features")
    for f in feats[:_MAX_LIST] if isinstance(feats, list) else []:
        if isinstance(f, dict) and _str(f.get("name")):
            acc.add_api(_str(f.get("name")) or "", loc)
    router = c.get("router")
    if isinstance(router, dict):
        entry = _str(router.get("entry"))
        if entry:
            acc.pages.append(entry)
        pages = router.get("pages")
        if isinstance(pages, dict):
            acc.pages.extend(k for k in list(pages)[:_MAX_LIST] if isinstance(k, str))


# -- HarmonyOS -------------------------------------------------------------------------------------------


def hap_module(acc: MiniAccumulator, cfg: Any, loc: str) -> str | None:
    """``module.json`` (Stage) or ``config.json`` (FA); returns the pages profile name, if any."""
    c = _obj(cfg, loc)
    app = c.get("app") if isinstance(c.get("app"), dict) else {}
    mod = c.get("module") if isinstance(c.get("module"), dict) else {}
    acc.set_appid(_str(app.get("bundleName")), "bundleName", loc)
    label = _str(app.get("label"))
    if label and not label.startswith("$"):
        acc.name = acc.name or label
    version = app.get("version") if isinstance(app.get("version"), dict) else {}
    acc.version = acc.version or _str(app.get("versionName")) or _str(version.get("name"))
    acc.version_code = acc.version_code or _str(app.get("versionCode")) or _str(version.get("code"))
    for key in ("requestPermissions", "reqPermissions"):
        perms = mod.get(key)
        for p in perms[:_MAX_LIST] if isinstance(perms, list) else []:
            if isinstance(p, dict) and _str(p.get("name")):
                acc.permissions.append(_str(p.get("name")) or "")
    js = mod.get("js")
    for j in js[:_MAX_LIST] if isinstance(js, list) else []:
        if isinstance(j, dict):
            acc.pages.extend(_strs(j.get("pages")))
    pages = _str(mod.get("pages"))
    return pages.split(":", 1)[1] if pages and pages.startswith("$profile:") else None


def hap_pages(acc: MiniAccumulator, cfg: Any, loc: str) -> None:
    """A pages profile (``resources/base/profile/main_pages.json``): ``{"src": [...]}``."""
    acc.pages.extend(_strs(_obj(cfg, loc).get("src")))


def pack_info(acc: MiniAccumulator, cfg: Any, loc: str) -> None:
    """``pack.info``: bundle name and version (fallback when module.json lacks them)."""
    c = _obj(cfg, loc)
    summary = c.get("summary") if isinstance(c.get("summary"), dict) else {}
    app = summary.get("app") if isinstance(summary.get("app"), dict) else {}
    acc.set_appid(_str(app.get("bundleName")), "pack.info bundleName", loc)
    version = app.get("version") if isinstance(app.get("version"), dict) else {}
    acc.version = acc.version or _str(version.get("name"))
    acc.version_code = acc.version_code or _str(version.get("code"))


# -- Alipay / mPaaS Nebula -------------------------------------------------------------------------------


def nebula_manifest(acc: MiniAccumulator, data: bytes, loc: str) -> str | None:
    """``Manifest.xml`` (``<package><uid/><name/><version/></package>``); returns the uid."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(data)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise ConfigError(f"unreadable Manifest.xml: {type(exc).__name__}: {str(exc)[:200]}", loc, "config") from None

    def text(tag: str) -> str | None:
        el = root.find(tag)
        return _str(el.text) if el is not None else None

    uid = text("uid")
    acc.set_appid(uid, "Manifest.xml uid", loc)
    acc.name = acc.name or text("name")
    acc.version = acc.version or text("version")
    return uid


def nebula_hpmfile(acc: MiniAccumulator, cfg: Any, loc: str) -> None:
    """``hpmfile.json`` inside the tar: appid, name, version, launch URL."""
    c = _obj(cfg, loc)
    acc.set_appid(_str(c.get("appid")), "hpmfile.json", loc)
    acc.name = acc.name or _str(c.get("name"))
    acc.version = acc.version or _str(c.get("version"))
    lp = c.get("launchParams")
    if isinstance(lp, dict) and _str(lp.get("url")):
        acc.pages.append(_page(_str(lp.get("url")) or ""))

"""The page engine: every HTML page of the gateway is rendered here, from ``templates/``.

A page is a ``string.Template`` file in ``templates/`` (loaded once, then cached). ``render``
fills it and answers it with the headers every page carries:

- values are HTML-escaped unless wrapped in ``Markup`` (HTML the caller built, its own values
  escaped); ``json_for_html`` gives JSON for a ``<script type="application/json">`` block;
- ``$lang`` is the page's language (``zh-CN`` or ``en``, from ``i18n.pick_lang``) unless given;
- ``Cache-Control: no-store``, ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
  ``Referrer-Policy: no-referrer`` (a page may name another policy);
- a strict Content-Security-Policy: ``default-src 'none'; img-src 'self' data:; base-uri
  'none'; frame-ancestors 'none'`` plus the page's own directives (its script, style, frame
  and connect sources); a page adds directives, it cannot loosen these four.

Static assets (stylesheets and scripts) live beside the templates; those in ``ASSETS`` are
served at ``ASSET_PATH`` (by the scan room) with a content hash in their URL (``asset_url``).
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from aiohttp import web

from gateway.server.pages.i18n import pick_lang

__all__ = [
    "ASSETS",
    "ASSET_PATH",
    "TEMPLATES",
    "Asset",
    "Markup",
    "asset",
    "asset_url",
    "content_security_policy",
    "escape",
    "json_for_html",
    "lang_tag",
    "render",
    "script",
]

TEMPLATES = Path(__file__).resolve().parent / "templates"
ASSET_PATH = "/auth/login/assets/"
ASSETS = {  # served at ASSET_PATH: name -> content type
    "scan.css": "text/css",
    "scan-login.js": "application/javascript",
    "scan-confirm.js": "application/javascript",
    "admin.css": "text/css",  # the account and admin pages
    "admin.js": "application/javascript",
}
BASE_CSP = {
    "default-src": "'none'",
    "img-src": "'self' data:",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
}
_CSP_ORDER = ("default-src", "script-src", "frame-src", "style-src", "img-src", "connect-src",
              "form-action", "frame-ancestors", "base-uri")  # fmt: skip


class Markup(str):
    """Trusted HTML: ``render`` inserts it as is (every value inside it already escaped)."""

    __slots__ = ()


def escape(value: object) -> Markup:
    """``value`` as text safe in HTML content and quoted attributes (``Markup`` passes)."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value)))


def json_for_html(value: Any) -> Markup:
    """JSON safe inside an HTML element: no ``<``, ``>`` or ``&`` can end the block."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def lang_tag(lang: str) -> str:
    """The ``<html lang>`` of an ``i18n`` language."""
    return "zh-CN" if lang == "zh" else "en"


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    version: str  # a short content hash: the asset's cache-busting version
    content_type: str


@cache
def _load_asset(name: str, content_type: str) -> Asset:
    body = (TEMPLATES / name).read_bytes()
    return Asset(body, hashlib.sha256(body).hexdigest()[:12], content_type)


def asset(name: str) -> Asset | None:
    """The asset served at ``ASSET_PATH + name``; None for any other name."""
    content_type = ASSETS.get(name)
    return None if content_type is None else _load_asset(name, content_type)


def script(name: str) -> Asset:
    """A script beside the templates that a route of its own serves (not under ASSET_PATH)."""
    return _load_asset(name, "application/javascript")


def asset_url(name: str) -> str:
    found = asset(name)
    if found is None:
        raise KeyError(f"{name} is not served at {ASSET_PATH}")
    return f"{ASSET_PATH}{name}?v={found.version}"


def content_security_policy(extra: Mapping[str, str] | None = None) -> str:
    """``BASE_CSP`` plus a page's own directives (which may not redefine the base ones)."""
    extra = extra or {}
    clash = BASE_CSP.keys() & extra.keys()
    if clash:
        raise ValueError(f"a page cannot redefine {sorted(clash)} of the base policy")
    policy = {**BASE_CSP, **extra}
    known = [name for name in _CSP_ORDER if name in policy]
    names = known + sorted(policy.keys() - set(known))
    return "; ".join(f"{name} {policy[name]}" for name in names)


def render(
    request: web.BaseRequest,
    template: str,
    *,
    status: int = 200,
    csp: Mapping[str, str] | None = None,
    referrer: str = "no-referrer",
    **values: object,
) -> web.Response:
    """The page ``templates/<template>`` filled with ``values`` (escaped unless ``Markup``;
    ``lang`` defaults to the request's language), with every page's headers (module doc)."""
    filled = {name: escape(value) for name, value in values.items()}
    filled.setdefault("lang", escape(lang_tag(pick_lang(request))))
    return web.Response(
        text=_template(template).substitute(filled),
        status=status,
        content_type="text/html",
        headers={
            "Content-Security-Policy": content_security_policy(csp),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": referrer,
        },
    )

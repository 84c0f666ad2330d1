"""The scan-login pages: the PC login page, the phone's confirm page and its message pages.

``GET /auth/login?return_to=...`` serves the login page (vanilla JS in ``templates/``, no build
step). ``return_to`` is validated with the same rules as flow A (``safe_return_to``) and reaches
the page only inside a JSON data block with ``<``, ``>`` and ``&`` escaped; the page's script
reads it with ``JSON.parse``. Static assets are served at ``/auth/login/assets/<name>`` with a
content hash in their URL, so they can be cached for a day.

Every page carries a strict Content-Security-Policy: scripts and styles from this origin only
(no inline script at all), connections to this origin (``ws:``/``wss:`` included), forms post
to this origin, and no framing (the confirm page must not be click-jacked).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote

from aiohttp import web

from gateway.config import Config
from gateway.errors import NotFound
from gateway.login.returnto import safe_return_to
from gateway.login.scan_ticket import Ticket
from gateway.server.keys import CONFIG
from gateway.server.pages.i18n import STATE_TEXT, TEXT, pick_lang
from gateway.server.scan.images import miniprogram_app

__all__ = [
    "asset_url",
    "confirm_page",
    "json_for_html",
    "login_page",
    "message_page",
    "page_headers",
    "setup_routes",
]

PAGES = Path(__file__).resolve().parent / "templates"
ASSETS = {
    "scan.css": "text/css",
    "scan-login.js": "application/javascript",
    "scan-confirm.js": "application/javascript",
}
ASSET_PATH = "/auth/login/assets/"
_SANE_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_TRANSPORTS = ("ws", "sse", "poll")


@cache
def _template(name: str) -> Template:
    return Template((PAGES / name).read_text(encoding="utf-8"))


@cache
def _asset(name: str) -> tuple[bytes, str]:
    """The asset's bytes and a short content hash (its cache-busting version)."""
    body = (PAGES / name).read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:12]


def asset_url(name: str) -> str:
    return f"{ASSET_PATH}{name}?v={_asset(name)[1]}"


def page_headers(request: web.BaseRequest) -> dict[str, str]:
    """Security and caching headers of every scan-login page (see module doc)."""
    connect = "'self'"
    host = request.host
    if _SANE_HOST.match(host):
        connect += f" ws://{host} wss://{host}"
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }


def _html(request: web.BaseRequest, text: str, status: int = 200) -> web.Response:
    return web.Response(
        text=text, status=status, content_type="text/html", headers=page_headers(request)
    )


def json_for_html(value: Any) -> str:
    """JSON safe inside an HTML element: no ``<``, ``>`` or ``&`` can end the block."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# -- the login page -----------------------------------------------------------------------


def _alternatives(config: Config, lang: str, return_to: str) -> str:
    t = TEXT[lang]
    links = []
    if config.app_named("website", config.login.web_app) is not None:
        href = f"/auth/wechat/web/login?return_to={quote(return_to, safe='')}"
        links.append(f'<a id="web-login" href="{html.escape(href)}">{t["web_login"]}</a>')
    if miniprogram_app(config) is not None:
        links.append(f'<a id="wxacode-toggle" href="#" hidden>{t["show_wxacode"]}</a>')
    if config.dev:
        links.append(f'<a id="dev-phone" href="#" target="_blank" rel="noopener">'
                     f'{t["dev_phone"]}</a>')  # fmt: skip
    return "\n    ".join(links)


async def login_page(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    lang = pick_lang(request)
    login = config.login
    return_to = safe_return_to(
        request.query.get("return_to"), login.allowed_return_origins, login.default_return_to
    )
    transport = request.query.get("transport")
    data = {
        "lang": lang,
        "return_to": return_to,
        "dev": config.dev,
        "transport": transport if transport in _TRANSPORTS else None,
        "messages": STATE_TEXT[lang],
    }
    t = TEXT[lang]
    page = _template("scan-login.html").substitute(
        lang="zh-CN" if lang == "zh" else "en", title=t["title"], heading=t["heading"],
        lead=t["lead"], qr_alt=t["qr_alt"], refresh=t["refresh"], loading=t["loading"],
        alternatives=_alternatives(config, lang, return_to), config_json=json_for_html(data),
        css_url=asset_url("scan.css"), js_url=asset_url("scan-login.js"),
    )  # fmt: skip
    return _html(request, page)


# -- phone pages --------------------------------------------------------------------------


def confirm_page(request: web.BaseRequest, ticket: Ticket, csrf: str) -> web.Response:
    """ "Log in on the computer at <IP, browser, time>? Confirm / Cancel" (CSRF-protected)."""
    lang = pick_lang(request)
    t = TEXT[lang]
    pc = ticket.pc_info()
    when = datetime.fromtimestamp(pc["created_at"], UTC)
    esc = html.escape
    page = _template("scan-confirm.html").substitute(
        lang="zh-CN" if lang == "zh" else "en", title=t["confirm_title"],
        heading=t["confirm_heading"], question=t["confirm_question"], ip_label=t["ip"],
        ip=esc(pc["ip"]), browser_label=t["browser"], browser=esc(pc["browser"]),
        time_label=t["time"], time_iso=when.isoformat(), time_text=when.strftime("%H:%M:%S UTC"),
        warning=t["warning"], csrf=esc(csrf), confirm_label=t["confirm"], deny_label=t["deny"],
        confirm_action=esc(f"/auth/qr/{ticket.id}/confirm"),
        deny_action=esc(f"/auth/qr/{ticket.id}/deny"),
        css_url=asset_url("scan.css"), js_url=asset_url("scan-confirm.js"),
    )  # fmt: skip
    return _html(request, page)


def message_page(request: web.BaseRequest, key: str, status: int = 200) -> web.Response:
    """A one-message phone page; ``key`` names a ``<key>_title``/``<key>_text`` pair."""
    t = TEXT[pick_lang(request)]
    kind = "ok" if key == "done" else "denied" if key == "denied" else "error"
    page = _template("scan-message.html").substitute(
        lang="zh-CN" if pick_lang(request) == "zh" else "en", title=t[f"{key}_title"],
        text=t[f"{key}_text"], kind=kind, css_url=asset_url("scan.css"),
    )  # fmt: skip
    return _html(request, page, status)


# -- assets -------------------------------------------------------------------------------


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise NotFound()
    body, version = _asset(name)
    etag = f'"{version}"'
    headers = {"Cache-Control": "public, max-age=86400", "ETag": etag,
               "X-Content-Type-Options": "nosniff"}  # fmt: skip
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type=ASSETS[name], charset="utf-8", headers=headers)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/auth/login", login_page)
    app.router.add_get(ASSET_PATH + "{name}", asset)

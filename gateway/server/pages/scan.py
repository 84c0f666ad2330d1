"""The scan-login pages: the PC login page, the phone's confirm page and its message pages.

The login page runs vanilla JS from ``templates/`` (no build step). ``return_to`` (already
validated by the caller) reaches it only inside a JSON data block with ``<``, ``>`` and ``&``
escaped; the page's script reads it with ``JSON.parse``.

Beyond the engine's base policy, these pages allow scripts and styles from this origin only
(no inline script at all), connections to this origin (``ws:``/``wss:`` included) and forms
posting to this origin; like every page they cannot be framed (the confirm page must not be
click-jacked).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote

from aiohttp import web

from gateway.login import Ticket
from gateway.server.pages.engine import Markup, asset_url, escape, json_for_html, render
from gateway.server.pages.i18n import STATE_TEXT, TEXT, pick_lang

__all__ = ["confirm_page", "login_page", "message_page"]

_SANE_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def _csp(request: web.BaseRequest) -> dict[str, str]:
    """The scan pages' directives beyond the engine's base policy (see module doc)."""
    connect = "'self'"
    host = request.host
    if _SANE_HOST.match(host):
        connect += f" ws://{host} wss://{host}"
    return {
        "script-src": "'self'",
        "style-src": "'self'",
        "connect-src": connect,
        "form-action": "'self'",
    }


# -- the login page -----------------------------------------------------------------------


def _alternatives(
    lang: str, return_to: str, *, web_login: bool, wxacode: bool, dev: bool, follow: bool
) -> Markup:
    t = TEXT[lang]
    links = []
    if web_login:
        href = f"/auth/wechat/web/login?return_to={quote(return_to, safe='')}"
        links.append(f'<a id="web-login" href="{escape(href)}">{escape(t["web_login"])}</a>')
    if wxacode:
        links.append(f'<a id="wxacode-toggle" href="#" hidden>{escape(t["show_wxacode"])}</a>')
    if follow:  # flow E: beside the other ways, never the only one
        links.append(f'<a id="follow-toggle" href="#">{escape(t["follow_login"])}</a>')
    if dev:
        links.append(f'<a id="dev-phone" href="#" target="_blank" rel="noopener">'
                     f'{escape(t["dev_phone"])}</a>')  # fmt: skip
    return Markup("\n    ".join(links))


def login_page(
    request: web.BaseRequest,
    *,
    return_to: str,
    transport: str | None,
    dev: bool,
    web_login: bool,
    wxacode: bool,
    follow: bool = False,
    flow: str = "scan",
) -> web.Response:
    """The PC's login page; ``web_login``/``wxacode``/``follow``/``dev`` show the
    alternatives' links (flow A, the mini-program code, follow-the-account login (flow E),
    the simulated phone); ``flow`` is the QR shown first (``scan`` or ``follow``)."""
    lang = pick_lang(request)
    data = {
        "lang": lang,
        "return_to": return_to,
        "dev": dev,
        "transport": transport,
        "flow": flow if follow else "scan",
        "messages": STATE_TEXT[lang],
    }
    t = TEXT[lang]
    alternatives = _alternatives(
        lang, return_to, web_login=web_login, wxacode=wxacode, dev=dev, follow=follow
    )
    return render(
        request, "scan-login.html", csp=_csp(request),
        title=t["title"], heading=t["heading"], lead=t["lead"], qr_alt=t["qr_alt"],
        refresh=t["refresh"], loading=t["loading"], alternatives=alternatives,
        config_json=json_for_html(data),
        css_url=asset_url("scan.css"), js_url=asset_url("scan-login.js"),
    )  # fmt: skip


# -- phone pages --------------------------------------------------------------------------


def confirm_page(request: web.BaseRequest, ticket: Ticket, csrf: str) -> web.Response:
    """ "Log in on the computer at <IP, browser, time>? Confirm / Cancel" (CSRF-protected)."""
    t = TEXT[pick_lang(request)]
    pc = ticket.pc_info()
    when = datetime.fromtimestamp(pc["created_at"], UTC)
    return render(
        request, "scan-confirm.html", csp=_csp(request),
        title=t["confirm_title"], heading=t["confirm_heading"],
        question=t["confirm_question"], ip_label=t["ip"], ip=pc["ip"],
        browser_label=t["browser"], browser=pc["browser"], time_label=t["time"],
        time_iso=when.isoformat(), time_text=when.strftime("%H:%M:%S UTC"),
        warning=t["warning"], csrf=csrf, confirm_label=t["confirm"], deny_label=t["deny"],
        confirm_action=f"/auth/qr/{ticket.id}/confirm", deny_action=f"/auth/qr/{ticket.id}/deny",
        css_url=asset_url("scan.css"), js_url=asset_url("scan-confirm.js"),
    )  # fmt: skip


def message_page(request: web.BaseRequest, key: str, status: int = 200) -> web.Response:
    """A one-message phone page; ``key`` names a ``<key>_title``/``<key>_text`` pair."""
    t = TEXT[pick_lang(request)]
    kind = "ok" if key == "done" else "denied" if key == "denied" else "error"
    return render(
        request, "scan-message.html", status=status, csp=_csp(request),
        title=t[f"{key}_title"], text=t[f"{key}_text"], kind=kind, css_url=asset_url("scan.css"),
    )  # fmt: skip

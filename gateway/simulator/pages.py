"""Browser-facing simulated pages: the consent page (a "simulated phone"), wxLogin.js, avatars.

``/connect/qrconnect`` (reference §2.1, also the wxLogin.js iframe with ``login_type=jssdk``,
§2.2) and ``/connect/oauth2/authorize`` (§2.3) show a page with a user-name field and Allow /
Deny buttons. Automation hook: ``sim_user=<name>&sim_action=allow|deny`` on the same URL decides
at once. Denial follows either variant of §2.1/§7: a redirect carrying only ``state``
(``sim_deny=redirect``) or no redirect at all, just a page (``sim_deny=page``); the default is
``SimOptions.deny_variant``. Misconfigured requests get WeChat's error page, never a redirect.
``snsapi_base`` is silent (§2.3): with a remembered user (cookie) it redirects at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from html import escape
from urllib.parse import urlencode

from aiohttp import web

from gateway.simulator.api import base_url
from gateway.simulator.core import Simulator
from gateway.simulator.images import encode_png, upscale
from gateway.simulator.oauth import PageError
from gateway.simulator.templates import CONSENT_PAGE, MESSAGE_PAGE, WXLOGIN_JS
from gateway.wechat import WXLOGIN_SCRIPT_PATH

__all__ = ["add_page_routes"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_FORWARDED = (
    "appid", "redirect_uri", "response_type", "scope", "state", "forcePopup", "login_type",
    "self_redirect", "flow",
)  # fmt: skip
_COOKIE = "sim_user"


def add_page_routes(app: web.Application, sim: Simulator) -> None:
    """Register the browser-facing pages on ``app``."""
    app.router.add_get("/connect/qrconnect", _page(sim, "qrconnect"))
    app.router.add_get("/connect/oauth2/authorize", _page(sim, "authorize"))
    app.router.add_post("/connect/confirm", _confirm(sim))
    app.router.add_get(WXLOGIN_SCRIPT_PATH, _wxlogin_js)
    app.router.add_get("/sim/avatar/{id}/{size}", _avatar)


def _check(sim: Simulator, flow: str, params: Mapping[str, str]) -> str:
    """The scope the page asks for; PageError when WeChat would refuse to show it."""
    if flow == "qrconnect":
        sim.oauth.check_qrconnect(dict(params))
        return "snsapi_login"
    sim.oauth.check_authorize(dict(params))
    return params["scope"]


def _page(sim: Simulator, flow: str) -> Handler:
    route = "/connect/qrconnect" if flow == "qrconnect" else "/connect/oauth2/authorize"

    async def handler(request: web.Request) -> web.StreamResponse:
        params = dict(request.query) | {"flow": flow}
        try:
            scope = _check(sim, flow, params)
        except PageError as error:
            return _error_page(error)
        user, action = params.get("sim_user", ""), params.get("sim_action", "")
        if user and action:
            return _decide(sim, params, scope, user, action, params.get("sim_deny", ""))
        remembered = request.cookies.get(_COOKIE, "")
        if scope == "snsapi_base" and remembered:
            return _decide(sim, params, scope, remembered, "allow", "")
        base_path = base_url(sim, request, route)
        return _consent_page(params, scope, remembered or "alice", base_path)

    return handler


def _confirm(sim: Simulator) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        params = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        flow = "qrconnect" if params.get("flow") == "qrconnect" else "authorize"
        try:
            scope = _check(sim, flow, params)
        except PageError as error:
            return _error_page(error)
        user = params.get("sim_user", "").strip() or "alice"
        action = params.get("sim_action", "deny")
        deny = "page" if action == "deny_page" else "redirect"
        return _decide(sim, params, scope, user, action, deny)

    return handler


def _decide(
    sim: Simulator, params: Mapping[str, str], scope: str, user: str, action: str, deny: str
) -> web.StreamResponse:
    state = params.get("state")
    pairs: dict[str, str] = {}
    if action == "allow":
        force = params.get("forcePopup") == "true"
        pairs["code"] = sim.oauth.authorize(params["appid"], user, scope, force_popup=force)
    elif (deny or sim.options.deny_variant) == "page" or action == "deny_page":
        return _message("Login refused", "You refused. WeChat does not redirect back.")
    if state is not None:
        pairs["state"] = state
    target = _append_query(params["redirect_uri"], pairs)
    if params.get("login_type") == "jssdk" and params.get("self_redirect") != "true":
        # wxLogin.js default: the top window navigates, not the iframe (reference §2.2)
        literal = json.dumps(target).replace("</", "<\\/")  # cannot close the script element
        script = f"<script>window.top.location.href = {literal};</script>"
        response: web.StreamResponse = web.Response(text=script, content_type="text/html")
    else:
        response = web.Response(status=302, headers={"Location": target})
    if action == "allow":
        response.set_cookie(_COOKIE, user, httponly=True, samesite="Lax")
    return response


def _append_query(url: str, pairs: Mapping[str, str]) -> str:
    """``url`` plus ``pairs``, joined with ``&`` when it already has a query (§2.1)."""
    if not pairs:
        return url
    head, sep, fragment = url.partition("#")
    joiner = "&" if "?" in head else "?"
    return f"{head}{joiner}{urlencode(pairs)}{sep}{fragment}"


def _consent_page(params: Mapping[str, str], scope: str, user: str, base: str) -> web.Response:
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{escape(params[k])}">'
        for k in _FORWARDED
        if k in params
    )
    html = CONSENT_PAGE.format(
        appid=escape(params.get("appid", "")),
        scope=escape(scope),
        action=escape(f"{base}/connect/confirm"),
        hidden=hidden,
        user=escape(user),
    )
    return web.Response(text=html, content_type="text/html")


def _error_page(error: PageError) -> web.Response:
    detail = f"{error.code} {error.message}" if error.code else error.message
    return _message("WeChat", detail)


def _message(title: str, text: str) -> web.Response:
    html = MESSAGE_PAGE.format(title=escape(title), text=escape(text))
    return web.Response(text=html, content_type="text/html")


async def _wxlogin_js(request: web.Request) -> web.Response:
    return web.Response(text=WXLOGIN_JS, content_type="application/javascript")


async def _avatar(request: web.Request) -> web.Response:
    """A small identicon PNG standing in for a ``headimgurl`` (reference §2.7)."""
    digest = hashlib.sha256(request.match_info["id"].encode("utf-8")).digest()
    half = [[bool(digest[r * 4 + c] & 1) for c in range(4)] for r in range(8)]
    grid = [row + row[::-1] for row in half]
    shade = digest[-1] % 160
    cells = upscale(grid, 8, shade, 240)
    png = encode_png([[(v, 255) for v in row] for row in cells])
    return web.Response(body=png, content_type="image/png")

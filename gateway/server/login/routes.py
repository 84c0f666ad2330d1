"""HTTP adapter of flows A, B and C (``/auth/wechat/...``).

Flow A ``GET /auth/wechat/web/login`` (``mode=embed`` serves the wxLogin.js widget page),
flow B ``GET /auth/wechat/mp/login``, their ``/callback``s, ``GET /auth/wechat/login`` (B inside
WeChat's browser by User-Agent, else A), and flow C ``POST /auth/wechat/miniprogram/login``,
``/decrypt`` and ``/phone``.

The browser binding cookie (``wxgate_oauth``, HttpOnly, SameSite=Lax so it rides the redirect
back from WeChat, path ``/auth/wechat/``) is reused across logins of the same browser, so
several tabs can log in at once; each state record keeps only its hash.
"""

from __future__ import annotations

import secrets
from typing import Literal, cast

from aiohttp import web

from gateway.errors import AccountDisabled, InvalidRequest
from gateway.login import Flow, LoginDenied, SnapshotUser
from gateway.server import pages
from gateway.server.access import BEARER_API, set_session
from gateway.server.caller import authenticated
from gateway.server.common import NO_STORE, client_ip, read_json, redirect
from gateway.server.keys import CONFIG, LIMITER, MINIPROGRAM, OAUTH
from gateway.wechat import in_wechat_browser, wxlogin_script_url

__all__ = ["BINDING_COOKIE", "setup_routes"]

BINDING_COOKIE = "wxgate_oauth"


def _flow(request: web.Request) -> Flow:
    return cast(Literal["web", "mp"], request.match_info["flow"])


def _binding(request: web.Request) -> tuple[str, bool]:
    value = request.cookies.get(BINDING_COOKIE, "")
    if 32 <= len(value) <= 64 and value.isascii():
        return value, False
    return secrets.token_urlsafe(32), True


async def login(request: web.Request) -> web.StreamResponse:
    flow = _flow(request)
    await request.app[LIMITER].hit("login_start", client_ip(request))
    config = request.app[CONFIG]
    binding, fresh = _binding(request)
    embed = flow == "web" and request.query.get("mode") == "embed"
    start = await request.app[OAUTH].begin(
        flow,
        request.query.get("return_to"),
        binding,
        embed=embed,
        force_popup=request.query.get("force_popup") == "1",
    )
    if start.widget is not None:
        script = wxlogin_script_url(config.wechat.open_base, simulated=config.dev)
        response: web.StreamResponse = pages.embed_page(
            request, script, config.wechat.open_base, start.widget
        )
    else:
        response = redirect(start.redirect_url)
    if fresh:
        response.set_cookie(
            BINDING_COOKIE, binding, path="/auth/wechat/", httponly=True, samesite="Lax",
            secure=config.cookie_secure, max_age=86400,
        )  # fmt: skip
    return response


async def callback(request: web.Request) -> web.StreamResponse:
    flow = _flow(request)
    await request.app[LIMITER].hit("callback", client_ip(request))
    config = request.app[CONFIG]
    try:
        done = await request.app[OAUTH].complete(
            flow,
            request.query.get("code"),
            request.query.get("state"),
            request.cookies.get(BINDING_COOKIE),
        )
    except LoginDenied as exc:
        return pages.denied_page(request, exc.retry_url)
    except SnapshotUser as exc:
        return pages.snapshot_page(request, exc.retry_url)
    except AccountDisabled:  # an administrator disabled the person (README "Administration")
        return pages.disabled_page(request)
    response = redirect(done.return_to)
    set_session(response, config, done.access_token, done.refresh_token)
    return response


async def pick_flow(request: web.Request) -> web.StreamResponse:
    """Flow B inside WeChat's browser (User-Agent ``MicroMessenger``), else flow A."""
    in_wechat = in_wechat_browser(request.headers.get("User-Agent", ""))
    path = f"/auth/wechat/{'mp' if in_wechat else 'web'}/login"
    # yarl's with_path drops the query: put return_to (and the rest) back
    return redirect(str(request.rel_url.with_path(path).with_query(request.rel_url.query)))


async def embed_js(request: web.Request) -> web.Response:
    script = pages.embed_script()
    return web.Response(
        body=script.body,
        content_type=script.content_type,
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=3600"},
    )


async def miniprogram_login(request: web.Request) -> web.Response:
    flow = request.app[MINIPROGRAM]
    body = await read_json(request)
    code, app = body.get("code"), body.get("app")
    if not isinstance(code, str) or not code:
        raise InvalidRequest("code is required (the value wx.login() gave)")
    if app is not None and not isinstance(app, str):
        raise InvalidRequest("app must be a string")
    await request.app[LIMITER].hit("miniprogram_login", client_ip(request))
    session = await flow.login(code, app)
    pair, user = session.pair, session.user
    payload = {
        "access_token": pair.access_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh_token,
        "user": {
            "sub": user.sub,
            "openid": session.openid,
            "unionid": session.unionid,
            "nickname": user.nickname,
            "avatar_url": user.avatar_url,
            "phone": user.phone,
        },
    }
    return web.json_response(payload, headers=NO_STORE)


def _str_field(body: dict[str, object], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{name} is required and must be a string")
    return value


async def miniprogram_decrypt(request: web.Request) -> web.Response:
    claims = await authenticated(request, BEARER_API)
    await request.app[LIMITER].hit("miniprogram_data", claims.sub)
    body = await read_json(request)
    data = await request.app[MINIPROGRAM].decrypt(
        claims,
        _str_field(body, "encryptedData") or "",
        _str_field(body, "iv") or "",
        _str_field(body, "rawData", required=False),
        _str_field(body, "signature", required=False),
    )
    return web.json_response({"data": data}, headers=NO_STORE)


async def miniprogram_phone(request: web.Request) -> web.Response:
    claims = await authenticated(request, BEARER_API)
    await request.app[LIMITER].hit("miniprogram_data", claims.sub)
    body = await read_json(request)
    phone = await request.app[MINIPROGRAM].phone(claims, _str_field(body, "code") or "")
    return web.json_response(phone, headers=NO_STORE)


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/auth/wechat/login", pick_flow)
    r.add_get("/auth/wechat/web/embed.js", embed_js)
    r.add_get("/auth/wechat/{flow:web|mp}/login", login)
    r.add_get("/auth/wechat/{flow:web|mp}/callback", callback)
    r.add_post("/auth/wechat/miniprogram/login", miniprogram_login)
    r.add_post("/auth/wechat/miniprogram/decrypt", miniprogram_decrypt)
    r.add_post("/auth/wechat/miniprogram/phone", miniprogram_phone)

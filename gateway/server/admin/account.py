"""The person's own account page: ``GET /auth/account`` lists their linked WeChat identities
and live sessions; ``POST /auth/account/sessions/end`` (``sid``) ends one,
``POST /auth/account/sessions/end-others`` every one but the session asking. The forms carry
the session's CSRF token (``csrf``); a browser without a session goes to the login page."""

from __future__ import annotations

from aiohttp import web

from gateway.errors import AccessDenied
from gateway.server import pages
from gateway.server.access import OWN_API, AuthenticationRequired
from gateway.server.admin.csrf import CSRF_FIELD, check_csrf, csrf_token
from gateway.server.caller import authenticated
from gateway.server.common import NO_STORE, login_redirect, read_params
from gateway.server.keys import ADMIN, STORE
from gateway.tokens import AccessClaims

__all__ = ["setup_account"]

ACCOUNT_PATH = "/auth/account"


async def _claims(request: web.Request) -> AccessClaims | None:
    try:
        return await authenticated(request, OWN_API)
    except AuthenticationRequired:
        return None


async def account(request: web.Request) -> web.StreamResponse:
    claims = await _claims(request)
    if claims is None:
        return login_redirect(ACCOUNT_PATH)
    view = await request.app[ADMIN].view(claims.sub)
    csrf = await csrf_token(request.app[STORE], claims.sid)
    return pages.account_page(request, view.user, view.sessions, claims.sid, csrf)


async def _checked(request: web.Request) -> tuple[AccessClaims, dict[str, str]]:
    claims = await _claims(request)
    if claims is None:
        raise AuthenticationRequired(presented=False)
    params = await read_params(request)
    if not await check_csrf(request.app[STORE], claims.sid, params.get(CSRF_FIELD)):
        raise AccessDenied("the form is stale; reload the account page")
    return claims, params


async def end_one(request: web.Request) -> web.StreamResponse:
    claims, params = await _checked(request)
    await request.app[ADMIN].end_own_session(claims.sub, params.get("sid", ""))
    return web.Response(status=303, headers={"Location": ACCOUNT_PATH, **NO_STORE})


async def end_others(request: web.Request) -> web.StreamResponse:
    claims, _ = await _checked(request)
    await request.app[ADMIN].end_other_sessions(claims.sub, keep=claims.sid)
    return web.Response(status=303, headers={"Location": ACCOUNT_PATH, **NO_STORE})


def setup_account(app: web.Application) -> None:
    app.router.add_get(ACCOUNT_PATH, account)
    app.router.add_post(f"{ACCOUNT_PATH}/sessions/end", end_one)
    app.router.add_post(f"{ACCOUNT_PATH}/sessions/end-others", end_others)

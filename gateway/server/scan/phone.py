"""The phone's side of scan-login: WeChat's browser (flow B) or the mini-program (flow C).

WeChat's browser (the QR code encodes ``/auth/qr/{ticket}/scan``):

- ``GET /auth/qr/{ticket}/scan`` marks the ticket scanned, then 302s to
  ``/auth/wechat/mp/login?return_to=/auth/qr/{ticket}/confirm`` — or straight to the confirm
  page when the phone already has a valid session cookie (the scan then binds that account).
- ``GET /auth/qr/{ticket}/confirm`` (session cookie required, else the same flow B redirect)
  shows "Log in on the computer at <IP, browser, time>? Confirm / Cancel". Its two forms POST
  to ``/confirm`` and ``/deny`` with a CSRF token bound to the ticket and the phone's session
  (``ScanLogin.csrf_token``); SameSite alone is not relied on. A form POST without a valid
  token is 403. Form posts get HTML pages back (errors with their status), others JSON.

The mini-program: ``POST /auth/qr/{ticket}/scan``, then ``/confirm`` or ``/deny``, each with
``Authorization: Bearer <access token from /auth/wechat/miniprogram/login>`` (no CSRF: a
browser never sends that header on its own). Answers are JSON: the ticket's frame
``{"state", "ticket", "seq", "expires_in"}``, plus ``"pc": {"ip", "browser", "created_at"}``
for ``scan`` so the mini-program can show the same question.

Conflicts are 409: confirming a ticket already confirmed (a second phone), not yet scanned,
or scanned by another account; expired, denied and redeemed tickets likewise.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from gateway.errors import GatewayError, NotFound
from gateway.login import (
    CONFIRMED,
    DENIED,
    EXPIRED,
    REDEEMED,
    Identity,
    Ticket,
    TicketConflict,
    TicketEvent,
)
from gateway.server.access import BEARER_API, OWN_API, Policy, bearer_token
from gateway.server.caller import authenticate, authenticated
from gateway.server.common import NO_STORE, read_params
from gateway.server.keys import CLOCK, SCAN
from gateway.server.pages import confirm_page, message_page
from gateway.tokens import AccessClaims

__all__ = ["setup_routes"]

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
_STATE_PAGES = {EXPIRED: "expired", CONFIRMED: "used", REDEEMED: "used", DENIED: "denied"}
# the phone's pages: its session cookie, renewed when its access token has expired
_PHONE_PAGE = Policy(auth="optional", own=True)


def _identity(claims: AccessClaims) -> Identity:
    return Identity(claims.sub, claims.amr, claims.appid, claims.openid, claims.unionid)


async def _session_claims(request: web.Request) -> AccessClaims | None:
    """The phone's session, verified (and renewed like the proxy's); None without one."""
    return (await authenticate(request, _PHONE_PAGE)).claims


def _login_redirect(ticket_id: str) -> web.HTTPFound:
    confirm = f"/auth/qr/{ticket_id}/confirm"
    return web.HTTPFound(f"/auth/wechat/mp/login?return_to={quote(confirm, safe='')}",
                         headers=NO_STORE)  # fmt: skip


def _error_page(request: web.Request, exc: GatewayError) -> web.Response:
    if isinstance(exc, TicketConflict):
        key = "other" if exc.other_subject else _STATE_PAGES.get(exc.state, "error")
    elif isinstance(exc, NotFound):
        key = "gone"
    else:
        key = "error"
    return message_page(request, key, exc.status)


def _frame(request: web.Request, ticket: Ticket, **extra: Any) -> web.Response:
    now = request.app[CLOCK].time()
    body = {**TicketEvent.of(ticket, now, pushed=False).frame(now), **extra}
    return web.json_response(body, headers=NO_STORE)


# -- WeChat's browser ---------------------------------------------------------------------


async def scan_in_browser(request: web.Request) -> web.StreamResponse:
    ticket_id = request.match_info["ticket"]
    claims = await _session_claims(request)
    try:
        await request.app[SCAN].scan(ticket_id, _identity(claims) if claims else None)
    except GatewayError as exc:
        return _error_page(request, exc)
    if claims is None:
        raise _login_redirect(ticket_id)
    raise web.HTTPFound(f"/auth/qr/{ticket_id}/confirm", headers=NO_STORE)


async def confirm_form(request: web.Request) -> web.StreamResponse:
    ticket_id = request.match_info["ticket"]
    claims = await _session_claims(request)
    if claims is None:
        raise _login_redirect(ticket_id)
    scan = request.app[SCAN]
    try:
        ticket = await scan.scan(ticket_id, _identity(claims))  # no-op if this phone scanned
    except GatewayError as exc:
        return _error_page(request, exc)
    return confirm_page(request, ticket, scan.csrf_token(ticket, claims.sid))


async def _act(request: web.Request, action: str) -> web.StreamResponse:
    """Confirm or deny: the mini-program's bearer token, or the confirm page's form with the
    phone's session cookie and the CSRF token (form posts get HTML pages back)."""
    as_html = request.content_type in _FORMS and bearer_token(request) is None
    try:
        caller = await authenticate(request, OWN_API)
        claims = caller.claims
        assert claims is not None  # a required policy never decides "anonymous"
        scan, ticket_id = request.app[SCAN], request.match_info["ticket"]
        if caller.from_cookie:
            params = await read_params(request)
            token = params.get("csrf") or request.headers.get("X-CSRF-Token")
            scan.check_csrf(await scan.get(ticket_id), claims.sid, token)
        act = scan.confirm if action == "confirm" else scan.deny
        ticket = await act(ticket_id, _identity(claims))
    except GatewayError as exc:
        if as_html:
            return _error_page(request, exc)
        raise
    if as_html:
        return message_page(request, "done" if action == "confirm" else "denied")
    return _frame(request, ticket)


async def scan_by_app(request: web.Request) -> web.Response:
    claims = await authenticated(request, BEARER_API)
    ticket = await request.app[SCAN].scan(request.match_info["ticket"], _identity(claims))
    return _frame(request, ticket, pc=ticket.pc_info())


async def confirm(request: web.Request) -> web.StreamResponse:
    return await _act(request, "confirm")


async def deny(request: web.Request) -> web.StreamResponse:
    return await _act(request, "deny")


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/auth/qr/{ticket}/scan", scan_in_browser, allow_head=False)
    r.add_post("/auth/qr/{ticket}/scan", scan_by_app)
    r.add_get("/auth/qr/{ticket}/confirm", confirm_form, allow_head=False)
    r.add_post("/auth/qr/{ticket}/confirm", confirm)
    r.add_post("/auth/qr/{ticket}/deny", deny)

"""HTTP adapter of flow D, scan-login (``/auth/qr/...`` and the login page ``/auth/login``).

PC side (this module): ``POST /auth/qr`` creates a ticket bound to this browser and answers
``{"ticket", "expires_in", "qr_content", "image_url", "events_url", "ws_url", "status_url"}``
(absolute URLs from ``config.public_url``) plus the binding cookie; ``POST
/auth/qr/{ticket}/redeem`` turns a confirmed ticket into tokens and the session cookie, once.
Waiting (WebSocket, SSE, long-poll): ``waiters``. Phone side: ``phone``. QR and
mini-program code images: ``images``. The login page and its assets: ``login_page``
(rendered by ``gateway.server.pages``).

The binding cookie ``wxgate_qr`` (HttpOnly, SameSite=Lax, Secure outside dev) is scoped to
``Path=/auth/qr/<ticket>/``: each ticket has its own, so several tabs can wait on several
tickets, and the cookie only ever travels to its own ticket's endpoints.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.login import safe_return_to
from gateway.server.access import set_session
from gateway.server.common import NO_STORE, client_ip, read_params
from gateway.server.keys import CONFIG, LIMITER, SCAN, TOKENS
from gateway.server.scan import images as scan_images
from gateway.server.scan import login_page
from gateway.server.scan import phone as scan_phone
from gateway.server.scan import waiters as scan_waiters

__all__ = ["BINDING_COOKIE", "setup_routes"]

BINDING_COOKIE = "wxgate_qr"


def ticket_urls(base: str, ticket: str) -> dict[str, str]:
    """The absolute URLs of one ticket (``base`` = the public URL, no trailing slash)."""
    ws_base = "wss://" + base[8:] if base.startswith("https://") else "ws://" + base[7:]
    path = f"/auth/qr/{ticket}"
    return {
        "qr_content": f"{base}{path}/scan",
        "image_url": f"{base}{path}/image.png",
        "events_url": f"{base}{path}/events",
        "ws_url": f"{ws_base}{path}/ws",
        "status_url": f"{base}{path}/status",
    }


async def _return_to(request: web.Request) -> str:
    """``return_to`` from the JSON or form body, else the query; validated like flow A."""
    value = request.query.get("return_to")
    if request.body_exists:
        value = (await read_params(request)).get("return_to", value)
    login = request.app[CONFIG].login
    return safe_return_to(value, login.allowed_return_origins, login.default_return_to)


async def create_ticket(request: web.Request) -> web.Response:
    config, scan = request.app[CONFIG], request.app[SCAN]
    ip = client_ip(request)
    await request.app[LIMITER].hit("ticket_create", ip)
    return_to = await _return_to(request)
    created = await scan.create(
        pc_ip=ip, user_agent=request.headers.get("User-Agent", ""), return_to=return_to
    )
    ticket = created.ticket
    body: dict[str, Any] = {
        "ticket": ticket.id,
        "expires_in": scan.config.ticket_ttl,
        **ticket_urls(config.public_url, ticket.id),
        "image_svg_url": f"{config.public_url}/auth/qr/{ticket.id}/image.svg",
        "redeem_url": f"{config.public_url}/auth/qr/{ticket.id}/redeem",
    }
    if scan_images.miniprogram_app(config) is not None:
        body["wxacode_url"] = f"{config.public_url}/auth/qr/{ticket.id}/wxacode.png"
    response = web.json_response(body, headers=NO_STORE)
    response.set_cookie(
        BINDING_COOKIE, created.secret, path=f"/auth/qr/{ticket.id}/", httponly=True,
        samesite="Lax", secure=config.cookie_secure,
        max_age=scan.config.ticket_ttl + scan.config.scan_extend + 60,
    )  # fmt: skip
    return response


async def redeem(request: web.Request) -> web.Response:
    config, ticket_id = request.app[CONFIG], request.match_info["ticket"]
    secret = request.cookies.get(BINDING_COOKIE)
    done = await request.app[SCAN].redeem(ticket_id, secret, request.app[TOKENS])
    tokens = done.tokens
    body: dict[str, Any] = {
        "access_token": tokens.access_token,
        "token_type": tokens.token_type,
        "expires_in": tokens.expires_in,
        "refresh_token": tokens.refresh_token,
        "return_to": done.return_to or config.login.default_return_to,
    }
    response = web.json_response(body, headers=NO_STORE)
    set_session(response, config, tokens.access_token, tokens.refresh_token)
    response.del_cookie(BINDING_COOKIE, path=f"/auth/qr/{ticket_id}/")
    return response


def setup_routes(app: web.Application) -> None:
    """Add the scan-login routes and pages (the ``ScanLogin`` service is built by
    ``server.app``)."""
    r = app.router
    r.add_post("/auth/qr", create_ticket)
    r.add_post("/auth/qr/{ticket}/redeem", redeem)
    scan_waiters.setup_routes(app)
    scan_images.setup_routes(app)
    scan_phone.setup_routes(app)
    login_page.setup_routes(app)

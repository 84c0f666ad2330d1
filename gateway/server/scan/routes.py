"""HTTP adapter of flow D, scan-login (``/auth/qr/...`` and the login page ``/auth/login``).

PC side (this module): ``POST /auth/qr`` creates a ticket bound to this browser and answers
``{"ticket", "flow", "expires_in", "qr_content", "image_url", "events_url", "ws_url",
"status_url"}`` (absolute URLs from ``config.public_url``) plus the binding cookie; with
``{"flow": "follow"}`` the ticket is a follow-login ticket (flow E, ``login.FollowLogin``) whose
``qr_content`` is the parametric QR's ``url`` from WeChat, confirmed by WeChat's event push; ``POST
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

from gateway.errors import InvalidRequest
from gateway.login import safe_return_to
from gateway.server.access import set_session
from gateway.server.common import NO_STORE, client_ip, read_params
from gateway.server.keys import CONFIG, FOLLOW, LIMITER, SCAN, TOKENS
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


async def _params(request: web.Request) -> dict[str, str]:
    """``return_to`` (validated like flow A), ``flow`` and ``app`` from the JSON or form body,
    else the query."""
    params = {k: request.query[k] for k in ("return_to", "flow", "app") if k in request.query}
    if request.body_exists:
        body = await read_params(request)
        params |= {k: v for k in ("return_to", "flow", "app") if isinstance(v := body.get(k), str)}
    login = request.app[CONFIG].login
    params["return_to"] = safe_return_to(
        params.get("return_to"), login.allowed_return_origins, login.default_return_to
    )
    return params


async def create_ticket(request: web.Request) -> web.Response:
    """A scan-login ticket (flow D), or with ``"flow": "follow"`` a follow-login ticket (flow
    E, ``qr_content`` = the parametric QR's ``url`` from WeChat; optional ``"app"``)."""
    config, scan = request.app[CONFIG], request.app[SCAN]
    ip = client_ip(request)
    await request.app[LIMITER].hit("ticket_create", ip)
    params = await _params(request)
    flow, user_agent = params.get("flow", "scan"), request.headers.get("User-Agent", "")
    if flow == "follow":
        created = await request.app[FOLLOW].create(
            params.get("app"), pc_ip=ip, user_agent=user_agent, return_to=params["return_to"]
        )
    elif flow == "scan":
        created = await scan.create(pc_ip=ip, user_agent=user_agent, return_to=params["return_to"])
    else:
        raise InvalidRequest('flow must be "scan" or "follow"')
    ticket = created.ticket
    urls = ticket_urls(config.public_url, ticket.id)
    if flow == "follow":
        urls["qr_content"] = ticket.field("qr_url")
    body: dict[str, Any] = {
        "ticket": ticket.id,
        "flow": flow,
        "expires_in": max(0, round(ticket.expires_at - ticket.created_at)),
        **urls,
        "image_svg_url": f"{config.public_url}/auth/qr/{ticket.id}/image.svg",
        "redeem_url": f"{config.public_url}/auth/qr/{ticket.id}/redeem",
    }
    if flow == "scan" and scan_images.miniprogram_app(config) is not None:
        body["wxacode_url"] = f"{config.public_url}/auth/qr/{ticket.id}/wxacode.png"
    response = web.json_response(body, headers=NO_STORE)
    response.set_cookie(
        BINDING_COOKIE, created.secret, path=f"/auth/qr/{ticket.id}/", httponly=True,
        samesite="Lax", secure=config.cookie_secure,
        max_age=round(ticket.expires_at - ticket.created_at) + scan.config.scan_extend + 60,
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

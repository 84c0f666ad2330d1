"""Browsers and the login page: who gets a redirect instead of a 401."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from gateway.server.common.responses import NO_STORE

__all__ = ["LOGIN_PATH", "is_browser", "login_redirect"]

LOGIN_PATH = "/auth/login"


def is_browser(request: web.BaseRequest) -> bool:
    """True when the client asked for HTML (a browser navigation, not an API call)."""
    return "text/html" in request.headers.get("Accept", "")


def login_redirect(return_to: str, *, base: str = "") -> web.Response:
    """302 to ``<base>/auth/login?return_to=<return_to>`` (not cacheable)."""
    location = f"{base}{LOGIN_PATH}?return_to={quote(return_to, safe='/')}"
    return web.Response(status=302, headers={"Location": location, **NO_STORE})

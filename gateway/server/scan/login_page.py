"""The PC's login page ``GET /auth/login?return_to=...`` and its static assets.

``return_to`` is validated with the same rules as flow A (``safe_return_to``); ``?flow=follow``
shows the follow-login QR first (flow E, when an app offers it); the page itself
is rendered by ``gateway.server.pages``. Assets are served at ``/auth/login/assets/<name>``
with a content hash in their URL, so they can be cached for a day.
"""

from __future__ import annotations

from aiohttp import web

from gateway.errors import NotFound
from gateway.login import safe_return_to
from gateway.server import pages
from gateway.server.keys import CONFIG, FOLLOW
from gateway.server.scan.images import miniprogram_app

__all__ = ["setup_routes"]

_TRANSPORTS = ("ws", "sse", "poll")


async def login(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    settings = config.login
    return_to = safe_return_to(
        request.query.get("return_to"), settings.allowed_return_origins, settings.default_return_to
    )
    transport = request.query.get("transport")
    return pages.login_page(
        request,
        return_to=return_to,
        transport=transport if transport in _TRANSPORTS else None,
        dev=config.dev,
        web_login=config.app_named("website", settings.web_app) is not None,
        wxacode=miniprogram_app(config) is not None,
        follow=bool(request.app[FOLLOW].apps()),
        flow="follow" if request.query.get("flow") == "follow" else "scan",
    )


async def asset(request: web.Request) -> web.Response:
    found = pages.asset(request.match_info["name"])
    if found is None:
        raise NotFound()
    etag = f'"{found.version}"'
    headers = {"Cache-Control": "public, max-age=86400", "ETag": etag,
               "X-Content-Type-Options": "nosniff"}  # fmt: skip
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=found.body, content_type=found.content_type, charset="utf-8", headers=headers
    )


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/auth/login", login)
    app.router.add_get(pages.ASSET_PATH + "{name}", asset)

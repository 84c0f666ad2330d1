"""``GET /admin/``: the admin page, a shell whose script works through the admin API only.
A browser without a session goes to the login page; a logged-in person who is not an
administrator gets the "no access" page (403)."""

from __future__ import annotations

from aiohttp import web

from gateway.errors import AccessDenied
from gateway.server import pages
from gateway.server.access import AuthenticationRequired
from gateway.server.admin.guard import require_admin
from gateway.server.common import login_redirect

__all__ = ["setup_page"]


async def admin(request: web.Request) -> web.StreamResponse:
    try:
        await require_admin(request, mutating=False)
    except AuthenticationRequired:
        return login_redirect("/admin/")
    except AccessDenied:
        return pages.no_access_page(request)
    return pages.admin_page(request)


async def to_slash(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/admin/")


def setup_page(app: web.Application) -> None:
    app.router.add_get("/admin/", admin)
    app.router.add_get("/admin", to_slash)

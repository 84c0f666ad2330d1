"""The administration room: the admin API (``/admin/api/``), the admin page (``/admin/``) and
the person's own account page (``/auth/account``). Routes only: the work is
``gateway.admin.Administration``'s."""

from aiohttp import web

from gateway.server.admin.account import setup_account
from gateway.server.admin.api import setup_api
from gateway.server.admin.page import setup_page

__all__ = ["setup_routes"]


def setup_routes(app: web.Application) -> None:
    setup_api(app)
    setup_page(app)
    setup_account(app)

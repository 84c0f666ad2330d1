"""Token endpoints (refresh, logout, revocation, introspection, userinfo) and ``/.well-known``."""

from aiohttp import web

from gateway.server.tokens import routes, wellknown

__all__ = ["setup_routes"]


def setup_routes(app: web.Application) -> None:
    """``/.well-known/*`` and the token endpoints under ``/auth/``."""
    wellknown.setup_routes(app)
    routes.setup_routes(app)

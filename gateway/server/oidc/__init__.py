"""HTTP adapter of the OpenID Provider: the authorization endpoint and its consent form, and
RP-initiated logout (the token endpoint and UserInfo are in the tokens room, discovery in
``/.well-known``)."""

from aiohttp import web

from gateway.server.oidc import authorize, endsession

__all__ = ["setup_routes"]


def setup_routes(app: web.Application) -> None:
    """``/auth/authorize``, ``/auth/authorize/consent`` and ``/auth/end-session``."""
    authorize.setup_routes(app)
    endsession.setup_routes(app)

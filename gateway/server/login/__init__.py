"""HTTP adapter of login flows A, B and C (``/auth/wechat/...``)."""

from gateway.server.login.routes import BINDING_COOKIE, setup_routes

__all__ = ["BINDING_COOKIE", "setup_routes"]

"""Every ``web.AppKey`` and ``web.RequestKey`` of the gateway application, in one place.

Services are created in ``server.app`` (one ``cleanup_ctx`` per resource) and read by handlers
as ``request.app[KEY]``. Types are named as strings so this module imports no service code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import ClientSession, web

from gateway.clock import Clock
from gateway.config import Config
from gateway.metrics import Metrics

if TYPE_CHECKING:
    from gateway.login.miniprogram import MiniProgramLogin
    from gateway.login.oauth import OAuthFlows
    from gateway.login.scan import ScanLogin
    from gateway.server.access.decision import Access, Caller
    from gateway.server.proxy.forward_auth import ForwardAuth
    from gateway.server.proxy.handler import Proxy
    from gateway.server.readiness import Readiness
    from gateway.server.scan.images import ImageCache
    from gateway.store import Store
    from gateway.tokens.service import TokenService
    from gateway.users import UserDirectory
    from gateway.wechat.client import WeChatClient

__all__ = [
    "ACCESS",
    "CALLER",
    "CLOCK",
    "CONFIG",
    "FORWARD_AUTH",
    "IMAGE_CACHES",
    "METRICS",
    "MINIPROGRAM",
    "OAUTH",
    "PROXY",
    "PROXY_SESSION",
    "READINESS",
    "REQUEST_ID",
    "ROUTE_LABEL",
    "SCAN",
    "STORE",
    "TOKENS",
    "USERS",
    "WECHAT",
    "WECHAT_SESSION",
]

# -- the application's resources and services (created in server.app)
CONFIG = web.AppKey("config", Config)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
METRICS = web.AppKey("metrics", Metrics)
READINESS: web.AppKey[Readiness] = web.AppKey("readiness")
STORE: web.AppKey[Store] = web.AppKey("store")
TOKENS: web.AppKey[TokenService] = web.AppKey("tokens")
USERS: web.AppKey[UserDirectory] = web.AppKey("users")
WECHAT_SESSION = web.AppKey("wechat_session", ClientSession)
WECHAT: web.AppKey[WeChatClient] = web.AppKey("wechat")
OAUTH: web.AppKey[OAuthFlows] = web.AppKey("oauth")
MINIPROGRAM: web.AppKey[MiniProgramLogin] = web.AppKey("miniprogram")
SCAN: web.AppKey[ScanLogin] = web.AppKey("scan")
IMAGE_CACHES: web.AppKey[dict[str, ImageCache]] = web.AppKey("scan_image_caches")
ACCESS: web.AppKey[Access] = web.AppKey("access")
PROXY_SESSION = web.AppKey("proxy_session", ClientSession)
PROXY: web.AppKey[Proxy] = web.AppKey("proxy")
FORWARD_AUTH: web.AppKey[ForwardAuth] = web.AppKey("forward_auth")

# -- per request
REQUEST_ID = web.RequestKey("request_id", str)
# a handler may set ROUTE_LABEL to name its route for metrics (the proxy: its route prefix)
ROUTE_LABEL = web.RequestKey("route_label", str)
# the decision's caller, when it leaves a session-cookie change for the response
CALLER: web.RequestKey[Caller] = web.RequestKey("caller")

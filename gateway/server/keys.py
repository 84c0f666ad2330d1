"""Every ``web.AppKey`` and ``web.RequestKey`` of the gateway application, in one place.

Services are created in ``server.app`` (one ``cleanup_ctx`` per resource) and read by handlers
as ``request.app[KEY]``. Types are named as strings so this module runs no service code, and
it imports no module of ``gateway.server`` but ``readiness`` and ``access``, which import no
key: the services that answer whole requests are typed by the ``RequestHandler``
protocol, so no import circle runs through this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from aiohttp import ClientSession, web

from gateway.accesslog import AccessLog
from gateway.clock import Clock
from gateway.config import Config
from gateway.limits import Limiter
from gateway.metrics import Metrics
from gateway.singleflight import SingleFlight

if TYPE_CHECKING:
    from gateway.admin import Administration
    from gateway.login import FollowLogin, MiniProgramLogin, OAuthFlows, PushReceiver, ScanLogin
    from gateway.oidc import Provider
    from gateway.server.access import Access, Caller, Policy
    from gateway.server.readiness import Readiness
    from gateway.store import Store
    from gateway.tokens import TokenService
    from gateway.users import UserDirectory
    from gateway.wechat import WeChatClient

__all__ = [
    "ACCESS",
    "ACCESS_LOG",
    "ADMIN",
    "CALLER",
    "CLOCK",
    "CONFIG",
    "FOLLOW",
    "FORWARD_AUTH",
    "IMAGE_CACHES",
    "LIMITER",
    "METRICS",
    "MINIPROGRAM",
    "OAUTH",
    "OIDC",
    "PROXY",
    "PROXY_SESSION",
    "PUSHES",
    "READINESS",
    "REQUEST_ID",
    "ROUTE_LABEL",
    "SCAN",
    "STORE",
    "TOKENS",
    "USERINFO_POLICY",
    "USERS",
    "WECHAT",
    "WECHAT_SESSION",
    "RequestHandler",
]


class RequestHandler(Protocol):
    """A service that answers whole requests (the proxy, forward auth)."""

    async def handle(self, request: web.Request) -> web.StreamResponse: ...


# -- the application's resources and services (created in server.app)
CONFIG = web.AppKey("config", Config)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
METRICS = web.AppKey("metrics", Metrics)
READINESS: web.AppKey[Readiness] = web.AppKey("readiness")
STORE: web.AppKey[Store] = web.AppKey("store")
# every abuse limit (README "Abuse limits"), counted in the store
LIMITER = web.AppKey("limiter", Limiter)
TOKENS: web.AppKey[TokenService] = web.AppKey("tokens")
USERS: web.AppKey[UserDirectory] = web.AppKey("users")
WECHAT_SESSION = web.AppKey("wechat_session", ClientSession)
WECHAT: web.AppKey[WeChatClient] = web.AppKey("wechat")
OAUTH: web.AppKey[OAuthFlows] = web.AppKey("oauth")
MINIPROGRAM: web.AppKey[MiniProgramLogin] = web.AppKey("miniprogram")
SCAN: web.AppKey[ScanLogin] = web.AppKey("scan")
FOLLOW: web.AppKey[FollowLogin] = web.AppKey("follow")  # flow E tickets
PUSHES: web.AppKey[PushReceiver] = web.AppKey("pushes")  # the official accounts' server URL
# scan QR / mini-program code images by ticket: (body, content type), made once
IMAGE_CACHES: web.AppKey[dict[str, SingleFlight[str, tuple[bytes, str]]]] = web.AppKey(
    "scan_image_caches"
)
ACCESS: web.AppKey[Access] = web.AppKey("access")
OIDC: web.AppKey[Provider] = web.AppKey("oidc")
# UserInfo's policy: the gateway's own tokens and those of every OpenID Provider client
USERINFO_POLICY: web.AppKey[Policy] = web.AppKey("userinfo_policy")
PROXY_SESSION = web.AppKey("proxy_session", ClientSession)
PROXY: web.AppKey[RequestHandler] = web.AppKey("proxy")
FORWARD_AUTH: web.AppKey[RequestHandler] = web.AppKey("forward_auth")
# administration: audited operator actions and the audit log (gateway.admin)
ADMIN: web.AppKey[Administration] = web.AppKey("admin")
# the buffered access log (None when logging.access_log is off)
ACCESS_LOG: web.AppKey[AccessLog | None] = web.AppKey("access_log")

# -- per request
REQUEST_ID = web.RequestKey("request_id", str)
# a handler may set ROUTE_LABEL to name its route for metrics (the proxy: its route prefix)
ROUTE_LABEL = web.RequestKey("route_label", str)
# the decision's caller, when it leaves a session-cookie change for the response
CALLER: web.RequestKey[Caller] = web.RequestKey("caller")

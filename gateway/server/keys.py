"""Every ``web.AppKey`` of the gateway application, in one place.

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
    from gateway.server.health import Readiness
    from gateway.store import Store
    from gateway.tokens.service import TokenService
    from gateway.users import UserDirectory
    from gateway.wechat.client import WeChatClient

__all__ = [
    "CLOCK",
    "CONFIG",
    "METRICS",
    "MINIPROGRAM",
    "OAUTH",
    "PROXY_SESSION",
    "READINESS",
    "SCAN",
    "STORE",
    "TOKENS",
    "USERS",
    "WECHAT",
    "WECHAT_SESSION",
]

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
PROXY_SESSION = web.AppKey("proxy_session", ClientSession)

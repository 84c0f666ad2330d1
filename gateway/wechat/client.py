"""``WeChatClient``: every server-side WeChat call the gateway makes, by configured app name.

Each method raises a ``GatewayError`` (mapped by ``gateway.wechat.errors.classify``, reference
§3/§6) with the ``WeChatError`` or ``UpstreamError`` chained as ``__cause__``
(``wechat_cause(exc)`` reads it). Failures that mean misconfiguration are logged at ERROR with
errcode, rid, app and api, and counted in ``wxgate_wechat_config_errors_total``.

Calls needing the server access_token take it from ``ServerTokenCache`` (``stable_token``,
reference §2.13/§6.6); a consuming call answered 40001/40014/42001 drops that token, refreshes
once (normal mode, not ``force_refresh``) and retries once (reference §6.6).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, Literal, TypeVar

import aiohttp

from gateway.clock import Clock
from gateway.config import WeChatAppConfig, WeChatConfig
from gateway.errors import GatewayError, ServerError
from gateway.metrics import Metrics
from gateway.store import Store
from gateway.wechat import protocol as p
from gateway.wechat.errors import (
    TOKEN_ERRCODES,
    UpstreamError,
    WeChatError,
    classify,
    errcode_label,
)
from gateway.wechat.metrics import WeChatMetrics
from gateway.wechat.models import (
    Code2Session,
    Follower,
    OAuthToken,
    ParamQrCode,
    PhoneInfo,
    ServerToken,
    UserInfo,
)
from gateway.wechat.server_token import ServerTokenCache
from gateway.wechat.transport import Transport

__all__ = ["WeChatClient"]

log = logging.getLogger("gateway.wechat")
EnvVersion = Literal["release", "trial", "develop"]
T = TypeVar("T")


class WeChatClient:
    """Native asyncio WeChat client on an injected, long-lived ``aiohttp.ClientSession``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: WeChatConfig,
        store: Store,
        metrics: Metrics,
        clock: Clock,
        *,
        backoff: float = 0.1,
    ) -> None:
        self._config = config
        self._metrics = metrics.of(WeChatMetrics)
        self._transport = Transport(session, config, metrics, clock, backoff=backoff)
        fetch_budget = config.timeout * (config.max_retries + 1) + 2 * config.max_retries
        self._tokens = ServerTokenCache(
            store,
            self._fetch_stable_token,
            clock,
            metrics,
            lock_ttl=fetch_budget + 5.0,
            wait_timeout=fetch_budget + 10.0,
        )

    async def close(self) -> None:
        """Stop background token refreshes (the session belongs to the caller)."""
        await self._tokens.close()

    # ------------------------------------------------------------------ OAuth (flows A, B)

    async def exchange_code(self, app: str, code: str) -> OAuthToken:
        """Exchange an OAuth ``code`` exactly once (reference §2.4, §6.1)."""
        cfg = self._app(app)
        request = p.oauth_access_token_request(cfg.appid, cfg.secret, code)
        return await self._call(app, request, OAuthToken.from_json)

    async def refresh_user_token(self, app: str, refresh_token: str) -> OAuthToken:
        """New or extended user access_token (reference §2.5); dead refresh_token -> 401."""
        request = p.oauth_refresh_token_request(self._app(app).appid, refresh_token)
        return await self._call(app, request, OAuthToken.from_json, user_token=True)

    async def check_user_token(self, app: str, access_token: str, openid: str) -> bool:
        """True if WeChat still accepts the user's access_token for ``openid`` (§2.6).

        Token errcodes (40001/40014/42001) and 40003 (openid mismatch) give False.
        """
        self._app(app)
        with self._mapped(app, user_token=True):
            try:
                await self._transport.call(p.sns_auth_request(access_token, openid), app=app)
            except WeChatError as exc:
                if exc.errcode in TOKEN_ERRCODES or exc.errcode == 40003:
                    return False
                raise
        return True

    async def userinfo(
        self, app: str, access_token: str, openid: str, lang: str = "zh_CN"
    ) -> UserInfo:
        """Profile with the user's token; needs ``snsapi_userinfo``/``snsapi_login`` (§2.7)."""
        self._app(app)
        request = p.userinfo_request(access_token, openid, lang)
        return await self._call(app, request, UserInfo.from_json, user_token=True)

    # ------------------------------------------------------------------ mini-program (flow C)

    async def jscode2session(self, app: str, js_code: str) -> Code2Session:
        """Exchange a ``wx.login`` code exactly once (reference §2.8, §6.1)."""
        cfg = self._app(app)
        request = p.jscode2session_request(cfg.appid, cfg.secret, js_code)
        return await self._call(app, request, Code2Session.from_json)

    async def check_session(self, app: str, openid: str, session_key: str) -> bool:
        """True if ``session_key`` is still the user's current one; 87009 -> False (§2.9)."""
        with self._mapped(app):
            try:
                await self._with_server_token(
                    app, lambda token: p.checksession_request(token, openid, session_key),
                    self._json(app),
                )  # fmt: skip
            except WeChatError as exc:
                if exc.errcode == 87009:
                    return False
                raise
        return True

    async def get_phone_number(self, app: str, code: str, openid: str | None = None) -> PhoneInfo:
        """Phone number from the button's single-use code (reference §2.10, §6.13).

        ``watermark.appid`` must be this app's (else ``ServerError``, logged).
        """
        with self._mapped(app):
            data = await self._with_server_token(
                app, lambda token: p.phone_number_request(token, code, openid), self._json(app)
            )
            info = PhoneInfo.from_json(data, p.API_PHONE_NUMBER)
        if info.watermark_appid != self._app(app).appid:
            log.error("wechat phone watermark mismatch app=%s", app)
            raise ServerError("WeChat answered for another app")
        return info

    async def get_wxacode_unlimit(
        self,
        app: str,
        scene: str,
        page: str | None = None,
        env_version: EnvVersion | None = None,
        check_path: bool | None = None,
        width: int = 430,
        *,
        is_hyaline: bool = False,
    ) -> bytes:
        """Mini-program code image, JPEG or PNG by magic bytes (reference §2.14, §6.12).

        ``page``/``env_version`` default to the app's ``wxacode_page``/``wxacode_env_version``;
        ``check_path`` defaults to True only for ``release`` (§6.12). Invalid ``scene``/``page``/
        ``width`` raise ValueError before any call (a programming error).
        """
        cfg = self._app(app)
        env = env_version or cfg.wxacode_env_version
        path_check = env == "release" if check_path is None else check_path
        page = cfg.wxacode_page if page is None else page
        p.wxacode_unlimit_request("-", scene, page=page, width=width)  # validate first

        def build(token: str) -> p.ApiRequest:
            return p.wxacode_unlimit_request(
                token, scene, page=page, check_path=path_check, env_version=env,
                width=width, is_hyaline=is_hyaline,
            )  # fmt: skip

        with self._mapped(app):
            return await self._with_server_token(
                app, build, partial(self._transport.call_image, app=app)
            )

    # ------------------------------------------------------------------ official account (flow E)

    async def create_qrcode(self, app: str, scene: str, expire_seconds: int) -> ParamQrCode:
        """A temporary parametric QR (``QR_STR_SCENE``) with the shared single-flight server
        token (reference §2.15, §6.6); 48001 (unverified account) raises a mapped error whose
        cause ``wechat_cause`` reads."""
        p.qrcode_create_request("-", scene, expire_seconds)  # validate first

        def build(token: str) -> p.ApiRequest:
            return p.qrcode_create_request(token, scene, expire_seconds)

        with self._mapped(app):
            data = await self._with_server_token(app, build, self._json(app))
            return ParamQrCode.from_json(data, p.API_QRCODE_CREATE)

    async def follower(self, app: str, openid: str) -> Follower:
        """Who scanned: ``cgi-bin/user/info`` (reference §2.15; unionid when bound)."""
        with self._mapped(app):
            data = await self._with_server_token(
                app, lambda token: p.user_info_request(token, openid), self._json(app)
            )
            return Follower.from_json(data, p.API_USER_INFO)

    # ------------------------------------------------------------------ server access token

    async def server_access_token(self, app: str) -> str:
        """The app's cached server access_token, refreshed single-flight (reference §6.6)."""
        return await self._tokens.get(app, self._app(app).appid)

    async def fetch_classic_token(self, app: str) -> ServerToken:
        """A new ``cgi-bin/token`` (uncached). Tools only: it invalidates the app's previous
        classic token 5 minutes later for every other system using it (reference §2.12)."""
        cfg = self._app(app)
        request = p.classic_token_request(cfg.appid, cfg.secret)
        return await self._call(app, request, ServerToken.from_json, token_fetch=True)

    async def _fetch_stable_token(self, app: str) -> ServerToken:
        cfg = self._app(app)
        request = p.stable_token_request(cfg.appid, cfg.secret, force_refresh=False)
        return await self._call(app, request, ServerToken.from_json, token_fetch=True)

    # ------------------------------------------------------------------ plumbing

    def _app(self, app: str) -> WeChatAppConfig:
        cfg = self._config.apps.get(app)
        if cfg is None:
            log.error("wechat app not configured app=%s", app)
            raise ServerError(f"WeChat app {app!r} is not configured")
        return cfg

    async def _call(
        self,
        app: str,
        request: p.ApiRequest,
        model: Callable[[dict[str, Any], str], T],
        *,
        token_fetch: bool = False,
        user_token: bool = False,
    ) -> T:
        """Send, then build the typed result; both failures are mapped (a success body
        missing required fields is an ``UpstreamError`` -> 503)."""
        try:  # what ``_mapped`` does, without a generator frame on every login
            return model(await self._transport.call(request, app=app), request.api)
        except (WeChatError, UpstreamError) as exc:
            raise self._mapped_error(app, exc, token_fetch, user_token) from exc

    async def _with_server_token(
        self,
        app: str,
        build: Callable[[str], p.ApiRequest],
        send: Callable[[p.ApiRequest], Awaitable[T]],
    ) -> T:
        """``send(build(token))``; on a token errcode drop the token, refresh, retry once."""
        appid = self._app(app).appid
        token = await self._tokens.get(app, appid)
        try:
            return await send(build(token))
        except WeChatError as exc:
            if exc.errcode not in TOKEN_ERRCODES:
                raise
            log.warning(
                "wechat server token rejected app=%s api=%s errcode=%d rid=%s; refreshing once",
                app, exc.api, exc.errcode, exc.rid or "-",
            )  # fmt: skip
            await self._tokens.invalidate(appid, token)
        token = await self._tokens.get(app, appid)
        return await send(build(token))

    def _json(self, app: str) -> Callable[[p.ApiRequest], Awaitable[dict[str, Any]]]:
        return partial(self._transport.call, app=app)

    @contextmanager
    def _mapped(
        self, app: str, *, token_fetch: bool = False, user_token: bool = False
    ) -> Iterator[None]:
        """Turn WeChat failures raised inside into the gateway error they mean (§3)."""
        try:
            yield
        except (WeChatError, UpstreamError) as exc:
            raise self._mapped_error(app, exc, token_fetch, user_token) from exc

    def _mapped_error(
        self, app: str, exc: WeChatError | UpstreamError, token_fetch: bool, user_token: bool
    ) -> GatewayError:
        result = classify(exc, token_fetch=token_fetch, user_token=user_token)
        if result.alert:
            self._alert(app, exc)
        return result.error

    def _alert(self, app: str, exc: WeChatError | UpstreamError) -> None:
        errcode = exc.errcode if isinstance(exc, WeChatError) else None
        rid = exc.rid if isinstance(exc, WeChatError) else None
        self._metrics.config_errors.labels(app=app, errcode=errcode_label(errcode)).inc()
        log.error(
            "wechat configuration or quota error app=%s api=%s errcode=%s rid=%s",
            app, exc.api, errcode, rid or "-",
        )  # fmt: skip

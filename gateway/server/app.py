"""The composition root: ``create_app(config)`` builds the whole gateway application.

Each resource (store, token service, user directory, WeChat HTTP session, proxy session...)
is opened and closed by its own ``cleanup_ctx`` and published under a ``web.AppKey`` from
``server.keys``. Nothing here reads the environment: the config is passed in explicitly.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.clock import Clock, SystemClock
from gateway.config import Config
from gateway.metrics import Metrics
from gateway.server import health, telemetry
from gateway.server import metrics as metrics_routes
from gateway.server.health import Readiness
from gateway.server.keys import (
    CLOCK,
    CONFIG,
    METRICS,
    MINIPROGRAM,
    OAUTH,
    READINESS,
    STORE,
    TOKENS,
    USERS,
    WECHAT,
    WECHAT_SESSION,
)
from gateway.server.login import routes as login_routes
from gateway.server.middlewares import gateway_middleware
from gateway.server.scan import routes as scan_routes
from gateway.server.tokens import routes as token_routes
from gateway.server.tokens import wellknown
from gateway.store import create_store
from gateway.store.metrics import StoreMetrics

__all__ = ["create_app"]

log = logging.getLogger("gateway.server")


def create_app(
    config: Config, *, clock: Clock | None = None, metrics: Metrics | None = None
) -> web.Application:
    """The gateway application for ``config`` (not started: the runner starts it)."""
    config = config.resolved()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    app = web.Application(
        middlewares=[gateway_middleware],
        client_max_size=config.server.max_body_bytes,
    )
    app[CONFIG] = config
    app[CLOCK] = clock or SystemClock()
    app[METRICS] = metrics = metrics or Metrics()
    telemetry.create_families(metrics)  # every family is on /metrics from the first scrape
    app[READINESS] = Readiness()
    app.cleanup_ctx.extend([_store_ctx, _tokens_ctx, _users_ctx, _wechat_ctx, _login_ctx])
    health.setup_routes(app)
    if config.metrics.enabled and not config.metrics.host:
        metrics_routes.setup_routes(app, config.metrics.path)
    wellknown.setup_routes(app)
    token_routes.setup_routes(app)
    login_routes.setup_routes(app)
    scan_routes.setup(app)
    if config.dev:
        _mount_dev_tools(app)
    _setup_proxy(app)  # keep last: the proxy's catch-all must be the final route
    return app


def _setup_proxy(app: web.Application) -> None:
    """Forward auth, the dev echo upstream and the reverse proxy (its catch-all goes last)."""
    from gateway.server.access import decision as auth
    from gateway.server.proxy import echo, forward_auth
    from gateway.server.proxy import handler as proxy

    config = app[CONFIG]
    app.cleanup_ctx.append(auth.auth_ctx)
    forward_auth.setup_routes(app)
    if config.dev and config.proxy.echo_upstream:
        echo.setup_routes(app)
    proxy.setup_routes(app)


def _mount_dev_tools(app: web.Application) -> None:
    """Dev mode only: the WeChat simulator at /_sim/wechat (never mounted otherwise)."""
    from gateway.simulator import create_simulator

    app.add_subapp("/_sim/wechat", create_simulator(app[CONFIG], app[CLOCK]))


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    on_error = app[METRICS].of(StoreMetrics).count_error
    store = create_store(app[CONFIG].store, app[CLOCK], on_error)
    app[STORE] = store
    app[READINESS].add("store", store.ping)
    try:
        yield
    finally:
        await store.close()


async def _tokens_ctx(app: web.Application) -> AsyncIterator[None]:
    from gateway.tokens.service import TokenService

    tokens = await TokenService.open(app[CONFIG], app[STORE], app[METRICS], app[CLOCK])
    app[TOKENS] = tokens
    app[READINESS].add("signing_key", tokens.check_ready)
    try:
        yield
    finally:
        await tokens.close()


async def _users_ctx(app: web.Application) -> AsyncIterator[None]:
    from gateway.users import open_user_directory

    config = app[CONFIG]
    users = await open_user_directory(config.users, config.data_dir, app[CLOCK])
    app[USERS] = users
    app[READINESS].add("users", users.ping)
    try:
        yield
    finally:
        await users.close()


async def _wechat_ctx(app: web.Application) -> AsyncIterator[None]:
    """One long-lived HTTP session for every WeChat call (reference §6.15 timeouts)."""
    import aiohttp

    from gateway.wechat.client import WeChatClient

    config = app[CONFIG]
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=100, ttl_dns_cache=300),
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
    )
    app[WECHAT_SESSION] = session
    client = WeChatClient(session, config.wechat, app[STORE], app[METRICS], app[CLOCK])
    app[WECHAT] = client
    try:
        yield
    finally:
        await client.close()
        await session.close()


async def _login_ctx(app: web.Application) -> AsyncIterator[None]:
    from gateway.login.identity import SessionIssuer
    from gateway.login.miniprogram import MiniProgramLogin
    from gateway.login.oauth import OAuthFlows

    config, store, metrics = app[CONFIG], app[STORE], app[METRICS]
    sessions = SessionIssuer(app[USERS], app[TOKENS], metrics)
    app[OAUTH] = oauth = OAuthFlows(config, store, app[WECHAT], sessions, metrics, app[CLOCK])
    app[MINIPROGRAM] = MiniProgramLogin(config, store, app[WECHAT], sessions, metrics)
    try:
        yield
    finally:
        await oauth.close()

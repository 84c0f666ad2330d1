"""The composition root: ``create_app(config)`` builds the whole gateway application.

Every service is built here, each resource opened and closed by its own ``cleanup_ctx`` and
published under a ``web.AppKey`` from ``server.keys``; the rooms (``access``, ``proxy``,
``login``, ``scan``, ``tokens``, ``pages``) only add routes. Nothing here reads the
environment: the config is passed in explicitly.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from gateway.accesslog import AccessLog
from gateway.admin import Administration, AuditLog
from gateway.authz import AuthzMetrics, RoleRules, directory_roles
from gateway.clock import Clock, SystemClock
from gateway.config import Config
from gateway.limits import Limiter
from gateway.login import (
    FollowLogin,
    MiniProgramLogin,
    OAuthFlows,
    PushReceiver,
    ScanLogin,
    SessionIssuer,
)
from gateway.metrics import Metrics
from gateway.oidc import BackchannelLogout, OidcMetrics, Provider
from gateway.server import admin as admin_routes
from gateway.server import health, telemetry
from gateway.server import login as login_routes
from gateway.server import metrics as metrics_routes
from gateway.server import oidc as oidc_routes
from gateway.server import openapi as openapi_routes
from gateway.server import tokens as token_routes
from gateway.server.access import Access, PathRules, Policy, RouteTable
from gateway.server.caller import write_cookie_change
from gateway.server.common import drop_server_header
from gateway.server.keys import (
    ACCESS,
    ACCESS_LOG,
    ADMIN,
    CLOCK,
    CONFIG,
    FOLLOW,
    FORWARD_AUTH,
    IMAGE_CACHES,
    LIMITER,
    METRICS,
    MINIPROGRAM,
    OAUTH,
    OIDC,
    PROXY,
    PROXY_SESSION,
    PUSHES,
    READINESS,
    SCAN,
    STORE,
    TOKENS,
    USERINFO_POLICY,
    USERS,
    WECHAT,
    WECHAT_SESSION,
)
from gateway.server.middlewares import gateway_middleware
from gateway.server.proxy import (
    ForwardAuth,
    HeaderRules,
    Proxy,
    WebSocketRelay,
    echo,
    setup_forward_auth,
    setup_proxy,
)
from gateway.server.readiness import Readiness
from gateway.server.scan import routes as scan_routes
from gateway.server.scan.images import image_caches
from gateway.server.telemetry import ProxyMetrics
from gateway.server.wechat_events import routes as wechat_events_routes
from gateway.store import StoreMetrics, create_store
from gateway.tokens import TokenService
from gateway.users import open_user_directory
from gateway.wechat import WeChatClient

__all__ = ["create_app"]

log = logging.getLogger("gateway.server")

# The proxy's upstream session forwards what the client sent and adds nothing of its own.
_PROXY_SKIP_AUTO = frozenset({"User-Agent", "Accept", "Accept-Encoding", "Content-Type"})
# Every proxied request leaves a few reference cycles (aiohttp futures, timers, frames) for the
# cyclic GC; with CPython's default young-generation threshold (700) a collection runs every few
# requests and cost ~15% of the proxy's CPU (measured here). Collecting 10x less often keeps the
# same garbage bounded (thousands of small objects) at a fraction of the cost. Restored when
# the application stops.
GC_YOUNG_THRESHOLD = 10_000


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
    app[ACCESS_LOG] = None
    app.cleanup_ctx.extend(
        [
            _access_log_ctx,  # first, so it closes last: after the last request's line
            _store_ctx,
            _tokens_ctx,
            _users_ctx,
            _admin_ctx,
            _wechat_ctx,
            _login_ctx,
            _oidc_ctx,
            _scan_ctx,
            _follow_ctx,
            _proxy_ctx,
        ]
    )
    app.on_shutdown.append(_end_waiters)
    app.on_response_prepare.append(write_cookie_change)
    app.on_response_prepare.append(drop_server_header)
    health.setup_routes(app)
    openapi_routes.setup_routes(app, config)
    if config.metrics.enabled and config.metrics.main_listener:
        metrics_routes.setup_routes(app, config.metrics.path)
    token_routes.setup_routes(app)
    login_routes.setup_routes(app)
    scan_routes.setup_routes(app)
    wechat_events_routes.setup_routes(app)
    oidc_routes.setup_routes(app)
    admin_routes.setup_routes(app)
    setup_forward_auth(app)
    if config.dev:
        _mount_dev_tools(app)
    setup_proxy(app)  # keep last: the proxy's catch-all must be the final route
    return app


def _mount_dev_tools(app: web.Application) -> None:
    """Dev mode only: the WeChat simulator at /_sim/wechat, the demo OIDC relying party at
    /_sim/rp and, when configured, the echo upstream (never mounted otherwise)."""
    from gateway.simulator import create_rp, create_simulator

    app.add_subapp("/_sim/wechat", create_simulator(app[CONFIG], app[CLOCK]))
    app.add_subapp("/_sim/rp", create_rp(app[CONFIG], app[CLOCK], prefix="/_sim/rp"))
    if app[CONFIG].proxy.echo_upstream:
        echo.setup_routes(app)


async def _access_log_ctx(app: web.Application) -> AsyncIterator[None]:
    """The buffered access log (``gateway.accesslog``): flushed by size and timer, drained
    when the application stops (after SIGTERM's drain and the in-flight requests)."""
    settings = app[CONFIG].logging
    if not settings.access_log:
        yield
        return
    log = AccessLog(settings.access_log_path, flush_interval=settings.access_log_flush_interval)
    app[ACCESS_LOG] = log
    try:
        yield
    finally:
        log.close()


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    on_error = app[METRICS].of(StoreMetrics).count_error
    store = create_store(app[CONFIG].store, app[CLOCK], on_error)
    app[STORE] = store
    app[LIMITER] = Limiter(store, app[CONFIG].limits, app[METRICS])
    app[READINESS].add("store", store.ping)
    try:
        yield
    finally:
        await store.close()


async def _tokens_ctx(app: web.Application) -> AsyncIterator[None]:
    """The token service, and the one authentication decision built on it."""
    config = app[CONFIG]
    tokens = await TokenService.open(
        config, app[STORE], app[METRICS], app[CLOCK],
        key_reload_interval=config.tokens.key_reload_seconds,
    )  # fmt: skip
    app[TOKENS] = tokens
    app[ACCESS] = Access(config, tokens, app[CLOCK])
    app[READINESS].add("signing_key", tokens.check_ready)
    try:
        yield
    finally:
        await tokens.close()


async def _users_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    users = await open_user_directory(config.users, config.data_dir, app[CLOCK])
    app[USERS] = users
    app[TOKENS].use_roles(directory_roles(users))  # tokens carry roles, re-read at refresh
    app[READINESS].add("users", users.ping)
    try:
        yield
    finally:
        await users.close()


async def _admin_ctx(app: web.Application) -> AsyncIterator[None]:
    """Administration and the audit log: a disabled user starts no session (the token
    service's gate), session events are audited, old entries swept."""
    config, tokens = app[CONFIG], app[TOKENS]
    audit = AuditLog(app[USERS], app[CLOCK], app[METRICS], config.audit)
    app[ADMIN] = admin = Administration(app[USERS], tokens, audit, app[METRICS])
    tokens.guard_sessions(admin.refuse_disabled)
    tokens.on_event(audit.token_event)
    audit.start()
    try:
        yield
    finally:
        await audit.close()


async def _wechat_ctx(app: web.Application) -> AsyncIterator[None]:
    """One long-lived HTTP session for every WeChat call (reference §6.15 timeouts)."""
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
    config, store, metrics = app[CONFIG], app[STORE], app[METRICS]
    sessions = SessionIssuer(app[USERS], app[TOKENS], metrics, RoleRules(config.authz.role_rules))
    app[OAUTH] = oauth = OAuthFlows(config, store, app[WECHAT], sessions, metrics, app[CLOCK])
    app[MINIPROGRAM] = MiniProgramLogin(config, store, app[WECHAT], sessions, metrics)
    sessions.on_failure(app[ADMIN].audit.login_failed)  # failed logins are audited
    try:
        yield
    finally:
        await oauth.close()


async def _oidc_ctx(app: web.Application) -> AsyncIterator[None]:
    """The OpenID Provider, UserInfo's policy (the gateway's own tokens and every client's),
    and back-channel logout: a session-end listener with its own HTTP session."""
    config, tokens = app[CONFIG], app[TOKENS]
    provider = Provider(config, app[STORE], tokens, app[USERS], app[CLOCK])
    app[OIDC] = provider
    app[USERINFO_POLICY] = Policy(own=True, also=provider.clients.audiences())
    session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), raise_for_status=False)
    counted = app[METRICS].of(OidcMetrics).backchannel_logout

    async def post(url: str, form: dict[str, str], timeout: float) -> int:
        async with session.post(
            url, data=form, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            return response.status

    backchannel = BackchannelLogout(
        config.oidc, config.issuer, provider.clients,
        provider.subject_for,
        tokens.sign_jwt, post, app[CLOCK],
        lambda client_id, result: counted.labels(client_id, result).inc(),
    )  # fmt: skip
    tokens.on_session_end(backchannel.session_ended)
    try:
        yield
    finally:
        await backchannel.close()
        await session.close()


async def _scan_ctx(app: web.Application) -> AsyncIterator[None]:
    """Scan-login tickets and their waiters, and the tickets' image caches."""
    config = app[CONFIG]
    scan = ScanLogin(app[STORE], config.scan, app[CLOCK], app[METRICS],
                     waiters_per_address=config.limits.waiters_per_address)  # fmt: skip
    app[SCAN] = scan
    app[IMAGE_CACHES] = caches = image_caches(app[CLOCK])
    try:
        yield
    finally:
        for cache in caches.values():
            await cache.close()
        await scan.close()


async def _follow_ctx(app: web.Application) -> AsyncIterator[None]:
    """Follow-the-account login (flow E): its tickets and the official accounts' server URL."""
    config, metrics = app[CONFIG], app[METRICS]
    sessions = SessionIssuer(app[USERS], app[TOKENS], metrics)
    follow = FollowLogin(config, app[STORE], app[WECHAT], app[SCAN], sessions, app[CLOCK],
                         metrics)  # fmt: skip
    app[FOLLOW] = follow
    app[PUSHES] = PushReceiver(config, app[STORE], follow, app[CLOCK], metrics)
    for name in follow.apps():
        log.warning(
            "follow_login is on for app %s: WeChat makes parametric QR codes for verified "
            "service accounts only; an unverified one answers 48001 and POST /auth/qr "
            '{"flow": "follow"} then answers 503 follow_login_unavailable', name,
        )  # fmt: skip
    try:
        yield
    finally:
        await follow.close()


async def _end_waiters(app: web.Application) -> None:
    scan = app.get(SCAN)
    if scan is not None:
        scan.hub.shutdown()  # open WebSockets and streams end now, not at the grace timeout


async def _proxy_ctx(app: web.Application) -> AsyncIterator[None]:
    """The route table and header rules, compiled once and shared by the reverse proxy and
    forward auth, and the proxy's pooled upstream session (``DummyCookieJar``: one user's
    upstream cookies never reach another; no global limit, ``limit_per_host`` per upstream)."""
    config, access = app[CONFIG], app[ACCESS]
    metrics = app[METRICS].of(ProxyMetrics)
    proxy = config.proxy
    table = RouteTable(
        proxy.routes,
        connect_timeout=proxy.connect_timeout,
        extra_reserved=(config.metrics.path,),
        paths=PathRules(
            reject_backslash=proxy.reject_backslash,
            reject_path_parameters=proxy.reject_path_parameters,
            reject_double_encoding=proxy.reject_double_encoding,
        ),
        decisions=app[METRICS].of(AuthzMetrics).decisions,
        appids={name: a.appid for name, a in config.wechat.apps.items()},
    )
    rules = HeaderRules(config)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=0, limit_per_host=config.proxy.limit_per_upstream, ttl_dns_cache=60
        ),
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=_PROXY_SKIP_AUTO,
        auto_decompress=False,
        raise_for_status=False,
    )
    app[PROXY_SESSION] = session
    websockets = WebSocketRelay(
        session, access, app[CLOCK], metrics, config.proxy.websocket_recheck_interval
    )
    app[PROXY] = Proxy(session, table, rules, websockets, metrics)
    app[FORWARD_AUTH] = ForwardAuth(config, table, rules, metrics)
    previous = gc.get_threshold()
    gc.set_threshold(max(previous[0], GC_YOUNG_THRESHOLD), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        await session.close()

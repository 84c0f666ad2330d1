"""The reverse proxy: a catch-all handler, registered last, forwarding to the configured routes.

Per request: the longest matching route (``server.routes``); its policy applied by the shared
decision (``server.auth``); headers rewritten (``server.proxy_headers``); the body streamed to
the upstream and the response streamed back (no full buffering either way: flow control on
both sockets bounds memory; a response of known length up to 64 KiB is read whole and sent in
one write, which is cheaper); WebSocket upgrades relayed on routes that allow them
(``server.proxy_ws``).

One pooled ``ClientSession`` (``PROXY_SESSION``): ``DummyCookieJar`` (an upstream's cookies must
never reach another user), ``limit_per_host = proxy.limit_per_upstream`` and no global limit
(one slow upstream cannot starve the others), no automatic decompression, no redirects.
Failures before the response starts: connect error → 502 ``bad_gateway``; timeout (connect,
``route.timeout`` of silence while awaiting the response) → 504 ``gateway_timeout``; a broken
upstream response → 502. After the response started, the client connection is closed so the
client sees a truncated body rather than a wrong one.

Request paths are matched decoded; a path with dot segments or ``//`` is refused (400), since
the backend could normalise it into another route. The gateway's own paths are never proxied.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from gateway.config import Config
from gateway.errors import BadGateway, GatewayError, GatewayTimeout, InvalidRequest, NotFound
from gateway.metrics import Metrics
from gateway.server.access.decision import (
    ANONYMOUS,
    AUTH,
    AuthenticationRequired,
    Authenticator,
    Decision,
    is_browser,
    login_redirect,
)
from gateway.server.access.routes import Route, RouteTable, is_ambiguous, raise_for_reserved
from gateway.server.keys import CONFIG, METRICS, PROXY_SESSION
from gateway.server.middlewares import REQUEST_ID, ROUTE_LABEL
from gateway.server.proxy.headers import HeaderRules, copy_response_headers
from gateway.server.proxy.websocket import is_websocket_upgrade, relay_websocket

__all__ = ["PROXY", "Proxy", "setup_routes"]

log = logging.getLogger("gateway.proxy")

_SMALL_BODY = 65_536
_SKIP_AUTO = frozenset({"User-Agent", "Accept", "Accept-Encoding", "Content-Type"})
_NO_BODY_STATUS = frozenset({204, 304})
_UPSTREAM_ERRORS = (aiohttp.ClientError, TimeoutError, ConnectionError)


class Proxy:
    """Forwards requests for one application (see module doc)."""

    def __init__(
        self,
        config: Config,
        session: aiohttp.ClientSession,
        authenticator: Authenticator,
        metrics: Metrics,
    ) -> None:
        self.config = config
        self.session = session
        self.auth = authenticator
        self.rules = HeaderRules(config)
        self.table = RouteTable(
            config.proxy.routes,
            connect_timeout=config.proxy.connect_timeout,
            extra_reserved=(config.metrics.path,),
        )
        self._metrics = metrics
        self._counted: dict[tuple[str, int], Any] = {}
        self._durations = {
            r.prefix: metrics.proxy_upstream_duration.labels(r.prefix) for r in self.table.routes
        }

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The catch-all handler."""
        path = request.path
        table = self.table
        route = None if table.is_reserved(path) else table.match(path)
        if route is None or table.slash_redirect(path) is not None:
            request[ROUTE_LABEL] = "unmatched"
            return await self._unmatched(request, path)
        request[ROUTE_LABEL] = route.prefix
        try:
            response = await self._handle(request, route, path)
        except GatewayError as exc:
            self._count(route.prefix, exc.status)
            raise
        self._count(route.prefix, response.status)
        return response

    async def _handle(self, request: web.Request, route: Route, path: str) -> web.StreamResponse:
        if is_ambiguous(path):
            raise InvalidRequest("the path has dot segments or empty segments")
        decision = ANONYMOUS
        if route.auth != "public":
            try:
                decision = await self.auth.decide(request, route)
            except AuthenticationRequired as exc:
                if not is_browser(request):
                    raise
                redirect = login_redirect(request.rel_url.raw_path_qs)
                if exc.clear_cookie:
                    self.auth.apply_cookie(redirect, Decision("anonymous", clear_cookie=True))
                return redirect
        headers = self._upstream_headers(request, route, decision)
        if route.websocket and is_websocket_upgrade(request):
            return await relay_websocket(self, request, route, headers, decision)
        return await self._forward(request, route, headers, decision)

    def _upstream_headers(
        self, request: web.Request, route: Route, decision: Decision
    ) -> CIMultiDict[str]:
        rules = self.rules
        trusted = rules.is_trusted(request.remote)
        headers = rules.upstream_headers(
            request.headers,
            trusted=trusted,
            strip_authorization=route.auth != "public",
        )
        host = request.host
        rules.set_forwarded(
            headers, trusted=trusted, peer=request.remote, scheme=request.scheme, host=host
        )
        headers["Host"] = host if route.preserve_host else route.upstream_host
        headers["X-Request-Id"] = request[REQUEST_ID]  # one id in the gateway's and its logs
        claims = decision.claims
        if claims is not None:
            for name, value in rules.identity_items(
                claims.sub, claims.openid, claims.unionid, claims.appid, claims.scope
            ):
                headers[name] = value
            if route.pass_token and decision.token:
                if rules.token:
                    headers[rules.token] = decision.token
                else:
                    headers["Authorization"] = f"Bearer {decision.token}"
        return headers

    async def _forward(
        self,
        request: web.Request,
        route: Route,
        headers: CIMultiDict[str],
        decision: Decision,
    ) -> web.StreamResponse:
        rel = request.rel_url
        url = URL(
            route.upstream_url(rel.raw_path, request.path, rel.raw_query_string), encoded=True
        )
        started = time.perf_counter()
        try:
            upstream = await self.session.request(
                request.method,
                url,
                headers=headers,
                data=request.content if request.body_exists else None,
                allow_redirects=False,
                timeout=route.timeout,
            )
        except _UPSTREAM_ERRORS as exc:
            raise self.upstream_failure(route, exc) from exc
        self._durations[route.prefix].observe(time.perf_counter() - started)
        try:
            return await self._respond(request, route, upstream, decision)
        finally:
            upstream.release()

    def upstream_failure(self, route: Route, exc: BaseException) -> GatewayError:
        """The typed error for an upstream failure (counted and logged, without the URL)."""
        error: GatewayError
        if isinstance(exc, TimeoutError):
            kind, error = "timeout", GatewayTimeout()
        elif isinstance(exc, aiohttp.ClientConnectorError):
            kind, error = "connect", BadGateway()
        else:
            kind, error = "protocol", BadGateway("the upstream service failed to answer")
        self._metrics.proxy_upstream_errors.labels(route.prefix, kind).inc()
        log.warning("upstream %s for %s: %s", kind, route.prefix, type(exc).__name__)
        return error

    async def _respond(
        self,
        request: web.Request,
        route: Route,
        upstream: aiohttp.ClientResponse,
        decision: Decision,
    ) -> web.StreamResponse:
        status = upstream.status
        length = upstream.content_length
        if request.method == "HEAD" or status in _NO_BODY_STATUS or status < 200:
            response = web.StreamResponse(status=status, reason=upstream.reason)
            return await self._send(request, route, upstream, response, decision, stream=False)
        if length is None or length > _SMALL_BODY:
            response = web.StreamResponse(status=status, reason=upstream.reason)
            return await self._send(request, route, upstream, response, decision, stream=True)
        try:
            body = await upstream.read()
        except _UPSTREAM_ERRORS as exc:
            raise self.upstream_failure(route, exc) from exc
        response = web.Response(status=status, reason=upstream.reason, body=body)
        copy_response_headers(upstream.headers, response.headers)
        if decision.pair is not None or decision.clear_cookie:
            self.auth.apply_cookie(response, decision)
        return response

    async def _send(
        self,
        request: web.Request,
        route: Route,
        upstream: aiohttp.ClientResponse,
        response: web.StreamResponse,
        decision: Decision,
        *,
        stream: bool,
    ) -> web.StreamResponse:
        """Send the headers, then (``stream``) the body as it arrives."""
        copy_response_headers(upstream.headers, response.headers)
        self.auth.apply_cookie(response, decision)
        await response.prepare(request)
        if not stream:
            await response.write_eof()
            return response
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except ConnectionError:  # the client went away
            upstream.close()
            return response
        except (aiohttp.ClientError, TimeoutError) as exc:
            kind = "timeout" if isinstance(exc, TimeoutError) else "protocol"
            self._metrics.proxy_upstream_errors.labels(route.prefix, kind).inc()
            log.warning("upstream %s mid-response for %s", kind, route.prefix)
            upstream.close()
            if request.transport is not None:
                request.transport.close()  # the client must see a truncated body
            return response
        await response.write_eof()
        return response

    async def _unmatched(self, request: web.Request, path: str) -> web.StreamResponse:
        if self.table.is_reserved(path):
            await raise_for_reserved(request, _CATCH_ALL)
        target = self.table.slash_redirect(path)
        if target is not None:
            query = request.rel_url.raw_query_string
            location = f"{target}?{query}" if query else target
            return web.Response(status=308, headers={"Location": location})
        raise NotFound()

    def _count(self, prefix: str, status: int) -> None:
        key = (prefix, status)
        child = self._counted.get(key)
        if child is None:
            child = self._counted[key] = self._metrics.proxy_requests.labels(prefix, str(status))
        child.inc()


_CATCH_ALL = "/{tail}"
# Every proxied request leaves a few reference cycles (aiohttp futures, timers, frames) for the
# cyclic GC; with CPython's default young-generation threshold (700) a collection runs every few
# requests and cost ~15% of the proxy's CPU (measured here). Collecting 10x less often keeps the
# same garbage bounded (thousands of small objects) at a fraction of the cost. Restored when
# the application stops.
GC_YOUNG_THRESHOLD = 10_000
PROXY = web.AppKey("proxy", Proxy)


async def _proxy_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=0, limit_per_host=config.proxy.limit_per_upstream, ttl_dns_cache=60
        ),
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=_SKIP_AUTO,  # forward what the client sent, add nothing of our own
        auto_decompress=False,
        raise_for_status=False,
    )
    app[PROXY_SESSION] = session
    app[PROXY] = Proxy(config, session, app[AUTH], app[METRICS])
    previous = gc.get_threshold()
    gc.set_threshold(max(previous[0], GC_YOUNG_THRESHOLD), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        await session.close()


async def _handler(request: web.Request) -> web.StreamResponse:
    return await request.app[PROXY].handle(request)


def setup_routes(app: web.Application) -> None:
    """Open the proxy's session with the app and register the catch-all. Call it LAST: routes
    registered later at ``/`` would never be reached (aiohttp matches in registration order).
    Needs ``AUTH`` (``auth.auth_ctx``) earlier in ``cleanup_ctx``."""
    app.cleanup_ctx.append(_proxy_ctx)
    app.router.add_route("*", "/{tail:.*}", _handler)

"""The reverse proxy: a catch-all handler, registered last, forwarding to the configured routes.

Per request: the longest matching route (``access.RouteTable``, a host's own routes first); its
policy applied by the one decision (``server.access``: an authenticated caller its rule refuses
gets 403 ``access_denied``, or the "no access" page in a browser); headers rewritten
(``proxy.headers``); the body streamed to the upstream and the response streamed back (no full
buffering either way: flow control on both sockets bounds memory; a response of known length up
to 64 KiB is read whole and sent in one write, which is cheaper); WebSocket upgrades relayed on
routes that allow them (``proxy.websocket``).

One pooled ``ClientSession`` (``PROXY_SESSION``): ``DummyCookieJar`` (an upstream's cookies must
never reach another user), ``limit_per_host = proxy.limit_per_upstream`` and no global limit
(one slow upstream cannot starve the others), no automatic decompression, no redirects.
Failures before the response starts: connect error → 502 ``bad_gateway``; timeout (connect,
``route.timeout`` of silence while awaiting the response) → 504 ``gateway_timeout``; a broken
upstream response → 502. After the response started, the client connection is closed so the
client sees a truncated body rather than a wrong one.

Request paths are matched decoded; a path with dot segments or ``//`` is refused (400), since
the backend could normalise it into another route, and so (each a ``[proxy]`` option, on by
default) is a ``;``, a backslash or a percent-encoding left after decoding (``access.paths``).
The gateway's own paths are never proxied.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from gateway.errors import GatewayError, NotFound
from gateway.server.access import (
    ANONYMOUS,
    AccessRefused,
    AuthenticationRequired,
    Caller,
    Route,
    RouteTable,
    normalize_host,
    raise_for_reserved,
)
from gateway.server.caller import authenticate
from gateway.server.common import is_browser, login_redirect
from gateway.server.keys import PROXY, REQUEST_ID, ROUTE_LABEL
from gateway.server.pages import no_access_page
from gateway.server.proxy.headers import HeaderRules, copy_response_headers
from gateway.server.proxy.upstream import UPSTREAM_ERRORS, upstream_failure
from gateway.server.proxy.websocket import WebSocketRelay, is_websocket_upgrade
from gateway.server.telemetry import ProxyMetrics

__all__ = ["Proxy", "setup_routes"]

log = logging.getLogger("gateway.proxy")

_SMALL_BODY = 65_536
_NO_BODY_STATUS = frozenset({204, 304})


class Proxy:
    """Forwards requests for one application (see module doc)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        table: RouteTable,
        rules: HeaderRules,
        websockets: WebSocketRelay,
        metrics: ProxyMetrics,
    ) -> None:
        self.session = session
        self.table = table
        self.rules = rules
        self.websockets = websockets
        self._metrics = metrics
        self._check_path = table.paths.check
        self._counted: dict[tuple[str, int], Any] = {}
        self._durations = {
            r.prefix: metrics.upstream_duration.labels(r.prefix) for r in self.table.routes
        }

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The catch-all handler."""
        path = request.path
        table = self.table
        host = self._requested_host(request) if table.by_host else None
        route = None if table.is_reserved(path) else table.match(path, host)
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

    def _requested_host(self, request: web.Request) -> str:
        """The host the client asked for (``normalize_host``), for host-matched routes: a
        trusted proxy's ``X-Forwarded-Host`` (its first value), else ``Host``. From any other
        peer the header is ignored, so it cannot pick a more lenient route."""
        if self.rules.is_trusted(request.remote):
            forwarded = request.headers.get("X-Forwarded-Host")
            if forwarded:
                return normalize_host(forwarded.partition(",")[0])
        return normalize_host(request.host)

    async def _handle(self, request: web.Request, route: Route, path: str) -> web.StreamResponse:
        self._check_path(path)  # 400 for a path a backend could read as another
        caller = ANONYMOUS
        policy = route.policy
        if policy.auth != "public":
            try:
                caller = await authenticate(request, policy)
            except AuthenticationRequired:
                if not is_browser(request):
                    raise
                return login_redirect(request.rel_url.raw_path_qs)
            except AccessRefused:  # logged in but not allowed: a page, never a login loop
                if not is_browser(request):
                    raise
                return no_access_page(request)
        headers = self._upstream_headers(request, route, caller)
        if route.websocket and is_websocket_upgrade(request):
            return await self.websockets.relay(request, route, headers, caller)
        return await self._forward(request, route, headers)

    def _upstream_headers(
        self, request: web.Request, route: Route, caller: Caller
    ) -> CIMultiDict[str]:
        rules = self.rules
        trusted = rules.is_trusted(request.remote)
        headers = rules.upstream_headers(
            request.headers,
            trusted=trusted,
            strip_authorization=route.policy.auth != "public",
        )
        host = request.host
        rules.set_forwarded(
            headers, trusted=trusted, peer=request.remote, scheme=request.scheme, host=host
        )
        headers["Host"] = host if route.preserve_host else route.upstream_host
        headers["X-Request-Id"] = request[REQUEST_ID]  # one id in the gateway's and its logs
        if caller.claims is not None:
            rules.add_identity(headers, caller.claims, caller.token if route.pass_token else None)
        return headers

    async def _forward(
        self,
        request: web.Request,
        route: Route,
        headers: CIMultiDict[str],
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
        except UPSTREAM_ERRORS as exc:
            raise upstream_failure(self._metrics, route, exc) from exc
        self._durations[route.prefix].observe(time.perf_counter() - started)
        try:
            return await self._respond(request, route, upstream)
        finally:
            upstream.release()

    async def _respond(
        self,
        request: web.Request,
        route: Route,
        upstream: aiohttp.ClientResponse,
    ) -> web.StreamResponse:
        status = upstream.status
        length = upstream.content_length
        if request.method == "HEAD" or status in _NO_BODY_STATUS or status < 200:
            response = web.StreamResponse(status=status, reason=upstream.reason)
            return await self._send(request, route, upstream, response, stream=False)
        if length is None or length > _SMALL_BODY:
            response = web.StreamResponse(status=status, reason=upstream.reason)
            return await self._send(request, route, upstream, response, stream=True)
        try:
            body = await upstream.read()
        except UPSTREAM_ERRORS as exc:
            raise upstream_failure(self._metrics, route, exc) from exc
        response = web.Response(status=status, reason=upstream.reason, body=body)
        copy_response_headers(upstream.headers, response.headers)
        return response

    async def _send(
        self,
        request: web.Request,
        route: Route,
        upstream: aiohttp.ClientResponse,
        response: web.StreamResponse,
        *,
        stream: bool,
    ) -> web.StreamResponse:
        """Send the headers, then (``stream``) the body as it arrives."""
        copy_response_headers(upstream.headers, response.headers)
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
            self._metrics.upstream_errors.labels(route.prefix, kind).inc()
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
            child = self._counted[key] = self._metrics.requests.labels(prefix, str(status))
        child.inc()


_CATCH_ALL = "/{tail}"


async def _handler(request: web.Request) -> web.StreamResponse:
    return await request.app[PROXY].handle(request)


def setup_routes(app: web.Application) -> None:
    """Register the catch-all. Call it LAST: routes registered later at ``/`` would never be
    reached (aiohttp matches in registration order). The ``Proxy`` is built by the
    composition root (``server.app``)."""
    app.router.add_route("*", "/{tail:.*}", _handler)

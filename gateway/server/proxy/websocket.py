"""WebSocket relay for proxy routes with ``websocket = true``.

The upstream handshake is made first (with the rewritten, identity-carrying headers and the
client's subprotocols); only when it succeeds is the client's upgrade accepted, with the
subprotocol the upstream chose. Failures before that are ordinary 502/504 JSON answers.

Frames are relayed both ways as they come. Closing is propagated with its code and reason
(RFC 6455 §7.4): whichever side closes first, the other side is closed with the same code.

Authenticated sockets are watched: every ``proxy.websocket_recheck_interval`` seconds (and at
the token's ``exp``) the token is verified again; a revoked or expired token closes both sides
with 1008 (policy violation). The socket lives as long as its access token at most: a browser
reconnects and its session cookie is renewed then.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDict
from yarl import URL

from gateway.clock import Clock
from gateway.errors import GatewayError
from gateway.server.access import Access, Caller, Route
from gateway.server.proxy.upstream import UPSTREAM_ERRORS, upstream_failure
from gateway.server.telemetry import ProxyMetrics

__all__ = ["WebSocketRelay", "is_websocket_upgrade"]

POLICY_VIOLATION = 1008
_GOING_AWAY = 1001
_UNSENDABLE = frozenset({1005, 1006, 1015})  # RFC 6455 §7.4.1: never sent in a close frame
_HANDSHAKE = ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions")
_Socket = web.WebSocketResponse | aiohttp.ClientWebSocketResponse
_Close = tuple[int, str]


def is_websocket_upgrade(request: web.BaseRequest) -> bool:
    """True for an HTTP/1.1 ``Upgrade: websocket`` request."""
    return request.headers.get("Upgrade", "").lower() == "websocket"


@dataclass(frozen=True, slots=True)
class WebSocketRelay:
    """What a relay needs of the application: the proxy's upstream session, the decision (to
    re-check the token while the socket lives), the clock and metrics."""

    session: aiohttp.ClientSession
    access: Access
    clock: Clock
    metrics: ProxyMetrics
    recheck_interval: float

    async def relay(
        self,
        request: web.Request,
        route: Route,
        headers: CIMultiDict[str],
        caller: Caller,
    ) -> web.StreamResponse:
        """Connect upstream, accept the client, relay until either side closes."""
        return await _relay_websocket(self, request, route, headers, caller)


async def _relay_websocket(
    relay: WebSocketRelay,
    request: web.Request,
    route: Route,
    headers: CIMultiDict[str],
    caller: Caller,
) -> web.StreamResponse:
    protocols = [
        p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
    ]
    headers.popall("Sec-WebSocket-Protocol", None)
    for name in _HANDSHAKE:
        headers.popall(name, None)
    rel = request.rel_url
    url = URL(route.upstream_url(rel.raw_path, request.path, rel.raw_query_string), encoded=True)
    try:
        upstream = await relay.session.ws_connect(
            url,
            headers=headers,
            protocols=protocols,
            autoclose=False,
            autoping=True,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
            compress=0,
        )
    except UPSTREAM_ERRORS as exc:
        raise upstream_failure(relay.metrics, route, exc) from exc
    client = web.WebSocketResponse(
        protocols=(upstream.protocol,) if upstream.protocol else (),
        autoclose=False,
        autoping=True,
        compress=False,
    )
    try:
        await client.prepare(request)
        await _relay(relay, route, client, upstream, caller)
    finally:
        await upstream.close()
    return client


async def _relay(
    relay: WebSocketRelay,
    route: Route,
    client: web.WebSocketResponse,
    upstream: aiohttp.ClientWebSocketResponse,
    caller: Caller,
) -> None:
    to_upstream = asyncio.create_task(_pump(client, upstream))
    to_client = asyncio.create_task(_pump(upstream, client))
    tasks = {to_upstream, to_client}
    watch = None
    if caller.claims is not None and caller.token:
        watch = asyncio.create_task(_watch(relay, route, caller))
        tasks.add(watch)
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await _close_both(client, upstream, _closing(done, to_upstream, to_client, watch))


def _closing(
    done: set[asyncio.Task[_Close | None]],
    to_upstream: asyncio.Task[_Close | None],
    to_client: asyncio.Task[_Close | None],
    watch: asyncio.Task[_Close | None] | None,
) -> _Close:
    """The close code and reason to send on both sides."""
    if watch is not None and watch in done and not watch.cancelled():
        return watch.result() or (POLICY_VIOLATION, "session ended")
    for task in (to_upstream, to_client):
        if task in done and not task.cancelled() and task.exception() is None:
            result = task.result()
            if result is not None:
                return result
    return _GOING_AWAY, ""


async def _close_both(
    client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse, close: _Close
) -> None:
    code, reason = close
    message = reason.encode("utf-8")[:123]
    with contextlib.suppress(ConnectionError, aiohttp.ClientError, TimeoutError):
        await upstream.close(code=code, message=message)
    with contextlib.suppress(ConnectionError, TimeoutError):
        await client.close(code=code, message=message)


async def _pump(source: _Socket, sink: _Socket) -> _Close | None:
    """Copy frames from ``source`` to ``sink``; the close frame ``source`` sent, if any."""
    while True:
        msg = await source.receive()
        kind = msg.type
        if kind is WSMsgType.TEXT:
            await sink.send_str(msg.data)
        elif kind is WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
        elif kind is WSMsgType.CLOSE:
            code = msg.data if isinstance(msg.data, int) else 1000
            return (1000 if code in _UNSENDABLE else code), str(msg.extra or "")
        elif kind in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return None


async def _watch(relay: WebSocketRelay, route: Route, caller: Caller) -> _Close | None:
    """Return when the socket's token is revoked or expires (the caller closes with 1008)."""
    assert caller.claims is not None and caller.token is not None
    clock = relay.clock
    interval = max(0.01, relay.recheck_interval)
    expires = float(caller.claims.exp)
    while True:
        await asyncio.sleep(min(interval, max(0.0, expires - clock.time())))
        if clock.time() >= expires:
            return POLICY_VIOLATION, "token expired"
        try:
            relay.access.verify(caller.token, route.policy)
        except GatewayError:  # revoked (401) or no longer allowed here (403)
            return POLICY_VIOLATION, "token revoked"

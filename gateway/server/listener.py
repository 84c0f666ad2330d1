"""The main listener's connection limits, and what every response on it leaves out.

aiohttp waits for a request's headers as long as the client keeps the connection open: a client
trickling one header line every few seconds, or one that connects and sends nothing, holds a
connection (and its buffers) for ever. ``ConnectionGuard`` wraps aiohttp's protocol for each
connection of the main listener and enforces (``[server]`` keys):

- ``header_timeout`` (10 s): the request line and headers must all have arrived this long after
  the connection opened (first request) or after the first byte of the next request on a
  kept-alive connection; otherwise the connection is closed, with a 408 JSON answer when part of
  a request had arrived (nothing is said to a connection that never sent a byte).
- ``keepalive_timeout`` (75 s): a kept-alive connection idle this long between requests is
  closed (aiohttp's own timer, handed the value by ``run.serve``).
- ``max_connections_per_address`` (256, 0 = no cap): a client address's next connection beyond
  the cap is answered 429 (JSON, ``Retry-After``) and closed before anything is read. Peers in
  ``server.trusted_proxies`` are exempt: a front proxy carries many clients over its own
  connections (limit those at the proxy). The count is per process.

Request bodies and responses are not timed here: a handler that reads a body waits for it, and
the proxy's upstream timeouts bound the rest (see the README's note on front proxies).

Every response of the listener, aiohttp's own 400 for a request its parser refused included,
goes out without a ``Server`` header (``GatewayRequest``): the application's
``drop_server_header`` hook never runs for those, because no route matched.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import hdrs, web

from gateway.config import ServerConfig
from gateway.server.telemetry import ListenerMetrics

__all__ = [
    "ConnectionGuard",
    "ConnectionLimits",
    "GatewayRequest",
    "GuardedSite",
    "bare_responses",
]

log = logging.getLogger("gateway.server")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    max_per_address: int = 256
    exempt: tuple[Network, ...] = ()

    @classmethod
    def from_config(cls, server: ServerConfig) -> ConnectionLimits:
        exempt = tuple(ipaddress.ip_network(n, strict=False) for n in server.trusted_proxies)
        return cls(server.header_timeout, server.max_connections_per_address, exempt)

    def capped(self, address: str) -> bool:
        """Whether connections from ``address`` count against the per-address cap."""
        if self.max_per_address <= 0:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return True
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # a dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d
        return not any(ip in net for net in self.exempt)


class GatewayRequest(web.Request):
    """The listener's request class: every response it prepares drops ``Server``."""

    async def _prepare_hook(self, response: web.StreamResponse) -> None:
        await super()._prepare_hook(response)
        response.headers.popall(hdrs.SERVER, None)


def bare_responses(server: web.Server) -> None:
    """Make ``server`` (a runner's, before its site starts) build ``GatewayRequest``s: no
    ``Server`` header on any response, aiohttp's own 400s included. For listeners without a
    ``ConnectionGuard`` (which does the same)."""
    make = cast(Callable[..., web.BaseRequest], server.request_factory)
    server.request_factory = functools.partial(make, _cls=GatewayRequest)


def _raw_json(status: str, error: str, description: str, extra: str = "") -> bytes:
    """A complete HTTP/1.1 response written straight to the transport (no request object)."""
    body = json.dumps({"error": error, "error_description": description}).encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n{extra}"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class _Connection(asyncio.Protocol):
    """One client connection: aiohttp's protocol inside, the header timer and the count around."""

    def __init__(self, guard: ConnectionGuard, inner: web.RequestHandler) -> None:
        self._guard = guard
        self._inner = inner
        self._transport: asyncio.Transport | None = None
        self._address: str | None = None  # set once counted
        self._timer: asyncio.TimerHandle | None = None
        self._in_request = False
        self._got_bytes = False

    # -- asyncio.Protocol, forwarded to aiohttp's protocol once admitted

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport
        self._transport = transport
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if peer else ""
        if not self._guard.admit(address):
            transport.write(self._guard.refusal)
            transport.close()
            return
        self._address = address
        self._guard.track(self, self._inner)
        self._inner.connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._address is None:
            return
        if not self._in_request:
            self._got_bytes = True
            if self._timer is None:
                self._arm()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self._address is not None:
            self._inner.eof_received()
        return None  # close the transport (what aiohttp's protocol does too)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        if self._address is None:
            return
        self._guard.release(self, self._inner, self._address)
        self._address = None
        self._inner.connection_lost(exc)

    # -- the header timer

    def request_started(self) -> None:
        self._disarm()
        self._in_request, self._got_bytes = True, False

    def request_done(self) -> None:
        self._in_request = False  # the next byte starts the next request's timer

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._guard.limits.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        transport = self._transport
        if self._in_request or transport is None or transport.is_closing():
            return
        self._guard.count_closed("header_timeout")
        if self._got_bytes:
            transport.write(self._guard.timeout_answer)
        transport.close()


class ConnectionGuard:
    """Wraps the runner's ``web.Server`` (see the module doc); ``protocol`` is the listener's
    protocol factory. Install before the listener starts: aiohttp's protocol copies the
    server's request handler and factory when it is created."""

    def __init__(
        self, server: web.Server, limits: ConnectionLimits, metrics: ListenerMetrics
    ) -> None:
        self.limits = limits
        self._server = server
        self._metrics = metrics
        self._per_address: dict[str, int] = {}
        self._connections: dict[web.RequestHandler, _Connection] = {}
        self.refusal = _raw_json(
            "429 Too Many Requests",
            "rate_limited",
            "too many connections from this address",
            "Retry-After: 1\r\n",
        )
        self.timeout_answer = _raw_json(
            "408 Request Timeout",
            "request_timeout",
            f"the request headers did not arrive within {limits.header_timeout:g} s",
        )
        server.request_factory = self._request_factory(server.request_factory)
        server.request_handler = self._request_handler(server.request_handler)

    def protocol(self) -> asyncio.Protocol:
        return _Connection(self, self._server())

    def admit(self, address: str) -> bool:
        if not self.limits.capped(address):
            return True
        count = self._per_address.get(address, 0)
        if count >= self.limits.max_per_address:
            self.count_closed("per_address_limit")
            return False
        self._per_address[address] = count + 1
        return True

    def track(self, conn: _Connection, inner: web.RequestHandler) -> None:
        self._connections[inner] = conn
        self._metrics.open.inc()

    def release(self, conn: _Connection, inner: web.RequestHandler, address: str) -> None:
        self._connections.pop(inner, None)
        self._metrics.open.dec()
        count = self._per_address.get(address)
        if count is None:  # exempt, never counted
            return
        if count <= 1:
            del self._per_address[address]
        else:
            self._per_address[address] = count - 1

    def count_closed(self, reason: str) -> None:
        self._metrics.closed.labels(reason).inc()

    def _request_factory(self, make: Callable[..., web.BaseRequest]) -> Callable[..., Any]:
        connections = self._connections

        def factory(*args: Any) -> web.BaseRequest:
            conn = connections.get(args[2])  # (message, payload, protocol, writer, task)
            if conn is not None:
                conn.request_started()
            return make(*args, _cls=GatewayRequest)

        return factory

    def _request_handler(
        self, handle: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]:
        connections = self._connections

        async def handler(request: web.BaseRequest) -> web.StreamResponse:
            try:
                return await handle(request)
            finally:
                conn = connections.get(request.protocol)
                if conn is not None:
                    conn.request_done()

        return handler


class GuardedSite(web.BaseSite):
    """A listening socket whose connections go through ``protocol`` (a guard's factory)."""

    __slots__ = ("_name", "_protocol", "_sock")

    def __init__(
        self,
        runner: web.BaseRunner,
        sock: socket.socket,
        protocol: Callable[[], asyncio.Protocol],
    ) -> None:
        super().__init__(runner, backlog=2048)
        self._sock = sock
        self._protocol = protocol
        host, port = sock.getsockname()[:2]
        self._name = f"http://{host}:{port}"

    @property
    def name(self) -> str:
        return self._name

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, sock=self._sock, backlog=self._backlog
        )

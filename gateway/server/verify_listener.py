"""The lean forward-auth listener: ``/auth/verify`` alone on its own port, without aiohttp's web
layer (``forward_auth.listen_port``; off by default).

Why: behind nginx ``auth_request`` every proxied request costs one ``/auth/verify``, and most of
that answer's CPU went to aiohttp's web layer (the request object, the router, the middleware
chain, the response object), not to the decision. Here an ``asyncio.Protocol`` feeds bytes to
the HTTP parser aiohttp already uses (its C ``HttpRequestParser``), hands each request to the
same ``ForwardAuth.handle`` as the main listener — so the one decision (``server.access``), the
route table, the header rules, the cookie renewal (``write_cookie_change``) and every rule the
decision gains later apply unchanged — and writes the answer's bytes itself. Metrics and the
access log are the middleware's (``middlewares.record``), with the route label
``/auth/verify``; errors are the middleware's JSON (``error_response``).

``ForwardAuth.handle`` receives a ``LeanRequest``: the parts of ``web.Request`` that forward
auth and the decision read (``app``, ``method``, ``headers``, ``cookies``, ``query``,
``rel_url``, ``match_info``, ``remote``, per-request keys). Anything else it would read fails
loudly in the tests of this module, which run every forward-auth case through both listeners.

Only ``/auth/verify`` and ``/auth/verify/{tail}`` are answered (404 JSON otherwise); a request
body is read and ignored; requests on one connection are answered in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Coroutine, Generator, Mapping
from email.utils import formatdate
from functools import partial
from types import MappingProxyType
from typing import Any, cast

from aiohttp import web
from aiohttp._cookie_helpers import parse_cookie_header
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.http_parser import HttpRequestParser, RawRequestMessage
from multidict import CIMultiDictProxy, MultiDictProxy

from gateway.errors import GatewayError, NotFound
from gateway.server.keys import CONFIG, FORWARD_AUTH, METRICS, REQUEST_ID
from gateway.server.middlewares import error_response, new_request_id, record
from gateway.server.proxy import VERIFY_PATH

__all__ = ["LeanRequest", "VerifyListener", "start_verify_listener"]

log = logging.getLogger("gateway.server")

_TAIL = VERIFY_PATH + "/"


class LeanRequest(dict[Any, Any]):
    """What forward auth reads of a request (module doc); per-request keys are its items."""

    __slots__ = ("_cookies", "app", "headers", "match_info", "method", "rel_url", "remote")

    def __init__(self, app: web.Application, message: RawRequestMessage, remote: str) -> None:
        super().__init__()
        self.app = app
        self.method = message.method
        self.headers: CIMultiDictProxy[str] = message.headers
        self.rel_url = message.url
        path = message.url.path
        self.match_info = {"tail": path[len(_TAIL) :]} if path.startswith(_TAIL) else {}
        self.remote = remote
        self._cookies: Mapping[str, str] | None = None

    @property
    def cookies(self) -> Mapping[str, str]:
        if self._cookies is None:  # aiohttp's own parser, as BaseRequest.cookies
            parsed = parse_cookie_header(self.headers.get("Cookie", ""))
            self._cookies = MappingProxyType({name: m.value for name, m in parsed})
        return self._cookies

    @property
    def query(self) -> MultiDictProxy[str]:
        return self.rel_url.query


class _Date:
    """The ``Date`` header value, formatted once a second."""

    second = -1
    value = ""

    @classmethod
    def now(cls) -> str:
        second = int(time.time())
        if second != cls.second:
            cls.second, cls.value = second, formatdate(second, usegmt=True)
        return cls.value


def _serialize(response: web.Response, close: bool, head: bool = False) -> bytes:
    """The response's bytes; for a HEAD request, its headers only (RFC 9110 §9.3.2)."""
    body = response.body if isinstance(response.body, bytes) else b""
    lines = [f"HTTP/1.1 {response.status} {response.reason}"]
    for name, value in response.headers.items():
        if name in ("Content-Length", "Server", "Date", "Connection"):
            continue
        if "\r" in value or "\n" in value:  # as aiohttp: never let a value split the header
            raise ValueError(f"newline in the {name} header")
        lines.append(f"{name}: {value}")
    lines.append(f"Date: {_Date.now()}")
    lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head else body)


class _VerifyProtocol(BaseProtocol):
    """One connection: parse, answer in order, keep alive unless asked not to."""

    def __init__(
        self,
        app: web.Application,
        loop: asyncio.AbstractEventLoop,
        connections: set[_VerifyProtocol],
    ) -> None:
        super().__init__(loop)
        self._connections = connections
        self._app = app
        self._loop = loop
        max_field = max(8190, app[CONFIG].tokens.max_token_bytes * 2 + 1024)
        self._http = HttpRequestParser(self, loop, 2**16, max_field_size=max_field)
        self._queue: deque[RawRequestMessage] = deque()
        self._busy = False
        self._remote = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        self._remote = peer[0] if isinstance(peer, tuple) else ""
        self._connections.add(self)

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self._connections.discard(self)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        try:
            messages, _, _ = self._http.feed_data(data)
        except HttpProcessingError as exc:
            self._refuse(exc)
            return
        for message, _payload in messages:
            self._queue.append(message)
        if not self._busy:
            self._run()

    def _refuse(self, exc: HttpProcessingError) -> None:
        log.info("verify listener refused the client's request (%s)", type(exc).__name__)
        response = error_response(400, "invalid_request", "the request is malformed", "-")
        if self.transport is not None:
            self.transport.write(_serialize(response, close=True))
            self.transport.close()

    def _run(self) -> None:
        """Answer the queued requests in order. A decision that does not wait (a verified
        token: the common case) is answered right here, without a task; one that waits (a
        session renewal) continues in a task, and later requests wait for it."""
        while self._queue and self.transport is not None and not self.transport.is_closing():
            message = self._queue.popleft()
            close = message.should_close
            answer = self._answer(message, close)
            try:
                waiting_on = answer.send(None)
            except StopIteration as done:
                self._send(done.value, close)
                continue
            self._busy = True
            self._loop.create_task(self._finish(_Resumed(answer, waiting_on), close))
            return

    async def _finish(self, answer: _Resumed, close: bool) -> None:
        try:
            self._send(await answer, close)
        finally:
            self._busy = False
        self._run()

    def _send(self, data: bytes, close: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(data)
        if close:
            self.transport.close()

    async def _answer(self, message: RawRequestMessage, close: bool) -> bytes:
        started = time.perf_counter()
        request = LeanRequest(self._app, message, self._remote)
        request_id = new_request_id(request.headers.get("X-Request-Id", ""))
        request[REQUEST_ID] = request_id
        metrics = self._app[METRICS]
        metrics.http_in_flight.inc()
        try:
            response = await self._respond(request, request_id)
            response.headers["X-Request-Id"] = request_id
            head = message.method == "HEAD"
            try:
                data = _serialize(response, close, head)
            except ValueError:
                log.error("forward auth answer with a header value aiohttp would refuse")
                response = error_response(500, "server_error", "internal error", request_id)
                data = _serialize(response, close, head)
        finally:
            metrics.http_in_flight.dec()
        path = message.url.path
        route = VERIFY_PATH if path == VERIFY_PATH or request.match_info else "unmatched"
        record(_as_request(request), route, path, response.status, time.perf_counter() - started)
        return data

    async def _respond(self, request: LeanRequest, request_id: str) -> web.Response:
        path = request.rel_url.path
        try:
            if path != VERIFY_PATH and not request.match_info:
                raise NotFound()
            response = await self._app[FORWARD_AUTH].handle(_as_request(request))
        except GatewayError as exc:
            response = error_response(
                exc.status, exc.error, exc.description, request_id, exc.headers
            )
        except Exception:
            log.exception("forward auth failed on the verify listener")
            response = error_response(500, "server_error", "internal error", request_id)
        if not isinstance(response, web.Response):  # handle() answers with whole responses
            raise TypeError("forward auth streamed a response")
        for hook in self._app.on_response_prepare:  # the renewed session cookie, no Server
            await hook(_as_request(request), response)
        return response


class _Resumed:
    """Awaitable: the rest of a coroutine that already ran up to its first suspension
    (``waiting_on``, what it yielded), driven by whichever task awaits this."""

    def __init__(self, coro: Coroutine[Any, Any, bytes], waiting_on: Any) -> None:
        self._coro = coro
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, bytes]:
        yielded = self._waiting_on
        while True:
            try:
                sent = yield yielded
            except BaseException as exc:  # thrown in by the task (a cancellation): pass it on
                step = partial(self._coro.throw, exc)
            else:
                step = partial(self._coro.send, sent)
            try:
                yielded = step()
            except StopIteration as done:
                return cast(bytes, done.value)


def _as_request(request: LeanRequest) -> web.Request:
    """``request`` where a ``web.Request`` is typed: it has every part forward auth reads."""
    return cast(web.Request, request)


class VerifyListener:
    """The listening socket and its open connections."""

    def __init__(self, server: asyncio.Server, connections: set[_VerifyProtocol]) -> None:
        self._server = server
        self._connections = connections

    @property
    def port(self) -> int:
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop accepting, then close every connection (an answer being written finishes:
        it is written synchronously once the decision returns)."""
        self._server.close()
        for protocol in list(self._connections):
            protocol.close()
        self._connections.clear()
        await self._server.wait_closed()


async def start_verify_listener(
    app: web.Application, host: str, port: int, *, reuse_port: bool = False
) -> VerifyListener:
    """Serve ``/auth/verify`` of the started ``app`` on ``host:port`` (module doc)."""
    loop = asyncio.get_running_loop()
    connections: set[_VerifyProtocol] = set()

    def factory() -> _VerifyProtocol:
        return _VerifyProtocol(app, loop, connections)

    server = await loop.create_server(
        factory, host, port, reuse_address=True, reuse_port=reuse_port or None, backlog=2048
    )
    return VerifyListener(server, connections)

"""The PC page's three ways to wait on a ticket, all fed by the same hub and events.

Each sends the current state at once on connect, then every later state, as the JSON object
``{"state", "ticket", "seq", "expires_in"}``:

- ``GET /auth/qr/{ticket}/ws``: WebSocket, one text frame per state; closed (1000) after a
  final state (redeemed, denied, expired), 1001 when the server shuts down.
- ``GET /auth/qr/{ticket}/events``: Server-Sent Events (``retry:`` hint, then ``id: <seq>``,
  ``event: <state>``, ``data: <json>``; ``: keep-alive`` comments every ``sse_heartbeat`` s).
  ``Last-Event-ID`` (header, or ``last_event_id`` query) resumes: the current state is sent
  only if it advanced past that id; a final state already seen answers 204 so EventSource
  stops reconnecting. The stream ends after a final state.
- ``GET /auth/qr/{ticket}/status?wait=25&after=<state>``: long-poll. Answers at once unless
  the state equals ``after``; then waits up to ``min(wait, longpoll_max_wait)`` seconds.

A client that went away is noticed at once on WebSocket (its reader ends) and at the next
write on SSE (heartbeat) or long-poll (the answer); the waiter is released then. Waiters are
capped per ticket (``scan.max_waiters_per_ticket``) and per client address
(``limits.waiters_per_address``, the address ``common.client_ip`` finds behind trusted
proxies), each per process: 429 ``rate_limited`` with ``Retry-After`` before any stream starts.
Every lookup (each of the three, connected or not) also counts against the address's
``limits.status_per_address`` (a Store counter, so across replicas): 429 past it.
``scan_notify_latency{transport}`` is observed per frame written that carries a transition.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSMsgType, web

from gateway.errors import InvalidRequest
from gateway.login import SEQ, ScanMetrics, TicketEvent, Waiter, WaiterClosed
from gateway.server.common import NO_STORE, client_ip
from gateway.server.keys import CLOCK, LIMITER, METRICS, SCAN

__all__ = ["setup_routes"]

SSE_RETRY_MS = 2000
WS_HEARTBEAT = 30.0
_ENDED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


def _observe(request: web.Request, transport: str, event: TicketEvent) -> None:
    if event.pushed:
        latency = request.app[CLOCK].time() - event.committed_at
        request.app[METRICS].of(ScanMetrics).notify_latency.labels(transport).observe(
            max(0.0, latency)
        )


# -- WebSocket ----------------------------------------------------------------------------


async def _read_until_closed(ws: web.WebSocketResponse, waiter: Waiter) -> None:
    """Drain the client's frames (pongs, close); tell the waiter when the client is gone."""
    try:
        while (await ws.receive()).type not in _ENDED:
            pass
    finally:
        waiter.close()


async def websocket(request: web.Request) -> web.StreamResponse:
    client = client_ip(request)
    await request.app[LIMITER].hit("status", client)
    waiter = request.app[SCAN].watch(request.match_info["ticket"], "websocket", client)
    async with waiter:  # unknown ticket, too many waiters: an HTTP error before the upgrade
        # No permessage-deflate: a zlib context per socket would cost more than the frames.
        ws = web.WebSocketResponse(
            heartbeat=WS_HEARTBEAT, timeout=5.0, compress=False, max_msg_size=4096
        )
        await ws.prepare(request)
        reader = asyncio.get_running_loop().create_task(_read_until_closed(ws, waiter))
        code = 1000
        try:
            while True:
                event = await waiter.next()
                assert event is not None
                await ws.send_str(event.json(request.app[CLOCK].time()))
                _observe(request, "websocket", event)
                if event.terminal:
                    break
        except WaiterClosed:
            code = 1001
        except ConnectionError:
            pass
        finally:
            with contextlib.suppress(ConnectionError):
                await ws.close(code=code)
            reader.cancel()
            await asyncio.wait({reader})
            if not reader.cancelled():
                reader.exception()  # retrieved: a broken socket is not worth a log line
    return ws


# -- Server-Sent Events -------------------------------------------------------------------


def _sse(event: TicketEvent, now: float) -> bytes:
    return f"id: {event.seq}\nevent: {event.state}\ndata: {event.json(now)}\n\n".encode()


def _last_event_id(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    if not raw:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        return None  # not one of ours: start afresh


async def events(request: web.Request) -> web.StreamResponse:
    client = client_ip(request)
    await request.app[LIMITER].hit("status", client)
    last_id = _last_event_id(request)
    heartbeat = request.app[SCAN].config.sse_heartbeat
    waiter = request.app[SCAN].watch(request.match_info["ticket"], "sse", client)
    async with waiter:
        event = await waiter.next()
        assert event is not None
        if last_id is not None and event.seq <= last_id:
            if event.terminal:
                return web.Response(status=204, headers=NO_STORE)
            event = None  # the client has this state already
        response = web.StreamResponse(
            headers={**NO_STORE, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        await _stream(request, response, waiter, event, heartbeat)
    return response


async def _stream(
    request: web.Request,
    response: web.StreamResponse,
    waiter: Waiter,
    event: TicketEvent | None,
    heartbeat: float,
) -> None:
    clock = request.app[CLOCK]
    prefix = f"retry: {SSE_RETRY_MS}\n\n".encode()
    try:
        while True:
            if event is not None:
                await response.write(prefix + _sse(event, clock.time()))
                _observe(request, "sse", event)
                if event.terminal:
                    return
            else:
                await response.write(prefix or b": keep-alive\n\n")
            prefix = b""
            event = await waiter.next(timeout=heartbeat)
    except (WaiterClosed, ConnectionError):
        return


# -- long-poll ----------------------------------------------------------------------------


def _wait_seconds(request: web.Request, limit: float) -> float:
    raw = request.query.get("wait", "0")
    try:
        wait = float(raw)
    except ValueError:
        raise InvalidRequest("wait must be a number of seconds") from None
    if wait != wait:  # NaN
        raise InvalidRequest("wait must be a number of seconds")
    return min(max(wait, 0.0), limit)


async def status(request: web.Request) -> web.Response:
    scan, clock = request.app[SCAN], request.app[CLOCK]
    client = client_ip(request)
    await request.app[LIMITER].hit("status", client)
    ticket_id = request.match_info["ticket"]
    after = request.query.get("after")
    wait = _wait_seconds(request, scan.config.longpoll_max_wait)
    ticket = await scan.get(ticket_id)
    event = TicketEvent.of(ticket, clock.time(), pushed=False)
    if after == event.state and not event.terminal and wait > 0:
        event = await _long_wait(request, ticket_id, after, wait, client)
    return web.json_response(event.frame(clock.time()), headers=NO_STORE)


async def _long_wait(
    request: web.Request, ticket_id: str, after: str, wait: float, client: str
) -> TicketEvent:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    async with request.app[SCAN].watch(ticket_id, "longpoll", client) as waiter:
        event = await waiter.next()
        assert event is not None
        while event.state == after and event.seq == SEQ.get(after):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                nxt = await waiter.next(timeout=remaining)
            except WaiterClosed:
                break
            if nxt is None:
                break
            event = nxt
            _observe(request, "longpoll", event)
    return event


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/auth/qr/{ticket}/ws", websocket, allow_head=False)
    r.add_get("/auth/qr/{ticket}/events", events, allow_head=False)
    r.add_get("/auth/qr/{ticket}/status", status)

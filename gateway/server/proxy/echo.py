"""The dev-mode echo upstream at ``/_sim/echo``: shows exactly what a backend receives.

Mounted only in dev mode with ``proxy.echo_upstream = true``; the dev config's routes use the
upstream ``echo``, which ``Config.resolved()`` points here. Any method on
``/_sim/echo/<path>`` answers JSON ``{"method", "path", "headers", "query"}``: ``path`` is the
path as the backend received it (without the ``/_sim/echo`` mount), ``headers`` every header
it received (repeated ones joined with ``", "``). The request body is read and discarded.

A WebSocket upgrade is accepted and every text or binary message is sent back; a close frame
is answered with the same code.
"""

from __future__ import annotations

from aiohttp import WSMsgType, web

from gateway.server.common import NO_STORE

__all__ = ["MOUNT", "setup_routes"]

MOUNT = "/_sim/echo"


async def echo(request: web.Request) -> web.StreamResponse:
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await _echo_websocket(request)
    async for _ in request.content.iter_any():  # drain the body; it is not echoed
        pass
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    path = request.rel_url.raw_path[len(MOUNT) :] or "/"
    body = {
        "method": request.method,
        "path": path,
        "query": request.rel_url.raw_query_string,
        "headers": headers,
    }
    return web.json_response(body, headers=NO_STORE)


async def _echo_websocket(request: web.Request) -> web.WebSocketResponse:
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    ws = web.WebSocketResponse(protocols=[p for p in offered if p], autoclose=False)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    if ws.close_code is not None and not ws.closed:
        await ws.close(code=ws.close_code)
    else:
        await ws.close()
    return ws


def setup_routes(app: web.Application) -> None:
    """Register the echo upstream (dev mode only: the caller checks)."""
    app.router.add_route("*", MOUNT, echo)
    app.router.add_route("*", MOUNT + "/{tail:.*}", echo)

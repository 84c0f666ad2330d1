"""HTTP adapter of the official account's server URL (flow E, reference §2.15).

``GET /auth/wechat/{app}/events?signature=&timestamp=&nonce=&echostr=``: WeChat's handshake,
answered with ``echostr`` as ``text/plain`` only when the signature matches (403 otherwise).

``POST /auth/wechat/{app}/events?signature=&timestamp=&nonce=&openid=[&encrypt_type=aes
&msg_signature=]`` with an XML body of at most 64 KiB (413 past it, read no further): verified,
de-duplicated and answered by ``login.PushReceiver`` (``success``, or the welcome text as a
passive reply). ``{app}`` is the app's name in config (``mp`` in dev). Refusals are JSON 4xx
``{"error", "error_description"}`` rendered by the middleware.
"""

from __future__ import annotations

from aiohttp import web

from gateway.errors import PayloadTooLarge
from gateway.server.common import NO_STORE, body_error
from gateway.server.keys import PUSHES
from gateway.wechat import MAX_EVENT_BODY

__all__ = ["setup_routes"]


async def handshake(request: web.Request) -> web.Response:
    echostr = request.app[PUSHES].handshake(request.match_info["app"], request.query)
    return web.Response(text=echostr, content_type="text/plain", headers=NO_STORE)


async def _read_capped(request: web.Request) -> bytes:
    """The body, refused (413) once it passes ``MAX_EVENT_BODY`` bytes."""
    too_large = PayloadTooLarge(f"an event body is at most {MAX_EVENT_BODY} bytes")
    if (request.content_length or 0) > MAX_EVENT_BODY:
        raise too_large
    chunks, size = [], 0
    try:
        while chunk := await request.content.readany():
            size += len(chunk)
            if size > MAX_EVENT_BODY:
                raise too_large
            chunks.append(chunk)
    except web.RequestPayloadError as exc:
        raise body_error(exc) or too_large from exc
    return b"".join(chunks)


async def push(request: web.Request) -> web.Response:
    receiver, name = request.app[PUSHES], request.match_info["app"]
    try:
        body = await _read_capped(request)
    except PayloadTooLarge:
        receiver.refuse_oversized(name)
        raise
    reply = await receiver.receive(name, request.query, body)
    return web.Response(body=reply.body, content_type=reply.content_type, charset="utf-8")


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/auth/wechat/{app}/events", handshake, allow_head=False)
    app.router.add_post("/auth/wechat/{app}/events", push)

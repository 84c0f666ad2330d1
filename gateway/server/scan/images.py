"""Images of a ticket: its QR code (PNG, SVG) and its mini-program code.

``GET /auth/qr/{ticket}/image.png`` and ``image.svg`` encode the ticket's ``qr_content``
(``<public URL>/auth/qr/<ticket>/scan``; for a follow-login ticket, the ``url`` WeChat's
``qrcode/create`` returned, reference §2.15) with the ``qrcode`` package: PNG through its pure
PyPNG writer (no Pillow), SVG as one path. Box size and border come from config, clamped to
sane bounds. ``GET /auth/qr/{ticket}/wxacode.png`` is the mini-program code from
``wxa/getwxacodeunlimit`` with ``scene`` = the ticket id (reference §2.14, §6.12: page and
env_version from the mini-program app's config, ``check_path`` false outside ``release``);
JPEG or PNG as WeChat sends it (Content-Type by magic bytes).

Each image is made once per ticket (``SingleFlight``: concurrent requests share one render or
one WeChat call, and a client that goes away does not cancel it for the others; QR rendering
runs in a worker thread, it is pure Python) and remembered in a bounded in-process LRU for the
ticket's life. Responses are ``Cache-Control: private`` with a max-age
no longer than the ticket has left. A ticket that is no longer live has no image (404).
"""

from __future__ import annotations

import asyncio
import io

import qrcode
import qrcode.image.pure
import qrcode.image.svg
from aiohttp import web

from gateway.clock import Clock
from gateway.config import Config, WeChatAppConfig
from gateway.errors import NotFound
from gateway.login import LIVE_STATES, Ticket
from gateway.server.keys import CLOCK, CONFIG, IMAGE_CACHES, SCAN, WECHAT
from gateway.singleflight import SingleFlight
from gateway.wechat import image_mime

__all__ = ["ImageCache", "image_caches", "miniprogram_app", "render_qr", "setup_routes"]

QR_CACHE_SIZE = 2048
WXACODE_CACHE_SIZE = 256
Image = tuple[bytes, str]  # body, content type


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def render_qr(content: str, kind: str, box_size: int, border: int) -> Image:
    """The QR code of ``content`` as PNG or SVG bytes."""
    factory = qrcode.image.pure.PyPNGImage if kind == "png" else qrcode.image.svg.SvgPathImage
    qr = qrcode.QRCode(
        box_size=_clamp(box_size, 1, 40), border=_clamp(border, 0, 16), image_factory=factory
    )
    qr.add_data(content)
    qr.make(fit=True)
    buffer = io.BytesIO()
    qr.make_image().save(buffer)
    return buffer.getvalue(), "image/png" if kind == "png" else "image/svg+xml"


ImageCache = SingleFlight[str, Image]
"""Images by key, made once (single flight) and remembered until their ticket expires."""


def miniprogram_app(config: Config) -> tuple[str, WeChatAppConfig] | None:
    """The mini-program app whose code the tickets use (``login.miniprogram_app``)."""
    return config.app_named("miniprogram", config.login.miniprogram_app)


def image_caches(clock: Clock) -> dict[str, ImageCache]:
    """The QR image cache and the mini-program code cache (built by ``server.app``)."""
    return {
        "qr": ImageCache(clock, capacity=QR_CACHE_SIZE, name="scan-qr-image"),
        "wxacode": ImageCache(clock, capacity=WXACODE_CACHE_SIZE, name="scan-wxacode"),
    }


async def _live_ticket(request: web.Request) -> Ticket:
    ticket = await request.app[SCAN].get(request.match_info["ticket"])
    now = request.app[CLOCK].time()
    if ticket.effective_state(now) not in LIVE_STATES:
        raise NotFound("the ticket is no longer live")
    return ticket


def _left(request: web.Request, expires_at: float) -> float:
    """Seconds until ``expires_at`` (the ticket's expiry, wall clock): how long to keep it."""
    return expires_at - request.app[CLOCK].time()


def _image_response(request: web.Request, image: Image, expires_at: float) -> web.Response:
    left = max(0, int(expires_at - request.app[CLOCK].time()))
    headers = {"Cache-Control": f"private, max-age={left}", "X-Content-Type-Options": "nosniff"}
    return web.Response(body=image[0], content_type=image[1], headers=headers)


async def qr_image(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    ticket = await _live_ticket(request)
    ticket_id, expires_at = ticket.id, ticket.expires_at
    config = request.app[CONFIG]
    # A follow-login ticket (flow E) shows the parametric QR's url (reference §2.15).
    content = ticket.field("qr_url") or f"{config.public_url}/auth/qr/{ticket_id}/scan"

    async def make() -> Image:
        box, border = config.scan.qr_box_size, config.scan.qr_border
        return await asyncio.to_thread(render_qr, content, kind, box, border)

    cache = request.app[IMAGE_CACHES]["qr"]
    image = await cache.run(f"{ticket_id}.{kind}", make, remember=_left(request, expires_at))
    return _image_response(request, image, expires_at)


async def wxacode(request: web.Request) -> web.Response:
    found = miniprogram_app(request.app[CONFIG])
    if found is None:
        raise NotFound("no mini-program is configured")
    ticket = await _live_ticket(request)
    if ticket.field("flow") == "follow":
        raise NotFound("a follow-login ticket has no mini-program code")
    ticket_id, expires_at, app_name = ticket.id, ticket.expires_at, found[0]

    async def make() -> Image:
        body = await request.app[WECHAT].get_wxacode_unlimit(app_name, ticket_id)
        return body, image_mime(body) or "image/jpeg"

    cache = request.app[IMAGE_CACHES]["wxacode"]
    image = await cache.run(ticket_id, make, remember=_left(request, expires_at))
    return _image_response(request, image, expires_at)


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/auth/qr/{ticket}/image.{kind:png|svg}", qr_image)
    r.add_get("/auth/qr/{ticket}/wxacode.png", wxacode)

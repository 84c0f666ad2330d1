"""Images of a ticket: its QR code (PNG, SVG) and its mini-program code.

``GET /auth/qr/{ticket}/image.png`` and ``image.svg`` encode the ticket's ``qr_content``
(``<public URL>/auth/qr/<ticket>/scan``) with the ``qrcode`` package: PNG through its pure
PyPNG writer (no Pillow), SVG as one path. Box size and border come from config, clamped to
sane bounds. ``GET /auth/qr/{ticket}/wxacode.png`` is the mini-program code from
``wxa/getwxacodeunlimit`` with ``scene`` = the ticket id (reference §2.14, §6.12: page and
env_version from the mini-program app's config, ``check_path`` false outside ``release``);
JPEG or PNG as WeChat sends it (Content-Type by magic bytes).

Each image is made once per ticket (single-flight: concurrent requests share one render or one
WeChat call; QR rendering runs in a worker thread, it is pure Python) and kept in a bounded
in-process LRU for the ticket's life. Responses are ``Cache-Control: private`` with a max-age
no longer than the ticket has left. A ticket that is no longer live has no image (404).
"""

from __future__ import annotations

import asyncio
import io
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import qrcode
import qrcode.image.pure
import qrcode.image.svg
from aiohttp import web

from gateway.config import Config, WeChatAppConfig
from gateway.errors import NotFound
from gateway.login.scan_ticket import LIVE_STATES
from gateway.server.keys import CLOCK, CONFIG, SCAN, WECHAT
from gateway.wechat.protocol import image_mime

__all__ = ["ImageCache", "miniprogram_app", "render_qr", "setup_routes"]

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


class ImageCache:
    """A bounded LRU of images with expiry, plus single-flight production per key."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, tuple[float, Image]] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[Image]] = {}

    def __len__(self) -> int:
        return len(self._items)

    async def get(
        self, key: str, now: float, expires_at: float, make: Callable[[], Awaitable[Image]]
    ) -> Image:
        """The cached image, or ``make()``'s, kept until ``expires_at`` (clock seconds)."""
        item = self._items.get(key)
        if item is not None and item[0] > now:
            self._items.move_to_end(key)
            return item[1]
        task = self._inflight.get(key)
        if task is None:
            # A task of its own: a client that goes away does not cancel the others' image.
            task = asyncio.get_running_loop().create_task(self._make(key, expires_at, make))
            task.add_done_callback(_retrieve)
            self._inflight[key] = task
        return await asyncio.shield(task)

    async def _make(
        self, key: str, expires_at: float, make: Callable[[], Awaitable[Image]]
    ) -> Image:
        try:
            image = await make()
        finally:
            del self._inflight[key]
        self._items[key] = (expires_at, image)
        while len(self._items) > self._size:
            self._items.popitem(last=False)
        return image


def _retrieve(task: asyncio.Task[Image]) -> None:
    if not task.cancelled():
        task.exception()  # the requests that shared it saw it; never "never retrieved"


def miniprogram_app(config: Config) -> tuple[str, WeChatAppConfig] | None:
    """The mini-program app whose code the tickets use (``login.miniprogram_app``)."""
    return config.app_named("miniprogram", config.login.miniprogram_app)


IMAGE_CACHES = web.AppKey("scan_image_caches", dict[str, ImageCache])


def _caches(app: web.Application) -> dict[str, ImageCache]:
    return app[IMAGE_CACHES]


async def _live_ticket_expiry(request: web.Request) -> tuple[str, float]:
    ticket = await request.app[SCAN].get(request.match_info["ticket"])
    now = request.app[CLOCK].time()
    if ticket.effective_state(now) not in LIVE_STATES:
        raise NotFound("the ticket is no longer live")
    return ticket.id, ticket.expires_at


def _image_response(request: web.Request, image: Image, expires_at: float) -> web.Response:
    left = max(0, int(expires_at - request.app[CLOCK].time()))
    headers = {"Cache-Control": f"private, max-age={left}", "X-Content-Type-Options": "nosniff"}
    return web.Response(body=image[0], content_type=image[1], headers=headers)


async def qr_image(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    ticket_id, expires_at = await _live_ticket_expiry(request)
    config = request.app[CONFIG]
    content = f"{config.public_url}/auth/qr/{ticket_id}/scan"

    async def make() -> Image:
        box, border = config.scan.qr_box_size, config.scan.qr_border
        return await asyncio.to_thread(render_qr, content, kind, box, border)

    now = request.app[CLOCK].time()
    image = await _caches(request.app)["qr"].get(f"{ticket_id}.{kind}", now, expires_at, make)
    return _image_response(request, image, expires_at)


async def wxacode(request: web.Request) -> web.Response:
    found = miniprogram_app(request.app[CONFIG])
    if found is None:
        raise NotFound("no mini-program is configured")
    ticket_id, expires_at = await _live_ticket_expiry(request)
    app_name = found[0]

    async def make() -> Image:
        body = await request.app[WECHAT].get_wxacode_unlimit(app_name, ticket_id)
        return body, image_mime(body) or "image/jpeg"

    now = request.app[CLOCK].time()
    image = await _caches(request.app)["wxacode"].get(ticket_id, now, expires_at, make)
    return _image_response(request, image, expires_at)


def setup_routes(app: web.Application) -> None:
    app[IMAGE_CACHES] = {"qr": ImageCache(QR_CACHE_SIZE), "wxacode": ImageCache(WXACODE_CACHE_SIZE)}
    r = app.router
    r.add_get("/auth/qr/{ticket}/image.{kind:png|svg}", qr_image)
    r.add_get("/auth/qr/{ticket}/wxacode.png", wxacode)

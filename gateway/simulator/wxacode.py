"""Simulated ``wxa/getwxacodeunlimit``: validation and a real, scannable image.

reference §2.14/§5.11: the body must be JSON (else 40169); ``scene`` 1-32 characters (40169)
from the allowed set (40129); ``page`` without a leading ``/`` and, with ``check_path`` (default
true), published (41030). The image is a standard QR code (WeChat draws a round "sun code";
nothing can scan a real one here anyway) of ``wxsim://wxacode?appid=..&env_version=..&page=..
&scene=..``: a baseline JPEG, or a transparent PNG when ``is_hyaline`` (the real format of
transparent codes is unconfirmed, §9). Every code issued is recorded in ``issued``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from gateway.simulator.images import encode_block_jpeg, encode_png, qr_matrix, upscale
from gateway.simulator.model import SimError, SimOptions
from gateway.simulator.server_tokens import ServerTokens

__all__ = ["WxaCode", "WxaCodes"]

_SCENE_CHARS = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]+")
_ENV_VERSIONS = ("release", "trial", "develop")
_LENGTH_MSG = "invalid length for scene, or the data is not json string"


@dataclass(frozen=True, slots=True)
class WxaCode:
    """One issued mini-program code."""

    appid: str
    scene: str
    page: str
    env_version: str
    content: str


class WxaCodes:
    """Issues mini-program codes for valid server tokens."""

    def __init__(self, tokens: ServerTokens, options: SimOptions) -> None:
        self._tokens = tokens
        self._options = options
        self.issued: list[WxaCode] = []

    def unlimit(self, params: dict[str, str], body: Any) -> tuple[bytes, str]:
        """Image bytes and Content-Type, or ``SimError``."""
        appid = self._tokens.validate(params.get("access_token"))
        if not isinstance(body, dict):
            raise SimError(40169, _LENGTH_MSG)
        scene, page = body.get("scene"), body.get("page", "")
        if not isinstance(scene, str) or not 0 < len(scene) <= 32:
            raise SimError(40169, _LENGTH_MSG)
        if not _SCENE_CHARS.fullmatch(scene):
            raise SimError(40129, "invalid scene")
        env = body.get("env_version", "release")
        if not isinstance(page, str) or env not in _ENV_VERSIONS:
            raise SimError(40097, "invalid args")
        self._check_page(page, body.get("check_path", True))
        content = "wxsim://wxacode?" + urlencode(
            {"appid": appid, "env_version": env, "page": page, "scene": scene}
        )
        self.issued.append(WxaCode(appid, scene, page, env, content))
        del self.issued[:-1000]
        scale = _scale(body.get("width", 430), len(qr_matrix(content)))
        if body.get("is_hyaline") is True:
            return _png(content, scale), "image/png"
        return _jpeg(content, scale), "image/jpeg"

    def _check_page(self, page: str, check_path: Any) -> None:
        if page.startswith("/") or "?" in page:
            raise SimError(41030, "invalid page")
        published = self._options.published_pages
        if check_path is not False and published is not None and page and page not in published:
            raise SimError(41030, "invalid page")


def _scale(width: Any, modules: int) -> int:
    """Blocks of 8 px per module so the image is about ``width`` px (clamped 280-1280)."""
    px = max(280, min(1280, width)) if isinstance(width, int) else 430
    return max(1, round(px / (modules * 8)))


@lru_cache(maxsize=256)
def _jpeg(content: str, scale: int) -> bytes:
    return encode_block_jpeg(upscale(qr_matrix(content), scale, 0, 255))


@lru_cache(maxsize=64)
def _png(content: str, scale: int) -> bytes:
    cells = upscale(qr_matrix(content), scale * 8, 0, 255)
    return encode_png([[(0, 255 if v == 0 else 0) for v in row] for row in cells])

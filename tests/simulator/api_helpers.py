"""Raw HTTP calls to the simulator's WeChat APIs (no client in between)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp


async def call(
    http: aiohttp.ClientSession, base: str, path: str, body: Any = None, **params: str
) -> tuple[dict[str, Any], str]:
    method = "POST" if body is not None else "GET"
    data = body if isinstance(body, bytes) else None
    payload = None if isinstance(body, bytes) else body
    async with http.request(method, f"{base}/{path}", params=params, json=payload, data=data) as r:
        assert r.status == 200
        return json.loads(await r.read()), r.headers["Content-Type"]

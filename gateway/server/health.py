"""Liveness and readiness endpoints (the checks themselves: ``server.readiness``).

``GET /healthz``: the process answers. ``GET /readyz``: every registered check passes (store
reachable, signing key loaded, user directory reachable...) and the process is not draining;
otherwise 503 with the failing checks listed.
"""

from __future__ import annotations

from aiohttp import web

from gateway.server.common import NO_STORE
from gateway.server.keys import READINESS

__all__ = ["setup_routes"]


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"}, headers=NO_STORE)


async def readyz(request: web.Request) -> web.Response:
    failing = await request.app[READINESS].failures()
    if failing:
        return web.json_response(
            {"status": "unavailable", "failing": failing},
            status=503,
            headers=NO_STORE,
        )
    return web.json_response({"status": "ready"}, headers=NO_STORE)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz, allow_head=True)
    app.router.add_get("/readyz", readyz, allow_head=True)

"""``GET /metrics``: the injected registry in Prometheus text format."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.server.common import drop_server_header
from gateway.server.keys import METRICS

__all__ = ["metrics_app", "setup_routes"]


async def metrics_handler(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return resp


def setup_routes(app: web.Application, path: str) -> None:
    app.router.add_get(path, metrics_handler)


def metrics_app(parent: web.Application, path: str) -> web.Application:
    """A tiny app serving only the metrics of ``parent`` (for a separate metrics listener)."""
    app = web.Application()
    app[METRICS] = parent[METRICS]
    app.on_response_prepare.append(drop_server_header)
    setup_routes(app, path)
    return app

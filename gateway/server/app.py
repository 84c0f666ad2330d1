"""The composition root: ``create_app(config)`` builds the whole gateway application.

Each resource (store, token service, user directory, WeChat HTTP session, proxy session...)
is opened and closed by its own ``cleanup_ctx`` and published under a ``web.AppKey`` from
``server.keys``. Nothing here reads the environment: the config is passed in explicitly.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.clock import Clock, SystemClock
from gateway.config import Config
from gateway.metrics import Metrics
from gateway.server import health
from gateway.server import metrics as metrics_routes
from gateway.server.health import Readiness
from gateway.server.keys import CLOCK, CONFIG, EXTRA, METRICS, READINESS, STORE
from gateway.server.middlewares import gateway_middleware
from gateway.store import create_store

__all__ = ["create_app"]

log = logging.getLogger("gateway.server")


def create_app(
    config: Config, *, clock: Clock | None = None, metrics: Metrics | None = None
) -> web.Application:
    """The gateway application for ``config`` (not started: the runner starts it)."""
    config = config.resolved()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    app = web.Application(
        middlewares=[gateway_middleware],
        client_max_size=config.server.max_body_bytes,
    )
    app[CONFIG] = config
    app[CLOCK] = clock or SystemClock()
    app[METRICS] = metrics or Metrics()
    app[READINESS] = Readiness()
    app[EXTRA] = {}
    app.cleanup_ctx.append(_store_ctx)
    health.setup_routes(app)
    if config.metrics.enabled and not config.metrics.host:
        metrics_routes.setup_routes(app, config.metrics.path)
    return app


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    store = create_store(app[CONFIG].store, app[CLOCK])
    app[STORE] = store
    app[READINESS].add("store", store.ping)
    try:
        yield
    finally:
        await store.close()

"""Upstream failures: the typed error the client sees, counted and logged (without the URL)."""

from __future__ import annotations

import logging

import aiohttp

from gateway.errors import BadGateway, GatewayError, GatewayTimeout
from gateway.server.access import Route
from gateway.server.common import body_error
from gateway.server.telemetry import ProxyMetrics

__all__ = ["UPSTREAM_ERRORS", "upstream_failure"]

log = logging.getLogger("gateway.proxy")

UPSTREAM_ERRORS = (aiohttp.ClientError, TimeoutError, ConnectionError)


def upstream_failure(metrics: ProxyMetrics, route: Route, exc: BaseException) -> GatewayError:
    """504 ``gateway_timeout`` for a timeout, else 502 ``bad_gateway``; but 400 (not counted)
    when the upload failed on the client's own body (e.g. not the gzip it claims to be)."""
    unreadable = body_error(exc)
    if unreadable is not None:
        return unreadable
    error: GatewayError
    if isinstance(exc, TimeoutError):
        kind, error = "timeout", GatewayTimeout()
    elif isinstance(exc, aiohttp.ClientConnectorError):
        kind, error = "connect", BadGateway()
    else:
        kind, error = "protocol", BadGateway("the upstream service failed to answer")
    metrics.upstream_errors.labels(route.prefix, kind).inc()
    log.warning("upstream %s for %s: %s", kind, route.prefix, type(exc).__name__)
    return error

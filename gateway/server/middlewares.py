"""The one gateway middleware: request id, metrics, access log and JSON error rendering.

The access log line goes to the buffered ``gateway.accesslog.AccessLog`` (no ``logging``
record per request).

Folded into a single middleware on purpose: it wraps every proxied request, and each extra
middleware layer costs a coroutine frame per request on the hot path.

Every error response is JSON ``{"error", "error_description", "request_id"}`` with the right
status; unknown exceptions become 500 with nothing internal in the body, and are logged with
their traceback (redacted by the logging filter).
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.errors import GatewayError
from gateway.logs import client_var, request_id_var
from gateway.server.common import client_ip
from gateway.server.keys import ACCESS_LOG, METRICS, REQUEST_ID, ROUTE_LABEL

__all__ = ["error_response", "gateway_middleware", "new_request_id", "record"]

log = logging.getLogger("gateway.server")

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")

# aiohttp's own HTTP exceptions → (machine code, description)
_HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "the request is malformed"),
    401: ("unauthorized", "authentication required"),
    403: ("access_denied", "access denied"),
    404: ("not_found", "no such resource"),
    405: ("method_not_allowed", "method not allowed for this resource"),
    413: ("payload_too_large", "request body too large"),
    415: ("invalid_request", "unsupported media type"),
    429: ("rate_limited", "too many requests"),
}

_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(
    status: int,
    error: str,
    description: str,
    request_id: str,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """The JSON error body every failure uses."""
    resp = web.json_response(
        {"error": error, "error_description": description, "request_id": request_id},
        status=status,
        headers=headers,
    )
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Request-Id"] = request_id
    return resp


def _client_facts(request: web.Request) -> tuple[str, str]:
    return client_ip(request), request.headers.get("User-Agent", "")


def _route_label(request: web.Request) -> str:
    label = request.get(ROUTE_LABEL)
    if label is not None:
        return str(label)
    info = request.match_info
    resource = info.route.resource
    if info.http_exception is not None or resource is None:
        return "unmatched"
    return resource.canonical


def _render(request: web.Request, exc: BaseException, request_id: str) -> web.StreamResponse:
    if isinstance(exc, GatewayError):
        return error_response(exc.status, exc.error, exc.description, request_id, exc.headers)
    if isinstance(exc, web.HTTPException):
        error, description = _HTTP_ERRORS.get(exc.status, ("server_error", "request failed"))
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return error_response(exc.status, error, description, request_id, headers)
    log.error("unhandled error on %s %s", request.method, request.rel_url.path, exc_info=exc)
    return error_response(500, "server_error", "internal error", request_id)


def new_request_id(incoming: str) -> str:
    """The client's ``X-Request-Id`` when it is sane, else a new random one."""
    return incoming if _SANE_REQUEST_ID.match(incoming) else secrets.token_hex(16)


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = new_request_id(request.headers.get("X-Request-Id", ""))
    request[REQUEST_ID] = request_id
    request_id_var.set(request_id)
    client_var.set(functools.partial(_client_facts, request))  # computed only when asked
    metrics = request.app[METRICS]
    metrics.http_in_flight.inc()
    started = time.perf_counter()
    response: web.StreamResponse
    try:
        response = await handler(request)
        if not response.prepared:
            response.headers["X-Request-Id"] = request_id
    except Exception as exc:
        if isinstance(exc, web.HTTPException) and exc.status < 400:
            exc.headers["X-Request-Id"] = request_id
            _observe(request, exc.status, time.perf_counter() - started)
            raise
        response = _render(request, exc, request_id)
    finally:
        metrics.http_in_flight.dec()
    _observe(request, response.status, time.perf_counter() - started)
    return response


def _observe(request: web.Request, status: int, elapsed: float) -> None:
    record(request, _route_label(request), request.rel_url.path, status, elapsed)


def record(request: web.Request, route: str, path: str, status: int, elapsed: float) -> None:
    """Count an answered request and write its access-log line (also the lean forward-auth
    listener's, ``server.verify_listener``, which passes its own light request)."""
    method = request.method if request.method in _METHODS else "OTHER"  # bounded label values
    app = request.app
    counter, histogram = app[METRICS].http_children(route, method, status)
    counter.inc()
    histogram.observe(elapsed)
    log = app[ACCESS_LOG]
    if log is not None:
        log.write(
            request.method,
            path,
            route,
            status,
            elapsed,
            client_ip(request),  # the client, not the load balancer
            request.headers.get("User-Agent", ""),
            request[REQUEST_ID],
        )

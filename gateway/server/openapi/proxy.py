"""``server/proxy``: forward auth and the reverse proxy (whose catch-all answers every path no
other room claims), and in dev mode the echo upstream."""

from __future__ import annotations

from typing import Any

from gateway.config import Config
from gateway.server.openapi.spec import ANY_METHODS, JSON_ERROR, Paths, op, param, responses

__all__ = ["paths"]

_TAG = "proxy"
_ANY = {"description": "the upstream's answer, passed through", "content": {"*/*": {}}}


def _every_method(summary: str, answers: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {method: op(summary, _TAG, answers, **more) for method in ANY_METHODS}


def paths(config: Config) -> Paths:
    verify = responses(400, 401, 403, 429,
        _200={"description": "allowed; identity in the `X-Auth-*` headers"},
        _302={"description": "to the login page (`?redirect=1` from a browser)"})  # fmt: skip
    original = [param("X-Original-URI", "header"), param("X-Forwarded-Uri", "header"),
                param("X-Original-URL", "header"), param("redirect")]  # fmt: skip
    security: list[dict[str, list[str]]] = [{}, {"bearer": []}, {"session": []}]
    proxied = responses(400, 401, 403, 404, 413, 429, 502, 504,
        **{"_2XX": _ANY, "_3XX": _ANY, "_4XX": {**_ANY, "content": {
            "*/*": {}, **JSON_ERROR}}})  # fmt: skip
    found: Paths = {
        "/auth/verify": _every_method(
            "Forward auth (nginx auth_request, Traefik)",
            verify,
            parameters=original,
            security=security,
        ),
        "/auth/verify/{tail}": _every_method(
            "Forward auth, the original path appended (Envoy)",
            verify,
            parameters=[param("tail", "path"), *original],
            security=security,
        ),
        "/{tail}": _every_method(
            "The reverse proxy: `proxy.routes` by prefix",
            proxied,
            parameters=[param("tail", "path")],
            security=security,
        ),
    }
    if config.dev and config.proxy.echo_upstream:
        echo = responses(
            _200={
                "description": "the request as the upstream saw it",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        )
        found["/_sim/echo"] = _every_method("Dev: the echo upstream", echo)
        found["/_sim/echo/{tail}"] = _every_method(
            "Dev: the echo upstream", echo, parameters=[param("tail", "path")]
        )
    return found

"""``server/proxy``: forward auth and the reverse proxy (whose catch-all answers every path no
other room claims), and in dev mode the echo upstream."""

from __future__ import annotations

from typing import Any

from gateway.config import Config
from gateway.server.openapi.spec import (
    ANY_METHODS,
    HTML,
    JSON_ERROR,
    Paths,
    op,
    param,
    responses,
)

__all__ = ["paths"]

_TAG = "proxy"
_ANY = {"description": "the upstream's answer, passed through", "content": {"*/*": {}}}


def _every_method(summary: str, answers: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {method: op(summary, _TAG, answers, **more) for method in ANY_METHODS}


def _identity_headers(config: Config) -> dict[str, Any]:
    """The identity headers of an allowed, authenticated answer (names from ``[proxy]``)."""
    p = config.proxy
    described = {
        p.subject_header: "the user's `sub`",
        p.openid_header: "the openid",
        p.unionid_header: "the unionid",
        p.appid_header: "the app's appid",
        p.scope_header: "the token's scopes",
        p.roles_header: "the roles, comma-separated",
        p.token_header: "the JWT (routes with `pass_token`)",
    }
    return {
        name: {"description": text, "schema": {"type": "string"}}
        for name, text in described.items()
    }


def paths(config: Config) -> Paths:
    verify = responses(
        400,
        401,
        429,
        _200={
            "description": "allowed; identity in the `X-Auth-*` headers",
            "headers": _identity_headers(config),
        },
        _302={"description": "to the login page (`?redirect=1` from a browser)"},
        _403={
            "description": "`access_denied` (the route's policy, `allowed_roles` or "
            '`allowed_subjects`; a browser gets the "no access" page), '
            "`insufficient_scope`",
            "content": {**JSON_ERROR, **HTML},
        },
    )
    original = [
        param("X-Original-URI", "header"),
        param("X-Forwarded-Uri", "header"),
        param("X-Original-URL", "header"),
        param("X-Forwarded-Host", "header"),
        param("redirect"),
        param("allowed_roles", description="any of these roles (comma-separated)"),
        param("allowed_subjects", description="one of these subjects (comma-separated)"),
    ]
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
            "The reverse proxy: `proxy.routes` by prefix (and `host`)",
            proxied,
            parameters=[
                param("tail", "path"),
                param("X-Forwarded-Host", "header", description="read from a trusted proxy"),
            ],
            security=security,
        ),
        "/auth/no-access": {
            "get": op(
                'The "no access" page, for a front proxy\'s `error_page 403`',
                _TAG,
                responses(
                    _403={
                        "description": "always: the page for a browser, "
                        "`access_denied` JSON otherwise",
                        "content": {**JSON_ERROR, **HTML},
                    }
                ),
            )
        },
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

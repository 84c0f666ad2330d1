"""The whole description: every room's operations under one OpenAPI 3.1 document.

Adding an endpoint is one edit in the module of its room (``ROOMS`` below lists them); a room
that is new adds its module here. ``tests/server/test_openapi.py`` fails when a registered
route is not described, or a described one is not registered.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from gateway.config import Config
from gateway.server.openapi import (
    admin,
    health,
    login,
    oidc,
    proxy,
    scan,
    tokens,
    wechat_events,
)
from gateway.server.openapi.spec import COMPONENTS, Paths

__all__ = ["ROOMS", "build_document"]

OPENAPI_VERSION = "3.1.0"
ROOMS: tuple[Callable[[Config], Paths], ...] = (
    health.paths,
    tokens.paths,
    login.paths,
    scan.paths,
    oidc.paths,
    proxy.paths,
    admin.paths,
    wechat_events.paths,
)


def build_document(config: Config, version: str) -> dict[str, Any]:
    """The OpenAPI document of the gateway ``config`` describes (dev tools included in dev
    mode), served at ``public_url``."""
    paths: Paths = {}
    for room in ROOMS:
        for path, item in room(config).items():
            if path in paths:
                raise ValueError(f"{path} is described by two rooms")
            paths[path] = item
    components = copy.deepcopy(COMPONENTS)
    components["securitySchemes"]["session"]["name"] = config.session_cookie_name
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "wxgate",
            "version": version,
            "description": "WeChat login gateway, OpenID Provider, reverse proxy and forward "
            "auth. Every error is the `Error` object; HEAD is answered wherever GET is. "
            "A 429 (`rate_limited`, with `Retry-After`) is described where a `[limits]` "
            "limit applies; a connection past `server.max_connections_per_address` is "
            "answered 429 before any route is read. The lean forward-auth listener "
            "(`forward_auth.listen_port`, when set) is a separate port answering "
            "`/auth/verify` and `/auth/verify/{tail}` exactly as described here (any other "
            "path: 404).",
        },
        "servers": [{"url": config.public_url}],
        "paths": paths,
        "components": components,
    }

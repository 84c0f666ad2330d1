"""``GET /openapi.json``: the OpenAPI 3.1 description of every endpoint the gateway serves.

The description is framework-free data, one module per room (``document.ROOMS``); this module
only serves it: built once from the config when the routes are added, public and cacheable.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web

from gateway.config import Config
from gateway.server.openapi.document import ROOMS, build_document

__all__ = ["OPENAPI_PATH", "ROOMS", "build_document", "setup_routes"]

OPENAPI_PATH = "/openapi.json"
_MAX_AGE = 300


def _version() -> str:
    try:
        return version("wxgate")
    except PackageNotFoundError:  # running from a checkout that is not installed
        return "0"


def setup_routes(app: web.Application, config: Config) -> None:
    """Serve the description of ``config`` (the app's resolved config)."""
    body = json.dumps(build_document(config, _version()), separators=(",", ":")).encode()
    headers = {"Cache-Control": f"public, max-age={_MAX_AGE}", "Access-Control-Allow-Origin": "*"}

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json", headers=headers)

    app.router.add_get(OPENAPI_PATH, openapi)

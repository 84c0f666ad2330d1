"""``GET /openapi.json`` describes exactly the routes the gateway registers: every aiohttp
route of a dev app and of a production-like app is in the document, and nothing in the
document is missing from the app. A new endpoint without a description fails here."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.config import Config
from gateway.server.app import create_app
from gateway.server.openapi import build_document
from gateway.server.openapi.spec import ANY_METHODS
from tests.conftest import dev_config

_OPERATIONS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# Dev tools mounted as sub-applications: the WeChat simulator and the demo relying party
# imitate other parties; they are not the gateway's API (see docs/architecture.md).
_DEV_SUBAPPS = ("/_sim/wechat", "/_sim/rp")


def _registered(app: web.Application) -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every route; ``*`` stands for every OpenAPI method, and an
    automatic HEAD (aiohttp's ``allow_head``) for the GET it mirrors."""
    found: set[tuple[str, str]] = set()
    for route in app.router.routes():
        resource = route.resource
        assert resource is not None
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", resource.canonical)
        if path.startswith(_DEV_SUBAPPS):
            continue
        methods = ANY_METHODS if route.method == "*" else (route.method.lower(),)
        found |= {(method, path) for method in methods}
    return _without_mirrored_head(found)


def _without_mirrored_head(found: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """HEAD is answered wherever GET is (the document says so): compared through GET."""
    return {(m, p) for m, p in found if m != "head" or ("get", p) not in found}


def _described(document: dict[str, Any]) -> set[tuple[str, str]]:
    return _without_mirrored_head({
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in _OPERATIONS
    })  # fmt: skip


def _prod_like(tmp_path: Path) -> Config:
    config = dev_config(tmp_path)
    return dataclasses.replace(config, dev=False)


@pytest.mark.parametrize("make", [dev_config, _prod_like], ids=["dev", "production"])
def test_every_registered_route_is_described_and_nothing_else(make: Any, tmp_path: Path) -> None:
    config = make(tmp_path)
    app = create_app(config)
    registered = _registered(app)
    described = _described(build_document(app_config(app), "0"))
    # the proxy's catch-all and forward auth answer every method: all of them are described
    assert {("patch", "/{tail}"), ("options", "/auth/verify")} <= registered
    assert registered - described == set(), "registered but not described in server/openapi"
    assert described - registered == set(), "described but not registered"


def app_config(app: web.Application) -> Config:
    from gateway.server.keys import CONFIG

    return app[CONFIG]


def test_dev_tools_are_described_only_in_dev(tmp_path: Path) -> None:
    dev = build_document(dev_config(tmp_path).resolved(), "0")["paths"]
    prod = build_document(_prod_like(tmp_path).resolved(), "0")["paths"]
    assert "/_sim/echo" in dev and "/_sim/echo" not in prod


async def test_openapi_json_is_public_and_cacheable(aiohttp_client: Any, tmp_path: Path) -> None:
    client: TestClient[web.Request, web.Application] = await aiohttp_client(
        create_app(dev_config(tmp_path))
    )
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert resp.headers["Cache-Control"].startswith("public, max-age=")
    document = await resp.json()
    assert document["openapi"].startswith("3.1")
    assert document["components"]["schemas"]["Error"]["required"] == ["error", "error_description"]
    assert (await client.head("/openapi.json")).status == 200


@pytest.mark.parametrize("make", [dev_config, _prod_like], ids=["dev", "production"])
def test_the_document_is_valid_openapi_3_1(make: Any, tmp_path: Path) -> None:
    """Checked against the OpenAPI 3.1 meta-schema (the copy schemathesis ships)."""
    from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

    document = build_document(make(tmp_path).resolved(), "0")
    assert [str(e) for e in OPENAPI_31_VALIDATOR.iter_errors(document)] == []

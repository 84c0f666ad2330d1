"""``/auth/verify`` as nginx, Traefik, ingress-nginx and Envoy call it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.clock import ManualClock
from gateway.metrics import Metrics
from gateway.server.telemetry import ProxyMetrics
from tests.server.proxy_support import (
    BACKEND_TRAVERSALS,
    ORDINARY_PATHS,
    Gateway,
    gateway,
    make_config,
)

pytestmark = [pytest.mark.asyncio]

UP = "http://127.0.0.1:9"
ROUTES: list[dict[str, Any]] = [
    {"prefix": "/public/", "upstream": UP, "auth": "public"},
    {"prefix": "/demo/", "upstream": UP, "auth": "required"},
    {"prefix": "/opt/", "upstream": UP, "auth": "optional"},
    {"prefix": "/admin/", "upstream": UP, "scopes": ["admin"]},
    {"prefix": "/tok/", "upstream": UP, "pass_token": True},
]
BROWSER = "text/html,application/xhtml+xml"
IDENTITY = ("X-Auth-Subject", "X-Auth-OpenID", "X-Auth-UnionID", "X-Auth-AppID", "X-Auth-Scope")


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with gateway(make_config(tmp_path, ROUTES)) as g:
        yield g


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def verify(
    http: aiohttp.ClientSession, url: str, method: str = "GET", **headers: str
) -> aiohttp.ClientResponse:
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    async with http.request(method, url, headers=hdrs, allow_redirects=False) as resp:
        await resp.read()
        return resp


async def test_nginx_style_allows_with_identity(gw: Gateway, http: aiohttp.ClientSession) -> None:
    token = await gw.token("alice")
    resp = await verify(
        http,
        f"{gw.url}/auth/verify",
        X_Original_URI="/demo/x?y=1",
        Authorization=f"Bearer {token}",
    )
    assert resp.status == 200
    assert [resp.headers.get(h) for h in IDENTITY] == ["alice", "o-123", "u-456", "wx-app", "read"]
    assert "X-Auth-Token" not in resp.headers


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
async def test_any_method_without_token_is_401(
    gw: Gateway, http: aiohttp.ClientSession, method: str
) -> None:
    resp = await verify(
        http, f"{gw.url}/auth/verify", method, X_Original_URI="/demo/x?a=1&b=2", Accept=BROWSER
    )
    assert resp.status == 401  # never a redirect for nginx, even for a browser
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="wxgate"'
    assert resp.headers["X-Wxgate-Login"] == "/auth/login?return_to=/demo/x%3Fa%3D1%26b%3D2"


async def test_bad_token_is_401_invalid_token(gw: Gateway, http: aiohttp.ClientSession) -> None:
    resp = await verify(
        http, f"{gw.url}/auth/verify", X_Original_URI="/demo/", Authorization="Bearer x.y.z"
    )
    assert resp.status == 401
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


async def test_public_and_optional_routes(gw: Gateway, http: aiohttp.ClientSession) -> None:
    resp = await verify(http, f"{gw.url}/auth/verify", X_Original_URI="/public/x")
    assert resp.status == 200 and "X-Auth-Subject" not in resp.headers
    resp = await verify(
        http, f"{gw.url}/auth/verify", X_Original_URI="/opt/x", Authorization="Bearer bad"
    )
    assert resp.status == 200 and "X-Auth-Subject" not in resp.headers
    token = await gw.token("bob")
    resp = await verify(
        http, f"{gw.url}/auth/verify", X_Original_URI="/opt/x", Authorization=f"Bearer {token}"
    )
    assert resp.status == 200 and resp.headers["X-Auth-Subject"] == "bob"


async def test_no_matching_route_requires_authentication(
    gw: Gateway, http: aiohttp.ClientSession
) -> None:
    assert (await verify(http, f"{gw.url}/auth/verify", X_Original_URI="/elsewhere")).status == 401
    assert (await verify(http, f"{gw.url}/auth/verify")).status == 401
    token = await gw.token("carol")
    resp = await verify(
        http, f"{gw.url}/auth/verify", X_Original_URI="/elsewhere", Authorization=f"Bearer {token}"
    )
    assert resp.status == 200 and resp.headers["X-Auth-Subject"] == "carol"


async def test_dot_segments_are_resolved_before_matching(
    gw: Gateway, http: aiohttp.ClientSession
) -> None:
    for uri in ("/public/../demo/x", "/public/%2e%2e/demo/x", "//demo/x", "/public/./../demo/"):
        resp = await verify(http, f"{gw.url}/auth/verify", X_Original_URI=uri)
        assert resp.status == 401, uri


async def test_backend_traversal_forms_are_refused(
    gw: Gateway, http: aiohttp.ClientSession
) -> None:
    """The proxy's refusal, applied to the original URI: ``..;``, backslashes and a second
    encoding are 403 whichever header names them (nginx passes 403 on), and on every route."""
    token = await gw.token("frank", scope="admin")
    auth = {"Authorization": f"Bearer {token}"}
    demo = tuple(t.replace("/public/", "/demo/", 1) for t in BACKEND_TRAVERSALS)
    for uri in (*BACKEND_TRAVERSALS, *demo):
        for header in ("X_Original_URI", "X_Forwarded_Uri"):
            resp = await verify(http, f"{gw.url}/auth/verify", **{header: uri}, **auth)
            assert resp.status == 403, (header, uri)
            assert "X-Auth-Subject" not in resp.headers
        url = f"https://app.example.com{uri}"
        resp = await verify(http, f"{gw.url}/auth/verify", X_Original_URL=url)
        assert resp.status == 403, url
    for uri in ORDINARY_PATHS:
        assert (await verify(http, f"{gw.url}/auth/verify", X_Original_URI=uri)).status == 200


async def test_backend_traversal_refusal_can_be_turned_off(tmp_path: Path) -> None:
    off = {
        "WXGATE_PROXY__REJECT_PATH_PARAMETERS": "false",
        "WXGATE_PROXY__REJECT_BACKSLASH": "false",
        "WXGATE_PROXY__REJECT_DOUBLE_ENCODING": "false",
    }
    async with (
        gateway(make_config(tmp_path, ROUTES, **off)) as g,
        aiohttp.ClientSession() as http,
    ):
        for uri in BACKEND_TRAVERSALS:  # the front proxy's business now: the public policy
            assert (await verify(http, f"{g.url}/auth/verify", X_Original_URI=uri)).status == 200


async def test_traefik_and_ingress_headers(gw: Gateway, http: aiohttp.ClientSession) -> None:
    resp = await verify(
        http, f"{gw.url}/auth/verify", X_Forwarded_Uri="/public/x", X_Forwarded_Method="POST"
    )
    assert resp.status == 200
    resp = await verify(http, f"{gw.url}/auth/verify", X_Forwarded_Uri="/demo/x")
    assert resp.status == 401
    resp = await verify(
        http, f"{gw.url}/auth/verify", X_Original_URL="https://app.example/public/x?q=1"
    )
    assert resp.status == 200
    resp = await verify(http, f"{gw.url}/auth/verify", X_Original_URL="https://app.example/demo/")
    assert resp.status == 401


async def test_envoy_path_prefix(gw: Gateway, http: aiohttp.ClientSession) -> None:
    assert (await verify(http, f"{gw.url}/auth/verify/public/x?q=1", "POST")).status == 200
    assert (await verify(http, f"{gw.url}/auth/verify/demo/x", "DELETE")).status == 401
    token = await gw.token("dave")
    resp = await verify(http, f"{gw.url}/auth/verify/demo/x", Authorization=f"Bearer {token}")
    assert resp.status == 200 and resp.headers["X-Auth-Subject"] == "dave"


async def test_envoy_path_with_an_encoded_newline_is_decided(
    gw: Gateway, http: aiohttp.ClientSession
) -> None:
    """Found by schemathesis: ``%0A`` in Envoy's appended path gave 404 (the route's tail did
    not match a newline); it is decided like any other path."""
    assert (await verify(http, f"{gw.url}/auth/verify/demo/a%0Ab")).status == 401
    assert (await verify(http, f"{gw.url}/auth/verify/public/a%0Ab")).status == 200


async def test_scope_is_403_and_pass_token(gw: Gateway, http: aiohttp.ClientSession) -> None:
    token = await gw.token("erin", scope="read")
    auth = {"Authorization": f"Bearer {token}"}
    resp = await verify(http, f"{gw.url}/auth/verify", X_Original_URI="/admin/", **auth)
    assert resp.status == 403
    assert 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]
    resp = await verify(http, f"{gw.url}/auth/verify", X_Original_URI="/tok/", **auth)
    assert resp.status == 200 and resp.headers["X-Auth-Token"] == token


async def test_redirect_is_opt_in_for_browsers(gw: Gateway, http: aiohttp.ClientSession) -> None:
    url = f"{gw.url}/auth/verify?redirect=1"
    resp = await verify(http, url, X_Forwarded_Uri="/demo/x?a=1", Accept=BROWSER)
    assert resp.status == 302
    assert resp.headers["Location"] == f"{gw.url}/auth/login?return_to=/demo/x%3Fa%3D1"
    resp = await verify(http, url, X_Forwarded_Uri="/demo/x", Accept="application/json")
    assert resp.status == 401  # API clients still get 401


async def test_redirect_uses_forwarded_origin_from_trusted_proxy(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        ROUTES,
        WXGATE_SERVER__TRUSTED_PROXIES="127.0.0.1/32",
        WXGATE_FORWARD_AUTH__REDIRECT="true",
    )
    async with gateway(config) as gw, aiohttp.ClientSession() as http:
        resp = await verify(
            http,
            f"{gw.url}/auth/verify",
            X_Forwarded_Proto="https",
            X_Forwarded_Host="app.example",
            X_Forwarded_Uri="/demo/x",
            Accept=BROWSER,
        )
    assert resp.status == 302
    assert resp.headers["Location"] == (
        f"{gw.url}/auth/login?return_to=https%3A//app.example/demo/x"
    )


async def test_expired_session_is_renewed_with_a_new_cookie(tmp_path: Path) -> None:
    clock = ManualClock(start=time.time())
    metrics = Metrics()
    config = make_config(tmp_path, ROUTES)
    async with gateway(config, clock=clock, metrics=metrics) as gw:
        pair = await gw.session_pair("frank")
        clock.advance(config.tokens.access_ttl + config.tokens.leeway + 5)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            resp = await verify(
                http,
                f"{gw.url}/auth/verify",
                X_Original_URI="/demo/",
                Cookie=f"wxgate_session={pair.access_token}~{pair.refresh_token}",
            )
        assert resp.status == 200 and resp.headers["X-Auth-Subject"] == "frank"
        assert resp.headers["Set-Cookie"].startswith("wxgate_session=")
        decisions = {
            s.labels["result"]: s.value
            for s in next(iter(metrics.of(ProxyMetrics).forward_auth_decisions.collect())).samples
            if s.name.endswith("_total") and s.value
        }
        assert decisions == {"allowed": 1.0}


@pytest.mark.parametrize(
    "headers",
    [
        {"X_Original_URI": "//demo/secret"},  # a path, not a host: still /demo/
        {"X_Original_URI": "/public/../demo/x"},
        {"X_Original_URI": "/demo/x", "X_Forwarded_Uri": "/public/x"},  # client adds a header
        {"X_Forwarded_Uri": "/demo/x", "X_Original_URI": "/public/x"},
        {"X_Original_URL": "https://app.example.com/demo/x", "X_Original_URI": "/public/"},
    ],
)
async def test_a_client_cannot_pick_a_public_policy(
    gw: Gateway, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    resp = await verify(http, f"{gw.url}/auth/verify", **headers)
    assert resp.status in (401, 403), headers


async def test_agreeing_statements_are_fine(gw: Gateway, http: aiohttp.ClientSession) -> None:
    resp = await verify(
        http, f"{gw.url}/auth/verify", X_Original_URI="/public/a?b=1", X_Forwarded_Uri="/public/a"
    )
    assert resp.status == 200

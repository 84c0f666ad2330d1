"""The lean ``/auth/verify`` listener answers exactly as the main listener does (the same
``ForwardAuth.handle``), and shares its metrics and access log."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.clock import ManualClock
from gateway.metrics import Metrics
from tests.server.proxy_support import BACKEND_TRAVERSALS, Gateway, gateway, make_config

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
COMPARED = (
    "X-Auth-Subject", "X-Auth-OpenID", "X-Auth-UnionID", "X-Auth-AppID", "X-Auth-Scope",
    "X-Auth-Token", "WWW-Authenticate", "X-Wxgate-Login", "Location", "Cache-Control",
    "Content-Type", "Set-Cookie",
)  # fmt: skip
# (method, target after the listener's address, headers); "TOKEN" is replaced by a valid token
CASES: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/auth/verify", {"X-Original-URI": "/demo/x?y=1", "Authorization": "Bearer TOKEN"}),
    ("GET", "/auth/verify", {"X-Original-URI": "/demo/x", "Accept": BROWSER}),
    ("POST", "/auth/verify", {"X-Original-URI": "/demo/", "Authorization": "Bearer x.y.z"}),
    ("GET", "/auth/verify", {"X-Original-URI": "/public/x"}),
    ("GET", "/auth/verify", {"X-Original-URI": "/opt/x", "Authorization": "Bearer bad"}),
    ("GET", "/auth/verify", {"X-Original-URI": "/opt/x", "Authorization": "Bearer TOKEN"}),
    ("GET", "/auth/verify", {"X-Original-URI": "/elsewhere"}),
    ("GET", "/auth/verify", {}),
    ("GET", "/auth/verify", {"X-Original-URI": "/admin/", "Authorization": "Bearer TOKEN"}),
    ("GET", "/auth/verify", {"X-Original-URI": "/tok/", "Authorization": "Bearer TOKEN"}),
    ("GET", "/auth/verify", {"X-Forwarded-Uri": "/demo/x", "X-Original-URI": "/public/x"}),
    ("GET", "/auth/verify", {"X-Original-URL": "https://app.example/public/x?q=1"}),
    ("GET", "/auth/verify?redirect=1", {"X-Original-URI": "/demo/x?a=1", "Accept": BROWSER}),
    ("DELETE", "/auth/verify/demo/x", {}),
    ("HEAD", "/auth/verify", {"X-Original-URI": "/demo/x"}),
    ("HEAD", "/auth/verify", {"X-Original-URI": "/demo/x", "Authorization": "Bearer TOKEN"}),
    ("POST", "/auth/verify/public/x?q=1", {}),
    ("GET", "/auth/verify/demo/x", {"Authorization": "Bearer TOKEN"}),
    *[("GET", "/auth/verify", {"X-Original-URI": uri}) for uri in BACKEND_TRAVERSALS],
]


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with gateway(make_config(tmp_path, ROUTES), lean=True) as g:
        yield g


async def _ask(
    http: aiohttp.ClientSession, base: str, method: str, target: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], Any]:
    async with http.request(method, base + target, headers=headers, allow_redirects=False) as r:
        body = await r.read()
        seen = {h: r.headers[h] for h in COMPARED if h in r.headers}
        assert r.headers["X-Request-Id"]
    parsed = json.loads(body) if body else None
    if isinstance(parsed, dict):
        parsed.pop("request_id", None)
    return r.status, seen, parsed


@pytest.mark.parametrize(("method", "target", "headers"), CASES)
async def test_both_listeners_give_the_same_answer(
    gw: Gateway, method: str, target: str, headers: dict[str, str]
) -> None:
    token = await gw.token("alice")
    headers = {k: v.replace("TOKEN", token) for k, v in headers.items()}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        main = await _ask(http, gw.url, method, target, headers)
        lean = await _ask(http, gw.lean_url, method, target, headers)
        again = await _ask(http, gw.lean_url, method, target, headers)  # the same connection
    assert lean == main
    assert again[:2] == main[:2]


async def test_a_session_renewal_waits_and_answers_in_order(tmp_path: Path) -> None:
    """The renewal awaits the token service (the task path); a request pipelined behind it on
    the same connection is answered after it."""
    clock = ManualClock(start=time.time())
    config = make_config(tmp_path, ROUTES)
    async with gateway(config, clock=clock, lean=True) as gw:
        pair = await gw.session_pair("frank")
        clock.advance(config.tokens.access_ttl + config.tokens.leeway + 5)
        cookie = f"wxgate_session={pair.access_token}~{pair.refresh_token}"
        first = f"GET /auth/verify HTTP/1.1\r\nHost: x\r\nX-Original-URI: /demo/\r\nCookie: {cookie}\r\n\r\n"  # noqa: E501
        second = "GET /auth/verify HTTP/1.1\r\nHost: x\r\nX-Original-URI: /public/\r\nConnection: close\r\n\r\n"  # noqa: E501
        raw = await _raw(gw.lean_url, first + second)
    answers = raw.split(b"HTTP/1.1 ")[1:]
    assert [a[:3] for a in answers] == [b"200", b"200"]
    assert b"X-Auth-Subject: frank" in answers[0] and b"Set-Cookie: wxgate_session=" in answers[0]
    assert b"X-Auth-Subject" not in answers[1]


async def _raw(base: str, data: str) -> bytes:
    host, port = base.split("//")[1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data.encode())
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_malformed_requests_and_other_paths(gw: Gateway) -> None:
    raw = await _raw(gw.lean_url, "GET /auth/verify HTTP/1.1\r\nBad Header: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400 ") and b'"invalid_request"' in raw
    async with aiohttp.ClientSession() as http, http.get(f"{gw.lean_url}/healthz") as resp:
        assert resp.status == 404 and (await resp.json())["error"] == "not_found"


async def test_metrics_and_access_log_are_shared(tmp_path: Path) -> None:
    config = make_config(tmp_path, ROUTES)
    target = tmp_path / "access.log"
    settings = dataclasses.replace(config.logging, access_log=True, access_log_path=str(target))
    config = dataclasses.replace(config, logging=settings)
    metrics = Metrics()
    async with gateway(config, metrics=metrics, lean=True) as gw, aiohttp.ClientSession() as http:
        for base in (gw.url, gw.lean_url):
            headers = {"X-Original-URI": "/demo/", "X-Request-Id": f"rid-{base[-5:]}"}
            async with http.get(f"{base}/auth/verify", headers=headers) as resp:
                assert resp.status == 401
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [(x["route"], x["status"], x["request_id"]) for x in lines] == [
        ("/auth/verify", 401, f"rid-{gw.url[-5:]}"),
        ("/auth/verify", 401, f"rid-{gw.lean_url[-5:]}"),
    ]
    counted = metrics.http_requests.labels("/auth/verify", "GET", "401")._value.get()
    assert counted == 2

"""The reverse proxy against a real upstream: forwarding, identity, spoofing, errors, routing."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.clock import ManualClock
from gateway.server.keys import CONFIG, METRICS
from tests.conftest import dev_config
from tests.server.proxy_support import (
    BACKEND_TRAVERSALS,
    ORDINARY_PATHS,
    Gateway,
    Upstream,
    gateway,
    make_config,
    raw_get,
)

pytestmark = [pytest.mark.asyncio]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def routes(up: str) -> list[dict[str, Any]]:
    return [
        {"prefix": "/public/", "upstream": f"{up}/echo", "auth": "public"},
        {"prefix": "/demo/", "upstream": f"{up}/echo", "auth": "required"},
        {"prefix": "/opt/", "upstream": f"{up}/echo", "auth": "optional"},
        {"prefix": "/scoped/", "upstream": f"{up}/echo", "scopes": ["admin", "read"]},
        {"prefix": "/aud/", "upstream": f"{up}/echo", "audience": "orders"},
        {"prefix": "/tok/", "upstream": f"{up}/echo", "pass_token": True},
        {"prefix": "/host/", "upstream": f"{up}/echo", "auth": "public", "preserve_host": True},
        {"prefix": "/api/", "upstream": f"{up}/echo/v1", "auth": "public", "strip_prefix": True},
        {"prefix": "/api/v2/", "upstream": f"{up}/echo/v2", "auth": "public", "strip_prefix": True},
        {"prefix": "/", "upstream": f"{up}/echo/root", "auth": "public"},
        {"prefix": "/slow/", "upstream": f"{up}/slow", "auth": "public", "timeout": 1.0},
        {"prefix": "/held/", "upstream": f"{up}/slow", "auth": "public"},  # timeout 30 s
        {"prefix": "/st/", "upstream": f"{up}/status", "auth": "public", "strip_prefix": True},
        {"prefix": "/down/", "upstream": f"http://127.0.0.1:{_closed_port()}", "auth": "public"},
    ]


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()
    await up.start()
    yield up
    await up.stop()


@pytest.fixture
async def gw(tmp_path: Path, upstream: Upstream) -> AsyncIterator[Gateway]:
    async with gateway(make_config(tmp_path, routes(upstream.url))) as g:
        yield g


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def headers_of(seen: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in seen["headers"]}


async def get_json(
    http: aiohttp.ClientSession, url: str, **kw: Any
) -> tuple[int, dict[str, Any], Any]:
    async with http.get(url, allow_redirects=False, **kw) as resp:
        return resp.status, dict(resp.headers), await resp.json()


SPOOFED = {
    "X-Auth-Subject": "admin",
    "x-auth-openid": "evil",
    "X-AUTH-UNIONID": "evil",
    "X-Auth-AppID": "evil",
    "X-Auth-Scope": "admin",
    "X-Auth-Token": "evil",
    "X-Auth-Admin": "true",
    "X_Auth_Subject": "admin",
}


async def test_public_route_forwards_and_strips_spoofed_identity(
    gw: Gateway, http: aiohttp.ClientSession
) -> None:
    status, headers, seen = await get_json(
        http,
        f"{gw.url}/public/a/b?x=1&y=%20",
        headers={**SPOOFED, "Cookie": "a=1; wxgate_session=abc~def; b=2", "X-Custom": "kept"},
    )
    assert status == 200
    assert seen["path"] == "/echo/public/a/b" and seen["query"] == "x=1&y=%20"
    got = headers_of(seen)
    assert not [k for k in got if k.startswith(("x-auth-", "x_auth_"))]
    assert got["cookie"] == "a=1; b=2"
    assert got["x-custom"] == "kept"
    assert headers["X-Upstream"] == "yes" and "X-Upstream-Hop" not in headers
    assert "Keep-Alive" not in headers
    assert "upstream_cookie=u1" in headers["Set-Cookie"]


@pytest.mark.parametrize("prefix", ["/demo/", "/opt/", "/tok/"])
async def test_spoofed_identity_is_replaced_on_authenticated_routes(
    gw: Gateway, http: aiohttp.ClientSession, prefix: str
) -> None:
    token = await gw.token("user-7")
    status, _, seen = await get_json(
        http, f"{gw.url}{prefix}x", headers={**SPOOFED, "Authorization": f"Bearer {token}"}
    )
    assert status == 200
    got = headers_of(seen)
    assert got["x-auth-subject"] == "user-7"
    assert got["x-auth-openid"] == "o-123" and got["x-auth-unionid"] == "u-456"
    assert got["x-auth-appid"] == "wx-app" and got["x-auth-scope"] == "read"
    assert "x-auth-admin" not in got and "x_auth_subject" not in got
    if prefix == "/tok/":
        assert got["x-auth-token"] == token
        assert "authorization" not in got
    else:
        assert "x-auth-token" not in got and "authorization" not in got


async def test_session_cookie_authenticates_and_is_not_forwarded(
    gw: Gateway, http: aiohttp.ClientSession
) -> None:
    pair = await gw.session_pair("user-9")
    cookie = f"theme=dark; wxgate_session={pair.access_token}~{pair.refresh_token}"
    status, _, seen = await get_json(http, f"{gw.url}/demo/x", headers={"Cookie": cookie})
    assert status == 200
    got = headers_of(seen)
    assert got["x-auth-subject"] == "user-9"
    assert got["cookie"] == "theme=dark"


async def test_hop_by_hop_headers_are_dropped(gw: Gateway, http: aiohttp.ClientSession) -> None:
    hop = {
        "Connection": "keep-alive, X-Client-Hop",
        "X-Client-Hop": "secret",
        "Keep-Alive": "timeout=5",
        "Proxy-Connection": "keep-alive",
        "TE": "trailers",
        "Trailer": "X-Foo",
        "Upgrade": "h2c",
        "X-End-To-End": "kept",
    }
    _, _, seen = await get_json(http, f"{gw.url}/public/x", headers=hop)
    got = headers_of(seen)
    for name in ("x-client-hop", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"):
        assert name not in got, name
    assert got["x-end-to-end"] == "kept"
    assert got.get("connection", "keep-alive") == "keep-alive"  # the proxy's own, if any


async def test_forwarded_headers_are_overwritten_from_untrusted_peers(
    gw: Gateway, http: aiohttp.ClientSession
) -> None:
    spoof = {
        "X-Forwarded-For": "1.2.3.4",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example",
        "Forwarded": "for=1.2.3.4",
        "X-Real-IP": "1.2.3.4",
    }
    _, _, seen = await get_json(http, f"{gw.url}/public/x", headers=spoof)
    got = headers_of(seen)
    host = gw.url.split("//")[1]
    assert got["x-forwarded-for"] == "127.0.0.1"
    assert got["x-forwarded-proto"] == "http"
    assert got["x-forwarded-host"] == host
    assert "forwarded" not in got and "x-real-ip" not in got
    assert got["host"] != host  # the upstream's own host unless preserve_host
    _, _, seen = await get_json(http, f"{gw.url}/host/x")
    assert headers_of(seen)["host"] == host


async def test_forwarded_headers_are_extended_for_trusted_proxies(
    tmp_path: Path, upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    config = make_config(
        tmp_path, routes(upstream.url), WXGATE_SERVER__TRUSTED_PROXIES="127.0.0.0/8"
    )
    async with gateway(config) as gw:
        spoof = {
            "X-Forwarded-For": "1.2.3.4",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "app.example",
            "X-Auth-Subject": "admin",
        }
        _, _, seen = await get_json(http, f"{gw.url}/public/x", headers=spoof)
    got = headers_of(seen)
    assert got["x-forwarded-for"] == "1.2.3.4, 127.0.0.1"
    assert got["x-forwarded-proto"] == "https"
    assert got["x-forwarded-host"] == "app.example"
    assert "x-auth-subject" not in got  # identity is never trusted, even from a trusted proxy


@pytest.mark.parametrize(
    ("path", "upstream_path"),
    [
        ("/api/users", "/echo/v1/users"),
        ("/api/v2/users", "/echo/v2/users"),
        ("/api/v2/", "/echo/v2/"),
        ("/api/v3/users", "/echo/v1/v3/users"),
        ("/other", "/echo/root/other"),
        ("/publicx", "/echo/root/publicx"),
        ("/api/a%2Fb", "/echo/v1/a%2Fb"),
    ],
)
async def test_longest_prefix_wins(
    gw: Gateway, http: aiohttp.ClientSession, path: str, upstream_path: str
) -> None:
    status, _, seen = await get_json(http, f"{gw.url}{path}")
    assert status == 200 and seen["path"] == upstream_path


async def test_gateway_paths_are_never_proxied(gw: Gateway, http: aiohttp.ClientSession) -> None:
    for path in ("/auth/nope", "/.well-known/nope", "/_sim/nope", "/metricsx"):
        async with http.get(f"{gw.url}{path}") as resp:
            assert resp.status == 404, path
            assert "X-Upstream" not in resp.headers
    async with http.post(f"{gw.url}/healthz") as resp:
        assert resp.status == 405 and "GET" in resp.headers["Allow"]
    async with http.get(f"{gw.url}/healthz") as resp:
        assert (await resp.json())["status"] == "ok"


async def test_ambiguous_paths_are_refused(gw: Gateway) -> None:
    for target in ("/public/../demo/x", "/public/%2e%2e/demo/x", "/public//x"):
        assert (await raw_get(gw.url, target))[0] == 400, target


async def test_backend_traversal_forms_are_refused_on_every_route(
    gw: Gateway, upstream: Upstream
) -> None:
    """``..;``, a backslash (raw or ``%5c``) and a second encoding never reach an upstream."""
    demo = tuple(t.replace("/public/", "/demo/", 1) for t in BACKEND_TRAVERSALS)
    for target in (*BACKEND_TRAVERSALS, *demo, "/public/a%3bb", "/public/%2541"):
        status, body = await raw_get(gw.url, target)
        assert status == 400 and json.loads(body)["error"] == "invalid_request", target
    assert upstream.received == []
    for target in ORDINARY_PATHS:
        status, body = await raw_get(gw.url, target)
        path, _, query = target.partition("?")
        seen = json.loads(body)
        assert status == 200 and seen["path"] == "/echo" + path and seen["query"] == query


async def test_backend_traversal_forms_are_refused_by_the_dev_echo_route(tmp_path: Path) -> None:
    async with gateway(dev_config(tmp_path, WXGATE_LOGGING__ACCESS_LOG="false")) as g:
        for target in BACKEND_TRAVERSALS:
            status, body = await raw_get(g.url, target)
            assert status == 400 and json.loads(body)["error"] == "invalid_request", target
        for target in ORDINARY_PATHS:
            status, body = await raw_get(g.url, target)
            path, _, query = target.partition("?")
            seen = json.loads(body)
            assert status == 200 and (seen["path"], seen["query"]) == (path, query), target


async def test_each_backend_traversal_refusal_can_be_turned_off(
    tmp_path: Path, upstream: Upstream
) -> None:
    off = {
        "WXGATE_PROXY__REJECT_PATH_PARAMETERS": "false",
        "WXGATE_PROXY__REJECT_BACKSLASH": "false",
        "WXGATE_PROXY__REJECT_DOUBLE_ENCODING": "false",
    }
    expected = {
        "REJECT_PATH_PARAMETERS": ("/public/..;/admin/x",),
        "REJECT_BACKSLASH": ("/public/..\\admin/x", "/public/%5c..%5cadmin/x"),
        "REJECT_DOUBLE_ENCODING": ("/public/%252e%252e/admin/x", "/public/%252e%252e%252fadmin/x"),
    }
    for key, passing in expected.items():
        env = {f"WXGATE_PROXY__{key}": "false"}
        async with gateway(make_config(tmp_path / key, routes(upstream.url), **env)) as g:
            for target in BACKEND_TRAVERSALS:
                status = (await raw_get(g.url, target))[0]
                assert status == (200 if target in passing else 400), (key, target)
    async with gateway(make_config(tmp_path / "all", routes(upstream.url), **off)) as g:
        for target in BACKEND_TRAVERSALS:
            assert (await raw_get(g.url, target))[0] == 200, target
        assert (await raw_get(g.url, "/public/%2e%2e/x"))[0] == 400  # dot segments: always


async def test_no_response_names_the_server_software(
    gw: Gateway, http: aiohttp.ClientSession
) -> None:
    """No ``Server: Python/3.x aiohttp/3.y``: not on the gateway's own answers (JSON, pages,
    errors, redirects, the dev simulator), nor passed on from an upstream (nginx does not
    either)."""
    for path in ("/healthz", "/auth/login", "/nope/x", "/demo/x", "/demo", "/public/x",
                 "/_sim/wechat/sns/jscode2session", "/.well-known/jwks.json"):  # fmt: skip
        async with http.get(f"{gw.url}{path}", allow_redirects=False) as resp:
            assert "Server" not in resp.headers, (path, resp.status, resp.headers["Server"])
    async with http.get(f"{gw.url}/public/x") as resp:  # the upstream (aiohttp) did send one
        assert resp.headers["X-Upstream"] == "yes" and "Server" not in resp.headers
    async with http.get(f"{gw.url}/st/?code=204") as resp:  # headers sent before any body
        assert resp.status == 204 and "Server" not in resp.headers


async def test_slashless_prefix_redirects(gw: Gateway, http: aiohttp.ClientSession) -> None:
    # "/" would otherwise match; the more specific route's canonical form wins
    async with http.get(f"{gw.url}/demo?a=1", allow_redirects=False) as resp:
        assert resp.status == 308 and resp.headers["Location"] == "/demo/?a=1"


async def test_unauthenticated_api_request_gets_401(
    gw: Gateway, http: aiohttp.ClientSession
) -> None:
    status, headers, body = await get_json(http, f"{gw.url}/demo/x")
    assert status == 401 and body["error"] == "invalid_token"
    assert headers["WWW-Authenticate"] == 'Bearer realm="wxgate"'
    status, headers, body = await get_json(
        http, f"{gw.url}/demo/x", headers={"Authorization": "Bearer not.a.token"}
    )
    assert status == 401 and body["error"] == "invalid_token"
    assert 'error="invalid_token"' in headers["WWW-Authenticate"]
    assert headers["Content-Type"].startswith("application/json")


async def test_unauthenticated_browser_is_sent_to_login(
    gw: Gateway, http: aiohttp.ClientSession
) -> None:
    accept = "text/html,application/xhtml+xml,*/*;q=0.8"
    async with http.get(
        f"{gw.url}/demo/page?a=1&b=2", headers={"Accept": accept}, allow_redirects=False
    ) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == "/auth/login?return_to=/demo/page%3Fa%3D1%26b%3D2"
    cookie = "wxgate_session=expired.jwt.value~no-such-refresh-token"
    async with http.get(
        f"{gw.url}/demo/", headers={"Accept": accept, "Cookie": cookie}, allow_redirects=False
    ) as resp:
        assert resp.status == 302
        assert resp.headers["Location"].startswith("/auth/login?return_to=/demo/")
        assert 'wxgate_session="";' in resp.headers["Set-Cookie"]  # the dead cookie is cleared


async def test_dead_session_cookie_is_cleared_for_api_clients_too(
    gw: Gateway, http: aiohttp.ClientSession
) -> None:
    cookie = "wxgate_session=expired.jwt.value~no-such-refresh-token"
    for path in ("/demo/x", "/auth/verify"):
        headers = {"Cookie": cookie, "X-Original-URI": "/demo/x", "Accept": "application/json"}
        async with http.get(f"{gw.url}{path}", headers=headers, allow_redirects=False) as resp:
            assert resp.status == 401
            assert 'wxgate_session="";' in resp.headers["Set-Cookie"], path


async def test_a_secure_host_only_session_cookie_is_host_prefixed(
    tmp_path: Path, upstream: Upstream
) -> None:
    """Secure, no Domain, Path=/: the cookie is ``__Host-`` + ``session.cookie_name``, so no
    http page and no sibling host can set or shadow it; the proxy reads, renews, clears and
    strips that one name (and strips the bare name a browser may still hold)."""
    clock = ManualClock(start=time.time())
    config = make_config(tmp_path, routes(upstream.url), WXGATE_SESSION__SECURE="true")
    async with (
        gateway(config, clock=clock) as gw,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
    ):
        pair = await gw.session_pair("host-cookie")
        value = f"{pair.access_token}~{pair.refresh_token}"
        cookie = f"theme=dark; __Host-wxgate_session={value}; wxgate_session={value}"
        status, _, seen = await get_json(http, f"{gw.url}/demo/x", headers={"Cookie": cookie})
        assert status == 200 and headers_of(seen)["x-auth-subject"] == "host-cookie"
        assert headers_of(seen)["cookie"] == "theme=dark"
        api = {"Accept": "application/json"}
        async with http.get(
            f"{gw.url}/demo/x", headers={**api, "Cookie": f"wxgate_session={value}"}
        ) as resp:
            assert resp.status == 401  # the bare name is not the session cookie any more

        tokens = gw.app[CONFIG].tokens
        clock.advance(tokens.access_ttl + tokens.leeway + 5)
        async with http.get(
            f"{gw.url}/demo/x", headers={"Cookie": f"__Host-wxgate_session={value}"}
        ) as resp:
            assert resp.status == 200
            (renewed,) = [c for c in resp.headers.getall("Set-Cookie") if "wxgate_session" in c]
        attributes = renewed.lower().split("; ")
        assert renewed.startswith("__Host-wxgate_session=") and pair.refresh_token not in renewed
        assert "secure" in attributes and "path=/" in attributes
        assert not [a for a in attributes if a.startswith("domain")]

        dead = {**api, "Cookie": "__Host-wxgate_session=expired.jwt.value~no-such-token"}
        async with http.get(f"{gw.url}/demo/x", headers=dead) as resp:
            assert resp.status == 401
            assert resp.headers["Set-Cookie"].startswith('__Host-wxgate_session="";')


async def test_optional_route_is_anonymous_with_a_bad_token(
    gw: Gateway, http: aiohttp.ClientSession
) -> None:
    status, _, seen = await get_json(
        http, f"{gw.url}/opt/x", headers={"Authorization": "Bearer bad", **SPOOFED}
    )
    assert status == 200
    assert not [k for k in headers_of(seen) if k.startswith("x-auth-")]


async def test_missing_scope_or_audience_is_403(gw: Gateway, http: aiohttp.ClientSession) -> None:
    token = await gw.token(scope="read")
    for prefix in ("/scoped/", "/aud/"):
        status, headers, body = await get_json(
            http, f"{gw.url}{prefix}x", headers={"Authorization": f"Bearer {token}"}
        )
        assert status == 403 and body["error"] == "insufficient_scope", prefix
        assert 'error="insufficient_scope"' in headers["WWW-Authenticate"]
    admin = await gw.token(scope="read admin")
    status, _, seen = await get_json(
        http, f"{gw.url}/scoped/x", headers={"Authorization": f"Bearer {admin}"}
    )
    assert status == 200 and headers_of(seen)["x-auth-scope"] == "read admin"


async def test_upstream_down_is_502_json(gw: Gateway, http: aiohttp.ClientSession) -> None:
    status, _, body = await get_json(http, f"{gw.url}/down/x")
    assert status == 502 and body["error"] == "bad_gateway"


async def test_slow_upstream_is_504_json_and_does_not_stall_others(
    gw: Gateway, upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    # The upstream holds /slow until the test releases it, so no answer races the
    # assertions; the generous waits only turn a hang into a failure.
    held = asyncio.create_task(get_json(http, f"{gw.url}/held/"))  # route timeout 30 s
    await asyncio.wait_for(upstream.slow_arrived.wait(), 10)  # in flight at the upstream
    fast_status, _, _ = await asyncio.wait_for(get_json(http, f"{gw.url}/public/x"), 10)
    assert fast_status == 200 and not held.done()  # not queued behind the slow one
    # the route's 1 s timeout (not the 30 s default): the upstream never answered
    status, _, body = await asyncio.wait_for(get_json(http, f"{gw.url}/slow/"), 15)
    assert status == 504 and body["error"] == "gateway_timeout"
    assert not held.done()
    upstream.release_slow.set()
    assert (await asyncio.wait_for(held, 10))[0] == 200


async def test_metrics_count_proxied_requests(gw: Gateway, http: aiohttp.ClientSession) -> None:
    await get_json(http, f"{gw.url}/public/x")
    await get_json(http, f"{gw.url}/demo/x")
    await get_json(http, f"{gw.url}/down/x")
    families = {
        f.name: f
        for f in text_string_to_metric_families(generate_latest(gw.app[METRICS].registry).decode())
    }
    samples = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in families["wxgate_proxy_requests"].samples
        if s.name.endswith("_total")
    }
    assert samples[("/public/", "200")] == 1
    assert samples[("/demo/", "401")] == 1
    assert samples[("/down/", "502")] == 1
    errors = families["wxgate_proxy_upstream_errors"].samples
    assert any(s.labels == {"route": "/down/", "kind": "connect"} for s in errors)


async def test_compressed_upload_reaches_the_upstream_decoded(
    gw: Gateway, http: aiohttp.ClientSession
) -> None:
    """aiohttp decodes a gzip or deflate request body before the proxy reads it: the body goes
    upstream decoded, without the headers that described the encoded one."""
    body = b'{"big": "' + b"x" * 50_000 + b'"}'
    for encoding, encoded in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
        async with http.post(f"{gw.url}/public/up", data=encoded,
                             headers={"Content-Encoding": encoding}) as resp:  # fmt: skip
            assert resp.status == 200, await resp.text()
            seen = await resp.json()
        assert seen["body"] == body.decode()
        assert "content-encoding" not in headers_of(seen)


async def test_methods_bodies_and_statuses_pass_through(
    gw: Gateway, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{gw.url}/public/form", data=b"a=1&b=2") as resp:
        seen = await resp.json()
    assert seen["method"] == "POST" and seen["body"] == "a=1&b=2"

    async def chunks() -> AsyncIterator[bytes]:
        yield b"part1-"
        yield b"part2"

    async with http.put(f"{gw.url}/public/chunked", data=chunks()) as resp:
        seen = await resp.json()
    assert seen["method"] == "PUT" and seen["body"] == "part1-part2"
    assert headers_of(seen).get("transfer-encoding") == "chunked"
    async with http.get(
        f"{gw.url}/st/?code=302&location=/elsewhere", allow_redirects=False
    ) as resp:
        assert resp.status == 302 and resp.headers["Location"] == "/elsewhere"  # not followed
    async with http.get(f"{gw.url}/st/?code=204") as resp:
        assert resp.status == 204 and await resp.read() == b""
    async with http.head(f"{gw.url}/st/?code=200") as resp:
        assert resp.status == 200 and resp.headers["Content-Length"] == "11"
    async with http.get(f"{gw.url}/st/?code=418") as resp:
        assert resp.status == 418 and await resp.read() == b"status body"


async def test_userinfo_renews_an_expired_cookie_session(tmp_path: Path) -> None:
    """/auth/userinfo makes the same decision as the proxy: an expired access token in the
    cookie is renewed with its refresh token, and the new cookie comes back."""
    clock = ManualClock(start=time.time())
    async with gateway(make_config(tmp_path, []), clock=clock) as gw:
        pair = await gw.session_pair("renew-me")
        ttl = gw.app[CONFIG].tokens.access_ttl
        clock.advance(ttl + gw.app[CONFIG].tokens.leeway + 5)
        cookie = f"wxgate_session={pair.access_token}~{pair.refresh_token}"
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
            http.get(f"{gw.url}/auth/userinfo", headers={"Cookie": cookie}) as resp,
        ):
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["sub"] == "renew-me"
            assert "wxgate_session=" in resp.headers["Set-Cookie"]
            assert pair.refresh_token not in resp.headers["Set-Cookie"]

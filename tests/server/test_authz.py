"""Authorization over real HTTP: route policies on the proxy and forward auth, roles in tokens
and in ``X-Auth-Roles``, host-matched routes, per-location ``allowed_roles``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.clock import ManualClock
from gateway.server.keys import CONFIG, METRICS, TOKENS, USERS
from gateway.users import Identity
from tests.server.proxy_support import Gateway, Upstream, gateway, make_config

BROWSER = {"Accept": "text/html,application/xhtml+xml"}
API = {"Accept": "application/json"}
OPS_HOST = "ops.example.test"


def routes(up: str) -> list[dict[str, Any]]:
    return [
        {"prefix": "/ops/", "upstream": f"{up}/echo", "allowed_roles": ("ops",), "name": "ops"},
        {"prefix": "/both/", "upstream": f"{up}/echo", "required_roles": ("ops", "oncall")},
        {"prefix": "/mini/", "upstream": f"{up}/echo", "allowed_apps": ("mini",)},
        {"prefix": "/open/", "upstream": f"{up}/echo"},
        {"prefix": "/maybe/", "upstream": f"{up}/echo", "auth": "optional"},
        # one path, two hosts: the ops host needs the role, any other host only a login
        {"prefix": "/app/", "upstream": f"{up}/echo", "host": OPS_HOST,
         "allowed_roles": ("ops",)},
        {"prefix": "/app/", "upstream": f"{up}/echo"},
    ]  # fmt: skip


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()
    await up.start()
    yield up
    await up.stop()


@pytest.fixture
async def clock() -> ManualClock:
    return ManualClock(start=time.time())


@pytest.fixture
async def gw(tmp_path: Path, upstream: Upstream, clock: ManualClock) -> AsyncIterator[Gateway]:
    async with gateway(make_config(tmp_path, routes(upstream.url)), clock=clock) as g:
        yield g


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def user(gw: Gateway, name: str, *roles: str, app: str = "web") -> str:
    """A user in the gateway's directory holding ``roles``; their subject id."""
    appid = gw.app[CONFIG].wechat.apps[app].appid
    linked, _ = await gw.app[USERS].link(Identity(app, appid, f"o_{name}", f"un_{name}"))
    for role in roles:
        await gw.app[USERS].grant_role(linked.sub, role)
    return linked.sub


async def login(gw: Gateway, sub: str, app: str = "web") -> tuple[str, str]:
    """A login session for ``sub`` (as the login flows open one): access and refresh token."""
    appid = gw.app[CONFIG].wechat.apps[app].appid
    pair = await gw.app[TOKENS].issue_session(sub, ["wechat"], appid=appid, openid="o")
    return pair.access_token, pair.refresh_token


async def call(
    http: aiohttp.ClientSession,
    url: str,
    token: str | None = None,
    raw: dict[str, str] | None = None,
    **headers: str,
) -> tuple[int, str, dict[str, Any] | None, aiohttp.ClientResponse]:
    """GET ``url``; ``headers`` named with ``_`` for ``-``, ``raw`` sent as named."""
    hdrs = {**API, **{k.replace("_", "-"): v for k, v in headers.items()}, **(raw or {})}
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    async with http.get(url, headers=hdrs, allow_redirects=False) as resp:
        text = await resp.text()
        body = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, text, body, resp


def upstream_headers(body: dict[str, Any] | None) -> dict[str, list[str]]:
    assert body is not None
    seen: dict[str, list[str]] = {}
    for name, value in body["headers"]:
        seen.setdefault(name.lower(), []).append(value)
    return seen


async def test_a_role_holder_passes_with_its_roles_upstream_and_others_get_403(
    gw: Gateway, http: aiohttp.ClientSession
) -> None:
    ops, _ = await login(gw, await user(gw, "olga", "ops", "dev"))
    status, _, body, _ = await call(http, f"{gw.url}/ops/x", ops, X_Auth_Roles="admin")
    assert status == 200
    seen = upstream_headers(body)
    assert seen["x-auth-roles"] == ["dev,ops"]  # the client's own value never arrives
    other, _ = await login(gw, await user(gw, "otto", "dev"))
    status, _, body, resp = await call(http, f"{gw.url}/ops/x", other, **{"X-Auth-Roles": "ops"})
    assert status == 403 and body is not None
    assert body["error"] == "access_denied" and "not allowed" in body["error_description"]
    assert "Location" not in resp.headers


async def test_a_user_without_roles_sends_no_roles_header_even_when_the_client_does(
    gw: Gateway, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    token, _ = await login(gw, await user(gw, "nora"))
    spoofs = {"X-Auth-Roles": "admin", "X_Auth_Roles": "admin", "x-auth-roles": "ops"}
    for name, value in spoofs.items():
        status, _, body, _ = await call(http, f"{gw.url}/open/x", token, {name: value})
        assert status == 200
        assert not [n for n in upstream_headers(body) if n.replace("_", "-") == "x-auth-roles"]


async def test_a_browser_gets_the_no_access_page_not_a_login_redirect(
    gw: Gateway, http: aiohttp.ClientSession
) -> None:
    token, _ = await login(gw, await user(gw, "bea"))
    for lang, text in (("en", "No access"), ("zh-CN", "无权访问")):
        status, page, _, resp = await call(
            http, f"{gw.url}/ops/x", token, **BROWSER, Accept_Language=lang
        )
        assert status == 403 and resp.content_type == "text/html", page
        assert text in page and "/auth/login" not in page
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]


async def test_all_of_roles_and_login_apps(gw: Gateway, http: aiohttp.ClientSession) -> None:
    both, _ = await login(gw, await user(gw, "bo", "ops", "oncall"))
    one, _ = await login(gw, await user(gw, "uno", "ops"))
    assert (await call(http, f"{gw.url}/both/x", both))[0] == 200
    assert (await call(http, f"{gw.url}/both/x", one))[0] == 403
    mini_user = await user(gw, "mia", app="mini")
    assert (await call(http, f"{gw.url}/mini/x", (await login(gw, mini_user, "mini"))[0]))[0] == 200
    assert (await call(http, f"{gw.url}/mini/x", (await login(gw, mini_user, "web"))[0]))[0] == 403


async def test_a_host_matched_route(gw: Gateway, http: aiohttp.ClientSession) -> None:
    ops, _ = await login(gw, await user(gw, "hal", "ops"))
    plain, _ = await login(gw, await user(gw, "ida"))
    host = {"Host": f"{OPS_HOST}:8443"}  # the port does not matter
    assert (await call(http, f"{gw.url}/app/x", ops, **host))[0] == 200
    assert (await call(http, f"{gw.url}/app/x", plain, **host))[0] == 403
    assert (await call(http, f"{gw.url}/app/x", plain, Host="other.example.test"))[0] == 200
    assert (await call(http, f"{gw.url}/app/x", plain))[0] == 200


async def test_a_host_matched_route_behind_a_trusted_proxy(
    tmp_path: Path, upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    """From a trusted proxy the route's host is X-Forwarded-Host (its first value); from any
    other peer the header is ignored and Host decides."""
    trusted = make_config(
        tmp_path, routes(upstream.url), WXGATE_SERVER__TRUSTED_PROXIES="127.0.0.0/8"
    )
    front = {"Host": "gateway.internal", "X-Forwarded-Host": f"{OPS_HOST}:443, other.test"}
    async with gateway(trusted) as gw:
        plain, _ = await login(gw, await user(gw, "jan"))
        ops, _ = await login(gw, await user(gw, "kim", "ops"))
        assert (await call(http, f"{gw.url}/app/x", plain, raw=front))[0] == 403
        assert (await call(http, f"{gw.url}/app/x", ops, raw=front))[0] == 200
        elsewhere = {"Host": OPS_HOST, "X-Forwarded-Host": "other.test"}
        assert (await call(http, f"{gw.url}/app/x", plain, raw=elsewhere))[0] == 200
    untrusted = make_config(tmp_path / "u", routes(upstream.url))
    async with gateway(untrusted) as gw:
        plain, _ = await login(gw, await user(gw, "lou"))
        assert (await call(http, f"{gw.url}/app/x", plain, raw=front))[0] == 200
        spoof = {"Host": OPS_HOST, "X-Forwarded-Host": "other.test"}  # cannot dodge the rule
        assert (await call(http, f"{gw.url}/app/x", plain, raw=spoof))[0] == 403


async def test_a_role_change_takes_effect_at_the_next_refresh(
    gw: Gateway, http: aiohttp.ClientSession
) -> None:
    sub = await user(gw, "rae")
    access, refresh = await login(gw, sub)
    assert (await call(http, f"{gw.url}/ops/x", access))[0] == 403
    await gw.app[USERS].grant_role(sub, "ops")
    assert (await call(http, f"{gw.url}/ops/x", access))[0] == 403  # the token is as issued
    async with http.post(
        f"{gw.url}/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh}
    ) as resp:
        assert resp.status == 200
        renewed = await resp.json()
    status, _, body, _ = await call(http, f"{gw.url}/ops/x", renewed["access_token"])
    assert status == 200 and upstream_headers(body)["x-auth-roles"] == ["ops"]
    await gw.app[USERS].revoke_role(sub, "ops")
    async with http.post(
        f"{gw.url}/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": renewed["refresh_token"]},
    ) as resp:
        assert resp.status == 200
        again = await resp.json()
    assert (await call(http, f"{gw.url}/ops/x", again["access_token"]))[0] == 403


async def test_a_browser_refused_after_renewal_still_gets_the_renewed_cookie(
    gw: Gateway, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """The session is renewed on the way to the refusal: the rotated refresh token must reach
    the browser, or its next request would present a used one (and end the session)."""
    access, refresh = await login(gw, await user(gw, "cy"))
    tokens = gw.app[CONFIG].tokens
    clock.advance(tokens.access_ttl + tokens.leeway + 5)
    cookie = {"Cookie": f"wxgate_session={access}~{refresh}", **BROWSER}
    async with http.get(f"{gw.url}/ops/x", headers=cookie, allow_redirects=False) as resp:
        assert resp.status == 403
        (renewed,) = [c for c in resp.headers.getall("Set-Cookie") if "wxgate_session" in c]
    assert refresh not in renewed and "~" in renewed


async def test_forward_auth_applies_route_policies_hosts_and_allowed_roles(
    gw: Gateway, http: aiohttp.ClientSession
) -> None:
    ops, _ = await login(gw, await user(gw, "fay", "ops"))
    admin, _ = await login(gw, await user(gw, "ada", "admin"))
    plain, _ = await login(gw, await user(gw, "gus"))
    verify = f"{gw.url}/auth/verify"
    status, _, _, resp = await call(http, verify, ops, X_Original_URI="/ops/x")
    assert status == 200 and resp.headers["X-Auth-Roles"] == "ops"
    assert (await call(http, verify, plain, X_Original_URI="/ops/x"))[0] == 403
    status, page, _, resp = await call(http, verify, plain, X_Original_URI="/ops/x", **BROWSER)
    assert status == 403 and "No access" in page and "Location" not in resp.headers
    # per nginx location: any of the roles on the verify URL, on top of the route's policy
    for token, expected in ((ops, 200), (admin, 200), (plain, 403)):
        status, _, body, _ = await call(
            http, f"{verify}?allowed_roles=ops,admin", token, X_Original_URI="/open/x"
        )
        assert status == expected, body
    assert (await call(http, f"{verify}?allowed_roles=admin", ops, X_Original_URI="/ops/x"))[
        0
    ] == 403
    plain_sub = (await gw.app[TOKENS].introspect(plain))["sub"]
    assert (await call(http, f"{verify}?allowed_subjects={plain_sub}", plain))[0] == 200
    assert (await call(http, f"{verify}?allowed_subjects={plain_sub}", ops))[0] == 403
    # a requirement on the verify URL needs a caller, even on an optional route
    maybe = {"X_Original_URI": "/maybe/x"}
    assert (await call(http, verify, None, **maybe))[0] == 200
    assert (await call(http, f"{verify}?allowed_roles=ops", None, **maybe))[0] == 401
    assert (await call(http, f"{verify}?allowed_roles=ops", ops, **maybe))[0] == 200
    status, _, body, _ = await call(http, f"{verify}?allowed_roles=Not%20A%20Role", ops)
    assert status == 400 and body is not None and body["error"] == "invalid_request"
    # the host forward auth fronts: X-Forwarded-Host, or the host of X-Original-URL
    fwd = {"X_Original_URI": "/app/x", "X_Forwarded_Host": OPS_HOST}
    assert (await call(http, verify, ops, **fwd))[0] == 200
    assert (await call(http, verify, plain, **fwd))[0] == 403
    url = {"X_Original_URL": f"https://{OPS_HOST}/app/x"}
    assert (await call(http, verify, plain, **url))[0] == 403
    assert (await call(http, verify, plain, X_Original_URI="/app/x"))[0] == 200
    two = {**fwd, "X_Original_URL": "https://other.example.test/app/x"}
    assert (await call(http, verify, ops, **two))[0] == 403  # two hosts named: refused


async def test_decisions_are_counted_per_route(gw: Gateway, http: aiohttp.ClientSession) -> None:
    ops, _ = await login(gw, await user(gw, "kim", "ops"))
    plain, _ = await login(gw, await user(gw, "lou"))
    await call(http, f"{gw.url}/ops/x", ops)
    await call(http, f"{gw.url}/ops/x", plain)
    await call(http, f"{gw.url}/ops/y", plain)
    await call(http, f"{gw.url}/app/x", plain, Host=OPS_HOST)
    registry = gw.app[METRICS].registry

    def count(route: str, result: str) -> float | None:
        labels = {"route": route, "result": result}
        return registry.get_sample_value("wxgate_authz_decisions_total", labels)

    assert (count("ops", "allowed"), count("ops", "denied")) == (1, 2)
    assert count(f"{OPS_HOST}/app/", "denied") == 1
    async with http.get(f"{gw.url}/metrics") as resp:
        assert 'wxgate_authz_decisions_total{result="denied",route="ops"} 2.0' in (
            await resp.text()
        )


async def test_tokens_carry_at_most_max_roles(gw: Gateway) -> None:
    names = [f"r{i:02d}" for i in range(40)]
    token, _ = await login(gw, await user(gw, "max", *names))
    claims = gw.app[TOKENS].verify(token)
    assert claims.role_list == tuple(names[:32]) and claims.raw["roles"] == names[:32]

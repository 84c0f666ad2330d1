"""Authorization through a real nginx ``auth_request`` with the shipped config: a route policy,
a per-location ``allowed_roles`` on the verify URL, a host-matched route, ``X-Auth-Roles``.

The per-location pattern is the one the shipped file documents: its ``location /`` and its
verify location copied under ``/team/`` with ``?allowed_roles=ops,admin`` on the verify URL.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.clock import ManualClock
from gateway.server.keys import CONFIG, TOKENS, USERS
from gateway.users import Identity
from tests.e2e.test_nginx import BROWSER, Nginx, _nginx_binary, render
from tests.fixtures.net import free_port
from tests.server.proxy_support import Gateway, Upstream, gateway, make_config

pytestmark = [pytest.mark.nginx]

OPS_HOST = "ops.example.test"


def per_location(site: str) -> str:
    """``site`` plus ``/team/``, guarded by ``/auth/verify?allowed_roles=ops,admin``."""
    main = re.search(r"\n    location / \{\n.*?\n    \}\n", site, re.S)
    verify = re.search(r"\n    location = /_wxgate/verify \{\n.*?\n    \}\n", site, re.S)
    assert main is not None and verify is not None
    team = main.group(0).replace("location / {", "location /team/ {")
    team = team.replace("auth_request /_wxgate/verify;", "auth_request /_wxgate/verify_team;")
    check = verify.group(0).replace("/_wxgate/verify {", "/_wxgate/verify_team {")
    check = check.replace(
        "proxy_pass http://wxgate/auth/verify;",
        "proxy_pass http://wxgate/auth/verify?allowed_roles=ops,admin;",
    )
    assert "allowed_roles" in check and "verify_team;" in team
    return site.replace(main.group(0), main.group(0) + team + check)


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()
    await up.start()
    yield up
    await up.stop()


@pytest.fixture
async def gw(tmp_path: Path, upstream: Upstream) -> AsyncIterator[Gateway]:
    routes: list[dict[str, Any]] = [
        {"prefix": "/ops/", "upstream": upstream.url, "allowed_roles": ("ops",)},
        {"prefix": "/hosted/", "upstream": upstream.url, "host": OPS_HOST,
         "allowed_roles": ("ops",)},
        {"prefix": "/", "upstream": upstream.url, "auth": "required"},
    ]  # fmt: skip
    config = make_config(tmp_path, routes, WXGATE_SERVER__TRUSTED_PROXIES="127.0.0.1/32")
    async with gateway(config, clock=ManualClock(start=time.time())) as g:
        yield g


@pytest.fixture
def nginx(tmp_path: Path, gw: Gateway, upstream: Upstream) -> Iterator[str]:
    binary = _nginx_binary()
    port = free_port()
    (tmp_path / "nginx").mkdir()
    server = Nginx(tmp_path / "nginx", port)
    server.start(binary, per_location(render(gw.url.split("//")[1], upstream.url[7:], port)))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


async def token_for(gw: Gateway, name: str, *roles: str) -> str:
    appid = gw.app[CONFIG].wechat.apps["web"].appid
    user, _ = await gw.app[USERS].link(Identity("web", appid, f"o_{name}"))
    for role in roles:
        await gw.app[USERS].grant_role(user.sub, role)
    pair = await gw.app[TOKENS].issue_session(user.sub, ["wechat"], appid=appid)
    return pair.access_token


async def get(url: str, token: str, **headers: str) -> tuple[int, Any, str]:
    hdrs = {"Authorization": f"Bearer {token}", **headers}
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        http.get(url, headers=hdrs, allow_redirects=False) as resp,
    ):
        return resp.status, resp.headers.copy(), await resp.text()


def seen(upstream: Upstream) -> dict[str, str]:
    return {k.lower(): v for k, v in upstream.received[-1]["headers"]}


async def test_route_policy_through_nginx(nginx: str, gw: Gateway, upstream: Upstream) -> None:
    ops = await token_for(gw, "olga", "ops", "dev")
    status, _, _ = await get(f"{nginx}/ops/x", ops, **{"X-Auth-Roles": "admin"})
    assert status == 200 and seen(upstream)["x-auth-roles"] == "dev,ops"
    plain = await token_for(gw, "paul")
    received = len(upstream.received)
    status, headers, body = await get(f"{nginx}/ops/x", plain, Accept="application/json")
    assert status == 403 and '"access_denied"' in body
    assert headers["Content-Type"].startswith("application/json")
    status, headers, page = await get(f"{nginx}/ops/x", plain, Accept=BROWSER)
    assert status == 403 and "No access" in page and "Location" not in headers
    assert headers["Content-Type"].startswith("text/html")
    assert len(upstream.received) == received  # refused at the edge
    # a client-sent roles header never reaches the app, for a user without roles too
    status, _, _ = await get(f"{nginx}/other", plain, **{"X-Auth-Roles": "ops"})
    assert status == 200 and "x-auth-roles" not in seen(upstream)


async def test_allowed_roles_per_nginx_location(
    nginx: str, gw: Gateway, upstream: Upstream
) -> None:
    ops = await token_for(gw, "ora", "ops")
    admin = await token_for(gw, "ada", "admin")
    dev = await token_for(gw, "dev", "dev")
    for token in (ops, admin):
        status, _, _ = await get(f"{nginx}/team/x", token)
        assert status == 200 and upstream.received[-1]["path"] == "/team/x"
    status, _, body = await get(f"{nginx}/team/x", dev, Accept="application/json")
    assert status == 403 and '"access_denied"' in body
    assert (await get(f"{nginx}/elsewhere", dev))[0] == 200  # only that location asks


async def test_host_matched_route_through_nginx(nginx: str, gw: Gateway) -> None:
    ops = await token_for(gw, "hana", "ops")
    plain = await token_for(gw, "ivo")
    assert (await get(f"{nginx}/hosted/x", ops, Host=OPS_HOST))[0] == 200
    assert (await get(f"{nginx}/hosted/x", plain, Host=OPS_HOST))[0] == 403
    assert (await get(f"{nginx}/hosted/x", plain, Host="other.example.test"))[0] == 200

"""A real nginx with the shipped ``deploy/nginx/wxgate.conf`` in front of a real upstream.

The shipped file is used as is except for its three documented placeholders (the gateway's
address, the application's address and the listen port), which the test substitutes. nginx runs
from a temporary prefix, in the foreground, and is stopped by PID.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.clock import ManualClock
from gateway.config import ProxyConfig
from gateway.server.keys import CONFIG
from tests.fixtures.net import free_port
from tests.server.proxy_support import (
    Gateway,
    Upstream,
    gateway,
    make_config,
)

pytestmark = [pytest.mark.nginx]

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "wxgate.conf"
PLACEHOLDERS = ("server 127.0.0.1:8080;", "server 127.0.0.1:9000;", "listen 8000;")
BROWSER = "text/html,application/xhtml+xml,*/*;q=0.8"


def _nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not found:
        message = "nginx not found (apt-get install nginx, or `make deps`)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def render(gateway_addr: str, app_addr: str, port: int) -> str:
    """The shipped config with its placeholders replaced."""
    text = SHIPPED.read_text()
    for placeholder in PLACEHOLDERS:
        assert text.count(placeholder) == 1, placeholder
    return (
        text.replace(PLACEHOLDERS[0], f"server {gateway_addr};")
        .replace(PLACEHOLDERS[1], f"server {app_addr};")
        .replace(PLACEHOLDERS[2], f"listen 127.0.0.1:{port};")
    )


class Nginx:
    def __init__(self, prefix: Path, port: int) -> None:
        self.prefix = prefix
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, binary: str, site: str) -> None:
        (self.prefix / "logs").mkdir()
        (self.prefix / "wxgate.conf").write_text(site)
        user = "user root;\n" if os.geteuid() == 0 else ""
        temp = " ".join(
            f"{kind}_temp_path {self.prefix / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (self.prefix / "nginx.conf").write_text(
            f"{user}worker_processes 1;\nevents {{ worker_connections 256; }}\n"
            f"http {{ access_log off; {temp} include {self.prefix / 'wxgate.conf'}; }}\n"
        )
        self.proc = subprocess.Popen(
            [
                binary, "-e", "stderr", "-p", str(self.prefix),
                "-c", str(self.prefix / "nginx.conf"),
                "-g", f"daemon off; pid {self.prefix / 'nginx.pid'};",
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        self._wait_listening()

    def _wait_listening(self) -> None:
        assert self.proc is not None
        for _ in range(200):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"nginx exited: {err}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.025)
        raise RuntimeError("nginx did not start listening")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr:
            proc.stderr.close()


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()
    await up.start()
    yield up
    await up.stop()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=time.time())


@pytest.fixture
async def gw(tmp_path: Path, upstream: Upstream, clock: ManualClock) -> AsyncIterator[Gateway]:
    routes: list[dict[str, Any]] = [
        {"prefix": "/public/", "upstream": upstream.url, "auth": "public"},
        {"prefix": "/demo/", "upstream": upstream.url, "auth": "required"},
        {"prefix": "/", "upstream": upstream.url, "auth": "public"},
    ]
    config = make_config(tmp_path, routes, WXGATE_SERVER__TRUSTED_PROXIES="127.0.0.1/32")
    async with gateway(config, clock=clock) as g:
        yield g


@pytest.fixture
def nginx(tmp_path: Path, gw: Gateway, upstream: Upstream) -> Iterator[str]:
    binary = _nginx_binary()
    port = free_port()
    server = Nginx(tmp_path / "nginx", port)
    (tmp_path / "nginx").mkdir()
    site = render(gw.url.split("//")[1], upstream.url.split("//")[1], port)
    server.start(binary, site)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


async def _get(url: str, **headers: str) -> tuple[int, Any, str]:
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        http.get(url, headers=headers, allow_redirects=False) as resp,
    ):
        return resp.status, resp.headers.copy(), await resp.text()


def _seen(upstream: Upstream) -> dict[str, str]:
    return {k.lower(): v for k, v in upstream.received[-1]["headers"]}


async def test_valid_token_reaches_upstream_with_identity(
    nginx: str, gw: Gateway, upstream: Upstream
) -> None:
    token = await gw.token("nginx-user")
    status, _, _ = await _get(
        f"{nginx}/demo/x?y=1",
        Authorization=f"Bearer {token}",
        **{"X-Auth-Subject": "spoofed", "X-Auth-Scope": "admin"},
    )
    assert status == 200
    seen = _seen(upstream)
    assert upstream.received[-1]["path"] == "/demo/x"
    assert seen["x-auth-subject"] == "nginx-user"
    assert seen["x-auth-openid"] == "o-123" and seen["x-auth-scope"] == "read"
    assert "x-auth-token" not in seen


async def test_api_request_without_token_is_401(nginx: str, upstream: Upstream) -> None:
    status, headers, body = await _get(f"{nginx}/demo/x", Accept="application/json")
    assert status == 401
    assert headers["Content-Type"].startswith("application/json")
    assert '"invalid_token"' in body
    assert headers.getall("WWW-Authenticate") == ['Bearer realm="wxgate"']
    assert upstream.received == []


async def test_browser_without_session_is_redirected_to_login(nginx: str) -> None:
    status, headers, _ = await _get(f"{nginx}/demo/page?a=1&b=2", Accept=BROWSER)
    assert status == 302
    assert headers["Location"] == "/auth/login?return_to=/demo/page%3Fa%3D1%26b%3D2"


async def test_spoofed_identity_never_reaches_upstream(nginx: str, upstream: Upstream) -> None:
    status, _, _ = await _get(
        f"{nginx}/public/x",
        **{"X-Auth-Subject": "admin", "X-Auth-OpenID": "evil", "X-Auth-Token": "evil"},
    )
    assert status == 200
    seen = _seen(upstream)
    assert not {"x-auth-subject", "x-auth-openid", "x-auth-token"} & set(seen)


async def test_renewed_session_cookie_reaches_the_browser(
    nginx: str, gw: Gateway, clock: ManualClock, upstream: Upstream
) -> None:
    pair = await gw.session_pair("cookie-user")
    tokens = gw.app[CONFIG].tokens
    clock.advance(tokens.access_ttl + tokens.leeway + 5)  # the access token has expired
    cookie = f"theme=dark; wxgate_session={pair.access_token}~{pair.refresh_token}; lang=zh"
    status, headers, _ = await _get(f"{nginx}/demo/x", Cookie=cookie)
    assert status == 200
    seen = _seen(upstream)
    assert seen["x-auth-subject"] == "cookie-user"
    assert seen["cookie"] == "theme=dark; lang=zh"  # the session cookie stays at the edge
    (renewed,) = [c for c in headers.getall("Set-Cookie", []) if c.startswith("wxgate_session=")]
    assert pair.refresh_token not in renewed


async def test_both_session_cookie_names_stay_at_the_edge(
    nginx: str, gw: Gateway, upstream: Upstream
) -> None:
    """``__Host-wxgate_session`` (Secure, no domain) and the bare name a browser may still hold
    from before the prefix: neither reaches the app, in either order."""
    value = "{0.access_token}~{0.refresh_token}".format(await gw.session_pair("two-names"))
    for pair in (f"__Host-wxgate_session=x~y; wxgate_session={value}",
                 f"wxgate_session={value}; __Host-wxgate_session=x~y"):  # fmt: skip
        status, _, _ = await _get(f"{nginx}/demo/x", Cookie=f"theme=dark; {pair}; lang=zh")
        assert status == 200
        assert _seen(upstream)["cookie"] == "theme=dark; lang=zh", pair


async def test_login_pages_are_served_by_the_gateway(nginx: str) -> None:
    status, headers, _ = await _get(f"{nginx}/auth/verify", **{"X-Original-URI": "/public/"})
    assert status == 200 and "X-Request-ID" in headers


def test_shipped_config_matches_gateway_defaults() -> None:
    defaults = ProxyConfig()
    text = SHIPPED.read_text()
    for name in (
        defaults.subject_header,
        defaults.openid_header,
        defaults.unionid_header,
        defaults.appid_header,
        defaults.scope_header,
        defaults.token_header,
        defaults.roles_header,
    ):
        variable = "$upstream_http_" + name.lower().replace("-", "_")
        assert f"proxy_set_header {name} " in text and variable in text, name
    assert "proxy_pass http://wxgate/auth/verify;" in text
    assert "$upstream_http_x_wxgate_login" in text


async def test_upstream_stays_reachable_while_nginx_runs(nginx: str) -> None:
    results = await asyncio.gather(*(_get(f"{nginx}/public/{i}") for i in range(20)))
    assert [status for status, _, _ in results] == [200] * 20


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("//demo/secret", {}),  # nginx merges the slashes and routes to /demo/
        ("/demo/secret", {"X-Forwarded-Uri": "/public/x"}),  # a header of another proxy
        ("/demo/secret", {"X-Original-URL": "http://x/public/"}),
        ("/demo/./secret", {}),
    ],
)
async def test_no_way_around_a_required_route(
    nginx: str, upstream: Upstream, path: str, headers: dict[str, str]
) -> None:
    status, _, _ = await _get(f"{nginx}{path}", Accept="application/json", **headers)
    assert status in (401, 403)
    assert upstream.received == []

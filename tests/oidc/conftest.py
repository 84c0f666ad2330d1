"""An OpenID Provider for the tests: a dev-mode gateway in process (the WeChat simulator mounted,
memory store, a manual clock) with its own clients, and a person logged in through flow B.

Clients (redirect URIs are never visited: the tests stop at the callback URL):
``spa`` public + PKCE, first party; ``conf`` confidential (Basic), first party, client
credentials, back-channel logout to a recorder; ``post`` confidential (client_secret_post);
``third`` confidential, third party (consent page); ``pair`` pairwise subjects.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.clock import ManualClock
from gateway.config import Config, OidcClientConfig, OidcConfig
from gateway.server.app import create_app
from tests.conftest import dev_config
from tests.fixtures.net import free_port
from tests.server.scan_harness import WECHAT_UA

REDIRECT = "http://127.0.0.1:9/cb"
SECRET = "s3cret-for-the-tests-0123456789abcdef"


@dataclass
class Recorder:
    """The back-channel logout endpoint of the ``conf`` client."""

    url: str
    tokens: list[str] = field(default_factory=list)
    server: TestServer | None = None


@dataclass
class OP:
    base: str
    app: web.Application
    config: Config
    clock: ManualClock
    recorder: Recorder
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)

    def browser(self) -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"User-Agent": WECHAT_UA}
        )
        self.sessions.append(session)
        return session

    async def login(self, user: str = "alice") -> aiohttp.ClientSession:
        """A browser logged in as ``user`` through flow B and the simulator (a real login)."""
        browser = self.browser()
        url = f"{self.base}/auth/wechat/mp/login?return_to=/auth/userinfo"
        for _ in range(8):
            if "/connect/oauth2/authorize" in url:
                url = url.split("#")[0] + f"&sim_user={user}&sim_action=allow"
            async with browser.get(url, allow_redirects=False) as r:
                await r.read()
                if r.status not in (301, 302, 303, 307, 308):
                    assert r.status == 200, await r.text()
                    return browser
                url = r.headers["Location"]
                if url.startswith("/"):
                    url = self.base + url
        raise AssertionError("too many redirects")


def clients(recorder_url: str) -> tuple[OidcClientConfig, ...]:
    everything = ("openid", "profile", "phone", "wechat", "offline_access")
    return (
        OidcClientConfig(client_id="spa", token_endpoint_auth_method="none",
                         redirect_uris=(REDIRECT,), post_logout_redirect_uris=(REDIRECT,),
                         first_party=True, scopes=everything),
        OidcClientConfig(client_id="conf", client_secret=SECRET, redirect_uris=(REDIRECT,),
                         post_logout_redirect_uris=("http://127.0.0.1:9/bye",),
                         backchannel_logout_uri=recorder_url, first_party=True,
                         grant_types=("authorization_code", "refresh_token",
                                      "client_credentials"),
                         scopes=(*everything, "roles", "api")),
        OidcClientConfig(client_id="post", client_secret=SECRET, redirect_uris=(REDIRECT,),
                         token_endpoint_auth_method="client_secret_post", first_party=True,
                         scopes=everything),
        OidcClientConfig(client_id="third", client_secret=SECRET, name="Third App",
                         redirect_uris=(REDIRECT,), scopes=everything),
        OidcClientConfig(client_id="pair", client_secret=SECRET, redirect_uris=(REDIRECT,),
                         first_party=True, subject_type="pairwise", scopes=everything),
        OidcClientConfig(client_id="once", client_secret=SECRET, redirect_uris=(REDIRECT,),
                         first_party=True, grant_types=("authorization_code",)),
    )  # fmt: skip


@pytest.fixture
async def op(tmp_path: Path) -> AsyncIterator[OP]:
    recorder_app = web.Application()
    recorder = Recorder("")

    async def backchannel(request: web.Request) -> web.Response:
        form = await request.post()
        recorder.tokens.append(str(form.get("logout_token", "")))
        return web.Response(status=200)

    recorder_app.router.add_post("/bc", backchannel)
    recorder_server = TestServer(recorder_app, host="127.0.0.1", port=free_port())
    await recorder_server.start_server()
    recorder.url = f"http://127.0.0.1:{recorder_server.port}/bc"
    recorder.server = recorder_server

    port = free_port()
    config = dev_config(tmp_path).with_bind("127.0.0.1", port)
    oidc = OidcConfig(clients=clients(recorder.url), pairwise_salt="p" * 40)
    config = dataclasses.replace(config, oidc=oidc)
    clock = ManualClock(start=time.time())
    app = create_app(config, clock=clock)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    provider = OP(f"http://127.0.0.1:{port}", app, config.resolved(), clock, recorder)
    try:
        yield provider
    finally:
        for session in provider.sessions:
            await session.close()
        await server.close()
        await recorder_server.close()


def query_of(location: str) -> dict[str, Any]:
    from urllib.parse import parse_qs, urlsplit

    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

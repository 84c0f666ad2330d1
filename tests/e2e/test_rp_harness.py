"""The relying-party harness itself, without wxgate's provider.

Apache + mod_auth_openidc and the node openid-client script must start, refuse cleanly when the
OP is down, and complete a whole login against ``tests.fixtures.stub_op`` (a small stand-in OP):
so a later failure against the real provider is the provider's, not the harness's.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import aiohttp
import pytest

from tests.fixtures.apache_oidc import (
    BROWSER_HEADERS,
    apache_binary,
    apache_oidc,
    config_test,
    fetch_claims,
    render_config,
    write_server_root,
)
from tests.fixtures.authlib_rp import authlib_code_flow
from tests.fixtures.net import free_port
from tests.fixtures.openid_client import (
    RP_DIR,
    OpenIDClientError,
    client_credentials,
    code_flow,
    redirect_follower,
    require_node_rp,
)
from tests.fixtures.stub_op import SESSION_COOKIE, USER, StubClient, StubOP, stub_op

SECRET = "s3cret-for-the-harness"


@pytest.fixture
async def op() -> AsyncIterator[StubOP]:
    async with stub_op() as running:
        yield running


def logged_in_session(op: StubOP) -> aiohttp.ClientSession:
    """A browser-like client, logged in at the stub OP (cookies from 127.0.0.1 kept)."""
    jar = aiohttp.CookieJar(unsafe=True)
    jar.update_cookies({SESSION_COOKIE: "stub"}, aiohttp.client.URL(op.issuer))
    return aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=10))


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


# -- packaging


def test_lock_pins_the_declared_openid_client() -> None:
    manifest = json.loads((RP_DIR / "package.json").read_text())
    lock = json.loads((RP_DIR / "package-lock.json").read_text())
    pinned = manifest["dependencies"]["openid-client"]
    assert pinned.split(".")[0] == "6" and pinned[0].isdigit(), "pin an exact v6 version"
    assert lock["packages"][""]["dependencies"] == manifest["dependencies"]
    assert lock["packages"]["node_modules/openid-client"]["version"] == pinned


# -- Apache + mod_auth_openidc


@pytest.mark.apache
async def test_apache_accepts_the_rendered_config() -> None:
    binary = apache_binary()
    root = write_server_root()
    try:
        conf = render_config(
            root, free_port(), "http://127.0.0.1:1/.well-known/openid-configuration", "c", "s"
        )
        (root / "httpd.conf").write_text(conf)
        status, output = await config_test(binary, root / "httpd.conf")
        assert status == 0, output
        assert "Syntax OK" in output
        # and it really is checked: a typo is refused
        (root / "httpd.conf").write_text(conf.replace("OIDCScope", "OIDCScopes"))
        status, output = await config_test(binary, root / "httpd.conf")
        assert status != 0 and "OIDCScopes" in output
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.apache
async def test_apache_with_the_op_down_serves_no_claims() -> None:
    dead = f"http://127.0.0.1:{free_port()}/.well-known/openid-configuration"
    async with (
        apache_oidc(dead, "c", SECRET) as rp,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
    ):
        for path in ("/protected", "/protected/claims"):
            for headers in (BROWSER_HEADERS, {}):
                async with session.get(
                    rp.base_url + path, headers=headers, allow_redirects=False
                ) as resp:
                    body = await resp.text()
                    assert resp.status != 200, (path, headers, body)
                    assert "OIDC_CLAIM" not in body
        assert "could not retrieve metadata" in rp.error_log
    assert not Path(rp.root).exists()


@pytest.mark.apache
async def test_apache_login_backchannel_logout_and_rp_logout(op: StubOP) -> None:
    async with apache_oidc(op.discovery_url, "apache-rp", SECRET) as rp:
        op.register(
            StubClient(
                "apache-rp",
                SECRET,
                redirect_uris=[rp.redirect_uri],
                post_logout_redirect_uris=[f"{op.issuer}/bye"],
                backchannel_logout_uri=rp.backchannel_logout_uri,
            )
        )
        async with logged_in_session(op) as session:
            status, claims = await fetch_claims(session, rp)
            assert status == 200, (claims, rp.error_log[-2000:])
            assert claims["OIDC_CLAIM_sub"] == USER["sub"]
            assert claims["OIDC_CLAIM_nickname"] == USER["nickname"]  # UTF-8 intact
            assert claims["REMOTE_USER"].startswith(USER["sub"])
            assert json.loads(claims["OIDC_userinfo_json"])["sub"] == USER["sub"]
            authorize = [p for e, p in op.log if e == "authorize"]
            assert len(authorize) == 1 and authorize[0]["code_challenge_method"] == "S256"
            token_calls = [p for e, p in op.log if e == "token"]
            assert token_calls[0]["auth"] == "Basic "  # client_secret_basic

            # a second visit rides the module's session: no new authorization request
            status, _ = await fetch_claims(session, rp)
            assert status == 200 and len([e for e, _ in op.log if e == "authorize"]) == 1

            # back-channel logout ends that session: the next visit logs in again
            status, body = await op.backchannel_logout("apache-rp")
            assert status == 200, (body, rp.error_log[-2000:])
            status, _ = await fetch_claims(session, rp)
            assert status == 200 and len([e for e, _ in op.log if e == "authorize"]) == 2

            # RP-initiated logout goes to the OP's end-session endpoint with the ID token
            async with session.get(
                rp.logout_url(f"{op.issuer}/bye"), headers=BROWSER_HEADERS, allow_redirects=False
            ) as resp:
                assert resp.status in (302, 303), await resp.text()
                location = resp.headers["Location"]
            assert location.startswith(f"{op.issuer}/auth/end-session?")
            query = parse_qs(urlsplit(location).query)
            assert query["post_logout_redirect_uri"] == [f"{op.issuer}/bye"]
            assert "id_token_hint" in query


# -- node openid-client


@pytest.mark.node
async def test_openid_client_reports_unreachable_discovery_as_json() -> None:
    async def never(url: str) -> str:
        raise AssertionError("must fail before any authorization URL")

    issuer = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(OpenIDClientError) as failure:
        await code_flow(issuer, "c", "http://127.0.0.1:1/cb", never, timeout=10)
    assert failure.value.error is not None
    assert failure.value.error["stage"] == "discovery"
    assert "ECONNREFUSED" in json.dumps(failure.value.error["detail"])


@pytest.mark.node
async def test_openid_client_is_stopped_when_the_browser_side_hangs(op: StubOP) -> None:
    redirect_uri = "http://127.0.0.1:1/node-rp/callback"
    op.register(StubClient("node-rp", SECRET, redirect_uris=[redirect_uri]))

    async def hang(url: str) -> str:
        await asyncio.sleep(60)
        raise AssertionError("unreachable")

    with pytest.raises(OpenIDClientError, match=r"timed out after 1\.0s"):
        await code_flow(op.issuer, "node-rp", redirect_uri, hang, client_secret=SECRET, timeout=1.0)


@pytest.mark.node
async def test_openid_client_whole_flow_and_client_credentials(op: StubOP) -> None:
    require_node_rp()
    redirect_uri = "http://127.0.0.1:1/node-rp/callback"  # never visited: follow stops there
    op.register(
        StubClient(
            "node-rp",
            SECRET,
            redirect_uris=[redirect_uri],
            post_logout_redirect_uris=["http://127.0.0.1:1/node-rp/bye"],
        )
    )
    async with logged_in_session(op) as session:
        result = await code_flow(
            op.issuer,
            "node-rp",
            redirect_uri,
            redirect_follower(session, redirect_uri),
            client_secret=SECRET,
            scope="openid profile",
            post_logout_redirect_uri="http://127.0.0.1:1/node-rp/bye",
        )
    assert result["sub"] == USER["sub"]
    assert result["id_token_claims"]["aud"] == "node-rp"
    assert result["userinfo"]["nickname"] == USER["nickname"]
    assert result["refreshed"] is True
    assert result["refresh_id_token_claims"]["sub"] == USER["sub"]
    assert result["refresh_response"]["refresh_token"] != result["token_response"]["refresh_token"]
    end = parse_qs(urlsplit(result["end_session_url"]).query)
    assert result["end_session_url"].startswith(f"{op.issuer}/auth/end-session?")
    assert end["client_id"] == ["node-rp"]
    assert end["post_logout_redirect_uri"] == ["http://127.0.0.1:1/node-rp/bye"]
    assert end["state"] == [result["end_session_state"]]
    assert end["id_token_hint"] == [result["refresh_response"]["id_token"]]
    assert [p["auth"] for e, p in op.log if e == "token"] == ["Basic ", "Basic "]

    tokens = await client_credentials(op.issuer, "node-rp", SECRET)
    assert tokens["token_type"].lower() == "bearer" and tokens["access_token"]


@pytest.mark.node
@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ({"state": "forged"}, 'unexpected \\"state\\"'),
        ({"iss": "http://127.0.0.1:1"}, 'unexpected \\"iss\\"'),
        ({"error": "access_denied"}, '"error": "access_denied"'),
    ],
)
async def test_openid_client_refuses_a_tampered_callback(
    op: StubOP, tamper: dict[str, str], reason: str
) -> None:
    redirect_uri = "http://127.0.0.1:1/node-rp/callback"
    op.register(StubClient("node-rp", SECRET, redirect_uris=[redirect_uri]))
    async with logged_in_session(op) as session:
        follow = redirect_follower(session, redirect_uri)

        async def tampered(url: str) -> str:
            return with_query(await follow(url), **tamper)

        with pytest.raises(OpenIDClientError) as failure:
            await code_flow(op.issuer, "node-rp", redirect_uri, tampered, client_secret=SECRET)
    assert failure.value.error is not None and failure.value.error["stage"] == "code_grant"
    assert reason in json.dumps(failure.value.error["detail"])
    assert [e for e, _ in op.log].count("token") == 0


# -- Authlib


async def test_authlib_whole_flow(op: StubOP) -> None:
    redirect_uri = "http://127.0.0.1:1/authlib/callback"
    op.register(
        StubClient(
            "authlib-rp",
            SECRET,
            redirect_uris=[redirect_uri],
            token_endpoint_auth_method="client_secret_post",
        )
    )
    async with logged_in_session(op) as session:
        result = await authlib_code_flow(
            op.issuer,
            "authlib-rp",
            SECRET,
            redirect_uri,
            redirect_follower(session, redirect_uri),
            scope="openid profile",
            token_endpoint_auth_method="client_secret_post",
        )
    assert result["sub"] == USER["sub"]
    assert result["userinfo"]["nickname"] == USER["nickname"]
    assert result["id_token_claims"]["aud"] == "authlib-rp"
    assert [p["auth"] for e, p in op.log if e == "token"] == [""]  # secret in the form

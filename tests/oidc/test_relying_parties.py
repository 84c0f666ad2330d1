"""Independent relying parties against a running provider, over real HTTP: openid-client (node,
OpenID Certified) as a public PKCE client, Authlib (Python) as confidential clients, and the
client credentials grant with both."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from tests.fixtures.authlib_rp import authlib_code_flow
from tests.fixtures.openid_client import (
    client_credentials,
    code_flow,
    redirect_follower,
    require_node_rp,
)
from tests.oidc.conftest import OP, REDIRECT, SECRET

pytestmark = [pytest.mark.node]


async def test_openid_client_public_pkce_flow(op: OP) -> None:
    require_node_rp()
    browser = await op.login("alice")
    result = await code_flow(
        op.base, "spa", REDIRECT, redirect_follower(browser, REDIRECT),
        scope="openid profile wechat offline_access", post_logout_redirect_uri=REDIRECT,
    )  # fmt: skip
    claims = result["id_token_claims"]
    assert claims["iss"] == op.base and claims["aud"] == "spa"
    assert claims["sub"].startswith("u_") and claims["nickname"]  # flow B gave a profile
    assert {"auth_time", "at_hash", "nonce", "sid", "amr"} <= set(claims)
    assert claims["amr"] == ["wechat_mp"] and claims["openid"]
    assert result["userinfo"]["sub"] == claims["sub"]
    assert result["userinfo"]["nickname"] == claims["nickname"]
    assert result["refreshed"] is True
    again = result["refresh_id_token_claims"]
    assert again["sub"] == claims["sub"] and again["auth_time"] == claims["auth_time"]
    assert "nonce" not in again  # OIDC Core §12.2
    end = urlsplit(result["end_session_url"])
    assert f"{end.scheme}://{end.netloc}{end.path}" == f"{op.base}/auth/end-session"
    # the access token is for the client's audience, not the gateway's own routes
    access = jwt.decode(result["token_response"]["access_token"],
                        options={"verify_signature": False})  # fmt: skip
    assert access["aud"] == "spa" and access["client_id"] == "spa"


async def test_openid_client_end_session_logs_out_and_redirects(op: OP) -> None:
    require_node_rp()
    browser = await op.login("bob")
    result = await code_flow(op.base, "spa", REDIRECT, redirect_follower(browser, REDIRECT),
                             post_logout_redirect_uri=REDIRECT)  # fmt: skip
    async with browser.get(result["end_session_url"], allow_redirects=False) as r:
        assert r.status == 302
        target = r.headers["Location"]
    assert target.startswith(REDIRECT)
    assert parse_qs(urlsplit(target).query)["state"] == [result["end_session_state"]]
    async with browser.get(f"{op.base}/auth/userinfo") as r:
        assert r.status == 401  # the wxgate session in the browser ended too


async def test_openid_client_client_credentials(op: OP) -> None:
    require_node_rp()
    body = await client_credentials(op.base, "conf", SECRET, scope="api")
    assert body["token_type"].lower() == "bearer" and "refresh_token" not in body
    access = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert access["sub"] == "conf" and access["client_id"] == "conf" and access["scope"] == "api"


@pytest.mark.parametrize(
    ("client_id", "method"), [("conf", "client_secret_basic"), ("post", "client_secret_post")]
)
async def test_authlib_confidential_flow(op: OP, client_id: str, method: str) -> None:
    browser = await op.login("carol")
    result = await authlib_code_flow(
        op.base, client_id, SECRET, REDIRECT, redirect_follower(browser, REDIRECT),
        scope="openid profile", token_endpoint_auth_method=method,
    )  # fmt: skip
    assert result["id_token_claims"]["aud"] == client_id
    assert result["userinfo"]["nickname"]
    assert "openid" not in result["userinfo"]  # the wechat scope was not asked for


async def test_authlib_client_credentials(op: OP) -> None:
    import asyncio

    from authlib.integrations.requests_client import OAuth2Session

    def fetch() -> dict[str, object]:
        with OAuth2Session("conf", SECRET, scope="api") as session:
            return dict(session.fetch_token(f"{op.base}/auth/token",
                                            grant_type="client_credentials"))  # fmt: skip

    token = await asyncio.to_thread(fetch)
    assert token["access_token"] and "refresh_token" not in token

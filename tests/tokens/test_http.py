"""The HTTP side: JWKS and discovery read by independent clients, and the RFC 6749 §6 /
7009 / 7662 / userinfo / logout endpoints."""

from __future__ import annotations

import asyncio
import base64
import json
from urllib.parse import quote_plus, urlsplit

import jwt as pyjwt
import pytest

from gateway.clock import ManualClock
from gateway.server.keys import USERS
from gateway.tokens import admin
from gateway.users import Identity, Profile
from tests.tokens.conftest import INTROSPECTOR, Gateway, MakeGateway

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_no_store(headers: object) -> None:
    for name, value in NO_STORE.items():
        assert headers[name] == value  # type: ignore[index]


# -- JWKS and discovery ---------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_pyjwkclient_verifies_our_token_over_http(
    make_gateway: MakeGateway, alg: str
) -> None:
    """What a microservice does: discovery -> jwks_uri -> PyJWKClient -> jwt.decode."""
    gw = await make_gateway(algorithm=alg)
    pair = await gw.service.issue_session("u_ms", ["wechat_qr"], openid="o-1")
    resp = await gw.client.get("/.well-known/openid-configuration")
    meta = await resp.json()
    assert meta["jwks_uri"] == f"{gw.base}/.well-known/jwks.json"

    def microservice() -> dict[str, object]:
        client = pyjwt.PyJWKClient(meta["jwks_uri"], cache_keys=True)
        key = client.get_signing_key_from_jwt(pair.access_token)
        return pyjwt.decode(  # type: ignore[no-any-return]
            pair.access_token,
            key,
            algorithms=[alg],
            audience="wxgate",
            issuer=meta["issuer"],
            options={"require": ["exp", "iat", "iss", "sub", "aud"]},
        )

    claims = await asyncio.to_thread(microservice)
    assert claims["sub"] == "u_ms" and claims["iss"] == gw.base


async def test_jwks_caching_headers_and_etag(gateway: Gateway, clock: ManualClock) -> None:
    resp = await gateway.client.get("/.well-known/jwks.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    assert resp.headers["Cache-Control"] == "public, max-age=30"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    etag = resp.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    body = await resp.read()
    keys = json.loads(body)["keys"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & {m for k in keys for m in k}
    for inm in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = await gateway.client.get("/.well-known/jwks.json", headers={"If-None-Match": inm})
        assert again.status == 304 and await again.read() == b""
        assert again.headers["ETag"] == etag
    other = await gateway.client.get("/.well-known/jwks.json", headers={"If-None-Match": '"x"'})
    assert other.status == 200 and await other.read() == body
    admin.keys_rotate(gateway.config, clock=clock)
    await gateway.service.ring.reload()
    rotated = await gateway.client.get("/.well-known/jwks.json", headers={"If-None-Match": etag})
    assert rotated.status == 200 and rotated.headers["ETag"] != etag
    assert len((await rotated.json())["keys"]) == 2


async def test_discovery_document(gateway: Gateway) -> None:
    resp = await gateway.client.get("/.well-known/openid-configuration")
    assert resp.status == 200 and resp.headers["Cache-Control"].startswith("public")
    meta = await resp.json()
    # OpenID Connect Discovery 1.0 §3 REQUIRED members
    for name in ("issuer", "authorization_endpoint", "jwks_uri", "response_types_supported",
                 "subject_types_supported", "id_token_signing_alg_values_supported"):  # fmt: skip
        assert meta[name], name
    pair = await gateway.service.issue_session("u_1", ["wechat_qr"])
    iss = pyjwt.decode(pair.access_token, options={"verify_signature": False})["iss"]
    assert meta["issuer"] == iss == gateway.base  # §4.3: identical to the discovery URL base
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                 "revocation_endpoint", "introspection_endpoint"):  # fmt: skip
        url = urlsplit(meta[name])
        assert f"{url.scheme}://{url.netloc}" == gateway.base, name
    # an OpenID Provider (the OIDC provider issue): the code flow with PKCE, RFC 9207
    assert meta["authorization_endpoint"] == f"{gateway.base}/auth/authorize"
    assert meta["end_session_endpoint"] == f"{gateway.base}/auth/end-session"
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["grant_types_supported"] == [
        "authorization_code", "refresh_token", "client_credentials"]  # fmt: skip
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True
    assert meta["request_parameter_supported"] is False
    assert meta["subject_types_supported"] == ["public", "pairwise"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert meta["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post"]  # fmt: skip
    assert "openid" in meta["scopes_supported"] and "sub" in meta["claims_supported"]
    # every advertised endpoint of ours is routed
    for name, method in (("token_endpoint", "POST"), ("userinfo_endpoint", "GET"),
                         ("authorization_endpoint", "GET"), ("end_session_endpoint", "GET"),
                         ("revocation_endpoint", "POST"), ("introspection_endpoint", "POST"),
                         ("jwks_uri", "GET")):  # fmt: skip
        resp = await gateway.client.request(method, urlsplit(meta[name]).path)
        assert resp.status != 404, name


# -- token endpoint (RFC 6749 §6) ------------------------------------------------------------


async def test_refresh_grant_form_and_json(gateway: Gateway) -> None:
    pair = await gateway.service.issue_session("u_1", ["wechat_qr"])
    resp = await gateway.client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": pair.refresh_token}
    )
    assert resp.status == 200, await resp.text()
    assert_no_store(resp.headers)
    body = await resp.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    resp = await gateway.client.post(
        "/auth/token", json={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    )
    assert resp.status == 200
    again = await resp.json()
    assert gateway.service.verify(again["access_token"]).sub == "u_1"


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        ({}, 400, "invalid_request"),
        ({"grant_type": "password", "username": "a"}, 400, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": "x"}, 401, "invalid_client"),
        ({"grant_type": "refresh_token"}, 400, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, 400, "invalid_grant"),
        ({"grant_type": "refresh_token", "refresh_token": "A" * 43}, 400, "invalid_grant"),
    ],
)
async def test_token_endpoint_errors(
    gateway: Gateway, data: dict[str, str], status: int, error: str
) -> None:
    resp = await gateway.client.post("/auth/token", data=data)
    assert resp.status == status
    body = await resp.json()
    assert body["error"] == error and body["error_description"] and "request_id" in body
    assert resp.headers["Cache-Control"] == "no-store"


# -- revocation (RFC 7009) -------------------------------------------------------------------


async def test_revoke_access_refresh_and_unknown_tokens(gateway: Gateway) -> None:
    c = gateway.client
    pair = await gateway.service.issue_session("u_1", ["wechat_qr"])
    assert (await c.get("/auth/userinfo", headers=bearer(pair.access_token))).status == 200
    resp = await c.post("/auth/revoke", data={"token": pair.access_token,
                                              "token_type_hint": "access_token"})  # fmt: skip
    assert resp.status == 200 and await resp.read() == b""
    assert (await c.get("/auth/userinfo", headers=bearer(pair.access_token))).status == 401
    # revoking the refresh token ends the session (RFC 7009 §2.1)
    other = await gateway.service.issue_session("u_1", ["wechat_qr"])
    resp = await c.post("/auth/revoke", data={"token": other.refresh_token})
    assert resp.status == 200
    assert (await c.get("/auth/userinfo", headers=bearer(other.access_token))).status == 401
    grant = {"grant_type": "refresh_token", "refresh_token": other.refresh_token}
    assert (await c.post("/auth/token", data=grant)).status == 400
    for unknown in ("A" * 43, "a.b.c", "garbage", pair.access_token):  # incl. already revoked
        for hint in ("refresh_token", "access_token", "something_else"):
            resp = await c.post("/auth/revoke", data={"token": unknown, "token_type_hint": hint})
            assert resp.status == 200
    resp = await c.post("/auth/revoke", data={})
    assert resp.status == 400 and (await resp.json())["error"] == "invalid_request"


# -- introspection (RFC 7662) ----------------------------------------------------------------


async def test_introspection_requires_client_authentication(gateway: Gateway) -> None:
    c = gateway.client
    pair = await gateway.service.issue_session("u_1", ["wechat_qr"])
    cases = [
        ({}, {}),
        (basic(INTROSPECTOR.client_id, "wrong"), {}),
        (basic("nobody", INTROSPECTOR.client_secret), {}),
        ({"Authorization": "Basic !!!"}, {}),
        ({"Authorization": bearer(pair.access_token)["Authorization"]}, {}),
        ({}, {"client_id": INTROSPECTOR.client_id, "client_secret": "wrong"}),
        ({}, {"client_id": INTROSPECTOR.client_id}),
    ]
    for headers, creds in cases:
        resp = await c.post("/auth/introspect", headers=headers,
                            data={"token": pair.access_token, **creds})  # fmt: skip
        assert resp.status == 401, (headers, creds)
        assert (await resp.json())["error"] == "invalid_client"
        assert resp.headers["WWW-Authenticate"].startswith("Basic")
    both = {"client_id": INTROSPECTOR.client_id, "client_secret": INTROSPECTOR.client_secret}
    resp = await c.post("/auth/introspect", headers=basic(INTROSPECTOR.client_id,
                        INTROSPECTOR.client_secret), data={"token": "x", **both})  # fmt: skip
    assert resp.status == 400


async def test_introspection_answers(gateway: Gateway) -> None:
    c, service = gateway.client, gateway.service
    pair = await service.issue_session("u_1", ["wechat_qr"], openid="o-1", appid="wxa")
    auth = basic(INTROSPECTOR.client_id, INTROSPECTOR.client_secret)

    async def introspect(token: str, post_auth: bool = False) -> dict[str, object]:
        data = {"token": token}
        headers = auth
        if post_auth:
            data.update(client_id=INTROSPECTOR.client_id, client_secret=INTROSPECTOR.client_secret)
            headers = {}
        resp = await c.post("/auth/introspect", headers=headers, data=data)
        assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
        return await resp.json()  # type: ignore[no-any-return]

    info = await introspect(pair.access_token)
    assert info["active"] is True and info["sub"] == "u_1" and info["token_type"] == "Bearer"
    assert info["iss"] == gateway.base and info["client_id"] == "wxgate" and info["aud"] == "wxgate"
    assert isinstance(info["exp"], int) and info["openid"] == "o-1"
    info = await introspect(pair.refresh_token, post_auth=True)
    assert info["active"] is True and info["sub"] == "u_1" and info["iss"] == gateway.base
    for dead in ("garbage", "a.b.c", "A" * 43, ""):
        if dead:
            assert await introspect(dead) == {"active": False}
    await service.revoke_session(pair.sid)
    assert await introspect(pair.access_token) == {"active": False}
    assert await introspect(pair.refresh_token) == {"active": False}


# -- userinfo and logout ---------------------------------------------------------------------


async def test_userinfo_with_bearer_and_cookie(gateway: Gateway) -> None:
    c, service = gateway.client, gateway.service
    pair = await service.issue_session("u_1", ["wechat_qr"], openid="o-1", appid="wxa")
    resp = await c.get("/auth/userinfo", headers=bearer(pair.access_token))
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    assert await resp.json() == {"sub": "u_1", "appid": "wxa", "openid": "o-1",
                                 "amr": ["wechat_qr"]}  # fmt: skip
    cookie = {"Cookie": f"wxgate_session={pair.access_token}~{pair.refresh_token}"}
    resp = await c.post("/auth/userinfo", headers=cookie)
    assert resp.status == 200 and (await resp.json())["sub"] == "u_1"


async def test_userinfo_reads_the_user_directory(gateway: Gateway) -> None:
    users = gateway.client.app[USERS]
    user, _ = await users.link(Identity("web", "wxa", "o-1", "un-1"),
                               Profile("Xiao Ming", "https://img.example/a.png"))  # fmt: skip
    await users.set_phone(user.sub, "+8613800000000")
    pair = await gateway.service.issue_session(user.sub, ["wechat_qr"], openid="o-1", appid="wxa")
    resp = await gateway.client.get("/auth/userinfo", headers=bearer(pair.access_token))
    body = await resp.json()
    assert body["sub"] == user.sub and body["unionid"] == "un-1"
    assert body["nickname"] == "Xiao Ming" and body["picture"] == "https://img.example/a.png"
    assert body["phone_number"] == "+8613800000000"
    assert body["identities"] == [{"app": "web", "appid": "wxa", "openid": "o-1",
                                   "unionid": "un-1"}]  # fmt: skip


async def test_userinfo_without_credentials(gateway: Gateway) -> None:
    resp = await gateway.client.get("/auth/userinfo")
    assert resp.status == 401 and (await resp.json())["error"] == "invalid_token"
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="wxgate"'


async def test_logout_api_and_browser(gateway: Gateway) -> None:
    c, service = gateway.client, gateway.service
    pair = await service.issue_session("u_1", ["wechat_qr"])
    resp = await c.post("/auth/logout", headers=bearer(pair.access_token))
    assert resp.status == 204
    assert "wxgate_session=" in resp.headers["Set-Cookie"]
    assert "Max-Age=0" in resp.headers["Set-Cookie"] or "expires" in resp.headers["Set-Cookie"]
    assert (await c.get("/auth/userinfo", headers=bearer(pair.access_token))).status == 401
    grant = {"grant_type": "refresh_token", "refresh_token": pair.refresh_token}
    assert (await c.post("/auth/token", data=grant)).status == 400

    browser = await service.issue_session("u_2", ["wechat_qr"])
    cookie = {"Cookie": f"wxgate_session={browser.access_token}~{browser.refresh_token}"}
    resp = await c.post("/auth/logout", headers=cookie, data={"return_to": "/bye?x=1"},
                        allow_redirects=False)  # fmt: skip
    assert resp.status == 303 and resp.headers["Location"] == "/bye?x=1"
    assert (await c.get("/auth/userinfo", headers=cookie)).status == 401
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        resp = await c.post("/auth/logout", data={"return_to": evil}, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/"
    # the access token expired long ago but the refresh token in the cookie still names it
    third = await service.issue_session("u_3", ["wechat_qr"])
    cookie = {"Cookie": f"wxgate_session=expired.jwt.here~{third.refresh_token}"}
    assert (await c.post("/auth/logout", headers=cookie)).status == 204
    assert (await c.get("/auth/userinfo", headers=bearer(third.access_token))).status == 401
    assert (await c.post("/auth/logout")).status == 204  # nothing to end: still fine


async def test_discovery_endpoints_follow_the_issuer_not_the_bind_address(
    make_gateway: MakeGateway,
) -> None:
    gw = await make_gateway(issuer="https://auth.example.com")
    meta = await (await gw.client.get("/.well-known/openid-configuration")).json()
    assert meta["issuer"] == "https://auth.example.com"
    assert meta["jwks_uri"] == "https://auth.example.com/.well-known/jwks.json"
    assert meta["token_endpoint"] == "https://auth.example.com/auth/token"

"""The provider's refusals (each one asserted), consent, single sign-on, prompt=none,
back-channel logout and pairwise subjects, over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

import aiohttp
import jwt
import pytest

from gateway.server.keys import TOKENS, USERS
from gateway.users import AuditQuery
from tests.oidc.conftest import OP, REDIRECT, SECRET, query_of

VERIFIER = secrets.token_urlsafe(48)
CHALLENGE = (
    base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
)


def authorize_url(op: OP, client_id: str = "spa", **extra: str) -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
              "scope": "openid profile", "state": "st-1", "nonce": "n-1",
              "code_challenge": CHALLENGE, "code_challenge_method": "S256"}  # fmt: skip
    params.update(extra)
    return f"{op.base}/auth/authorize?{urlencode({k: v for k, v in params.items() if v})}"


async def authorize(browser: aiohttp.ClientSession, url: str) -> aiohttp.ClientResponse:
    async with browser.get(url, allow_redirects=False) as r:
        await r.read()
        return r


async def code_for(
    op: OP, browser: aiohttp.ClientSession, client_id: str = "spa", **extra: str
) -> str:
    r = await authorize(browser, authorize_url(op, client_id, **extra))
    assert r.status == 302, await r.text()
    query = query_of(r.headers["Location"])
    assert query["state"] == "st-1" and query["iss"] == op.base, query
    return str(query["code"])


async def token(
    op: OP, data: dict[str, str], auth: tuple[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": aiohttp.encode_basic_auth(*auth)} if auth else None
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{op.base}/auth/token", data=data, headers=headers) as r,
    ):
        assert r.headers["Cache-Control"].startswith("no-store")
        return r.status, await r.json()


async def basic_exchange(op: OP, code: str, client_id: str) -> tuple[int, dict[str, Any]]:
    """Redeem ``code`` as the confidential ``client_id``, authenticated with HTTP Basic."""
    data = exchange(code, client_id=client_id)
    del data["client_id"]
    return await token(op, data, auth=(client_id, SECRET))


def exchange(code: str, client_id: str = "spa", verifier: str = VERIFIER) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "client_id": client_id,
            "redirect_uri": REDIRECT, "code_verifier": verifier}  # fmt: skip


# -- the authorization endpoint: before the client is trusted, a page and never a redirect -----


@pytest.mark.parametrize("redirect_uri", [
    "http://127.0.0.1:9/other",         # unregistered
    "http://127.0.0.1:9/cb/extra",       # extra path
    "http://127.0.0.1:9/cb?x=1",         # extra query
    "http://127.0.0.1:9/cb#frag",        # fragment
    "HTTP://127.0.0.1:9/cb",             # case
    "http://127.0.0.1:9/cb/",            # trailing slash
    "http://user@127.0.0.1:9/cb",        # userinfo
    "http://127.0.0.1:10/cb",            # another port
])  # fmt: skip
async def test_redirect_uri_variants_get_a_page_not_a_redirect(op: OP, redirect_uri: str) -> None:
    browser = await op.login()
    r = await authorize(browser, authorize_url(op, redirect_uri=redirect_uri))
    assert r.status == 400 and "Location" not in r.headers
    assert r.content_type == "text/html"


async def test_unknown_client_gets_a_page(op: OP) -> None:
    r = await authorize(op.browser(), authorize_url(op, "nobody"))
    assert r.status == 400 and "Location" not in r.headers


# -- after it: an error redirect with state and iss --------------------------------------------


@pytest.mark.parametrize(("extra", "error"), [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": "id_token"}, "unsupported_response_type"),
    ({"code_challenge": "", "code_challenge_method": ""}, "invalid_request"),  # public, no PKCE
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"scope": "profile"}, "invalid_scope"),                       # no openid
    ({"scope": "openid admin"}, "invalid_scope"),                  # not allowed for the client
    ({"prompt": "none login"}, "invalid_request"),
    ({"request": "eyJ.x.y"}, "request_not_supported"),
])  # fmt: skip
async def test_refusals_redirect_with_state_and_iss(
    op: OP, extra: dict[str, str], error: str
) -> None:
    browser = await op.login()
    r = await authorize(browser, authorize_url(op, **extra))
    assert r.status == 302
    query = query_of(r.headers["Location"])
    assert r.headers["Location"].startswith(REDIRECT + "?")
    assert query["error"] == error and query["state"] == "st-1" and query["iss"] == op.base


async def test_prompt_none_without_session_is_login_required(op: OP) -> None:
    r = await authorize(op.browser(), authorize_url(op, prompt="none"))
    assert r.status == 302
    query = query_of(r.headers["Location"])
    assert query == {"error": "login_required", "error_description": query["error_description"],
                     "state": "st-1", "iss": op.base}  # fmt: skip


async def test_wechat_browser_without_session_logs_in_through_flow_b(op: OP) -> None:
    browser = op.browser()  # WeChat's User-Agent
    r = await authorize(browser, authorize_url(op))
    assert r.status == 302 and r.headers["Location"].startswith("/auth/wechat/mp/login?")
    assert query_of(r.headers["Location"])["return_to"].startswith("/auth/authorize?")


async def test_no_session_goes_to_the_login_page_and_back(op: OP) -> None:
    async with aiohttp.ClientSession() as pc:  # a PC browser, no session
        r = await authorize(pc, authorize_url(op, prompt="login", max_age="0"))
    assert r.status == 302 and r.headers["Location"].startswith("/auth/login?return_to=")
    back = query_of(r.headers["Location"])["return_to"]
    assert back.startswith("/auth/authorize?") and "prompt" not in back and "max_age" not in back


# -- the token endpoint ------------------------------------------------------------------------


async def test_wrong_verifier_is_invalid_grant(op: OP) -> None:
    code = await code_for(op, await op.login())
    status, body = await token(op, exchange(code, verifier=secrets.token_urlsafe(48)))
    assert status == 400 and body["error"] == "invalid_grant"


async def test_code_redeemed_twice_revokes_the_first_tokens(op: OP) -> None:
    code = await code_for(op, await op.login())
    status, first = await token(op, exchange(code))
    assert status == 200 and first["id_token"] and first["refresh_token"]
    headers = {"Authorization": f"Bearer {first['access_token']}"}
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{op.base}/auth/userinfo", headers=headers) as r:
            assert r.status == 200
        status, again = await token(op, exchange(code))
        assert status == 400 and again["error"] == "invalid_grant"
        async with s.get(f"{op.base}/auth/userinfo", headers=headers) as r:
            assert r.status == 401  # RFC 6749 §4.1.2: what the code produced is revoked
    status, body = await token(op, {"grant_type": "refresh_token", "client_id": "spa",
                                    "refresh_token": first["refresh_token"]})  # fmt: skip
    assert status == 400 and body["error"] == "invalid_grant"


async def test_code_of_one_client_redeemed_by_another(op: OP) -> None:
    code = await code_for(op, await op.login(), "conf")
    data = exchange(code, client_id="post")
    data["client_secret"] = SECRET
    status, body = await token(op, data)
    assert status == 400 and body["error"] == "invalid_grant"


async def test_expired_code(op: OP) -> None:
    code = await code_for(op, await op.login())
    op.clock.advance(op.config.oidc.code_ttl + 1)
    status, body = await token(op, exchange(code))
    assert status == 400 and body["error"] == "invalid_grant"


async def test_refresh_token_of_one_client_used_by_another(op: OP) -> None:
    code = await code_for(op, await op.login(), "conf")
    status, tokens = await basic_exchange(op, code, "conf")
    assert status == 200
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    status, body = await token(op, {**refresh, "client_id": "post", "client_secret": SECRET})
    assert status == 400 and body["error"] == "invalid_grant"
    status, body = await token(op, {**refresh, "client_id": "spa"})  # a public client too
    assert status == 400 and body["error"] == "invalid_grant"
    status, body = await token(op, refresh)  # nor as the gateway's own (first-party) session
    assert status == 400 and body["error"] == "invalid_grant"
    status, body = await token(op, refresh, auth=("conf", SECRET))  # its own client still can
    assert status == 200 and body["id_token"]


async def test_no_refresh_token_for_a_client_without_the_grant(op: OP) -> None:
    code = await code_for(op, await op.login(), "once")
    status, tokens = await basic_exchange(op, code, "once")
    assert status == 200 and tokens["id_token"] and "refresh_token" not in tokens


async def test_client_authentication_failures(op: OP) -> None:
    status, body = await token(op, {"grant_type": "client_credentials"}, auth=("conf", "wrong"))
    assert status == 401 and body["error"] == "invalid_client"
    status, body = await token(op, {"grant_type": "client_credentials", "client_id": "conf",
                                    "client_secret": SECRET})  # fmt: skip
    assert status == 401 and body["error"] == "invalid_client"  # registered for Basic only
    status, body = await token(op, {"grant_type": "client_credentials", "client_id": "spa"})
    assert status == 400 and body["error"] == "unauthorized_client"  # public: no service token


# -- consent, single sign-on ------------------------------------------------------------------


async def test_third_party_consent_is_asked_once(op: OP) -> None:
    browser = await op.login()
    r = await authorize(browser, authorize_url(op, "third"))
    assert r.status == 200 and "Third App" in await r.text()
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "form-action 'self' http://127.0.0.1:9" in csp  # the answer redirects there
    handle = (await r.text()).split('name="consent" value="')[1].split('"')[0]
    async with browser.post(f"{op.base}/auth/authorize/consent",
                            data={"consent": handle, "action": "allow"},
                            allow_redirects=False) as r2:  # fmt: skip
        assert r2.status == 302 and "code" in query_of(r2.headers["Location"])
    async with browser.post(f"{op.base}/auth/authorize/consent",
                            data={"consent": handle, "action": "allow"},
                            allow_redirects=False) as r3:  # fmt: skip
        assert r3.status == 400  # single use
    await code_for(op, browser, "third")  # remembered: straight to a code
    async with browser.delete(f"{op.base}/auth/consents/third") as r5:
        assert r5.status == 204  # revoked: the next authorization asks again
    assert (await authorize(browser, authorize_url(op, "third"))).status == 200
    other = await op.login("mallory")  # another person's form cannot be replayed either
    r4 = await authorize(other, authorize_url(op, "third"))
    assert r4.status == 200


async def test_consent_denied_is_access_denied(op: OP) -> None:
    browser = await op.login()
    r = await authorize(browser, authorize_url(op, "third"))
    handle = (await r.text()).split('name="consent" value="')[1].split('"')[0]
    async with browser.post(f"{op.base}/auth/authorize/consent",
                            data={"consent": handle, "action": "deny"},
                            allow_redirects=False) as r2:  # fmt: skip
        assert query_of(r2.headers["Location"])["error"] == "access_denied"
    entries = await op.app[USERS].query_audit(AuditQuery(action="oidc_consent"))
    assert [(e.kind, e.result, e.details) for e in entries] == [
        ("login", "access_denied", {"client_id": "third"})
    ]
    assert entries[0].subject.startswith("u_") and entries[0].client_ip == "127.0.0.1"


async def test_single_sign_on_and_silent_renewal(op: OP) -> None:
    browser = await op.login()
    await code_for(op, browser, "spa")
    await code_for(op, browser, "conf")  # a second client: no login again
    await code_for(op, browser, "conf", prompt="none")  # silent renewal


# -- logout ------------------------------------------------------------------------------------


async def test_logout_tells_the_client_over_the_back_channel(op: OP) -> None:
    browser = await op.login()
    code = await code_for(op, browser, "conf")
    status, tokens = await basic_exchange(op, code, "conf")
    id_claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    async with browser.post(f"{op.base}/auth/logout", allow_redirects=False) as r:
        assert r.status == 204
    for _ in range(100):
        if op.recorder.tokens:
            break
        await asyncio.sleep(0.02)
    (logout_token,) = op.recorder.tokens
    header = jwt.get_unverified_header(logout_token)
    assert header["typ"] == "logout+jwt"
    jwks = jwt.PyJWKClient(f"{op.base}/.well-known/jwks.json")
    claims = await asyncio.to_thread(
        lambda: jwt.decode(logout_token, jwks.get_signing_key_from_jwt(logout_token).key,
                           algorithms=["RS256"], audience="conf", issuer=op.base)
    )  # fmt: skip
    assert claims["sid"] == id_claims["sid"] and claims["sub"] == id_claims["sub"]
    assert claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
    assert "nonce" not in claims and claims["jti"]
    status, body = await token(
        op,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=("conf", SECRET),
    )
    assert status == 400 and body["error"] == "invalid_grant"  # fmt: skip


async def test_a_session_that_expires_is_told_over_the_back_channel(op: OP) -> None:
    browser = await op.login()
    code = await code_for(op, browser, "conf")
    _, tokens = await basic_exchange(op, code, "conf")
    sid = jwt.decode(tokens["id_token"], options={"verify_signature": False})["sid"]
    service = op.app[TOKENS]
    assert await service.sweep_expired() == 0 and not op.recorder.tokens  # not yet
    op.clock.advance(op.config.tokens.refresh_ttl + 120)  # the session has run out
    assert await service.sweep_expired() == 1
    assert await service.sweep_expired() == 0  # once
    for _ in range(100):
        if op.recorder.tokens:
            break
        await asyncio.sleep(0.02)
    (logout_token,) = op.recorder.tokens
    assert jwt.decode(logout_token, options={"verify_signature": False})["sid"] == sid


async def test_unregistered_post_logout_redirect_is_refused(op: OP) -> None:
    browser = await op.login()
    code = await code_for(op, browser)
    _, tokens = await token(op, exchange(code))
    params = {
        "id_token_hint": tokens["id_token"],
        "post_logout_redirect_uri": "https://evil.example/",
    }
    async with browser.get(f"{op.base}/auth/end-session?{urlencode(params)}",
                           allow_redirects=False) as r:  # fmt: skip
        assert r.status == 400 and "Location" not in r.headers
    async with browser.get(f"{op.base}/auth/userinfo") as r:
        assert r.status == 200  # and nothing was logged out


async def test_end_session_without_hint_asks_first(op: OP) -> None:
    browser = await op.login()
    async with browser.get(f"{op.base}/auth/end-session") as r:
        page = await r.text()
        assert r.status == 200 and 'name="confirm"' in page
    async with browser.get(f"{op.base}/auth/userinfo") as r:
        assert r.status == 200  # not logged out by a GET alone
    handle = page.split('name="confirm" value="')[1].split('"')[0]
    async with browser.post(f"{op.base}/auth/end-session", data={"confirm": handle}) as r:
        assert r.status == 200
    async with browser.get(f"{op.base}/auth/userinfo") as r:
        assert r.status == 401


# -- subjects ----------------------------------------------------------------------------------


async def test_pairwise_subject_differs_per_client_and_is_stable(op: OP) -> None:
    browser = await op.login()
    subs = []
    for client in ("pair", "pair", "conf"):
        code = await code_for(op, browser, client)
        _, tokens = await basic_exchange(op, code, client)
        subs.append(jwt.decode(tokens["id_token"], options={"verify_signature": False})["sub"])
        async with browser.get(
            f"{op.base}/auth/userinfo",
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        ) as r:
            assert (await r.json())["sub"] == subs[-1]  # fmt: skip
    assert subs[0] == subs[1] and subs[0] != subs[2] and subs[0].startswith("p_")


@pytest.mark.parametrize("path", ["/auth/authorize/consent", "/auth/end-session"])
async def test_a_malformed_browser_form_gets_a_page_not_json(op: OP, path: str) -> None:
    """Found by the schemathesis run: a repeated form parameter on a browser's form got the
    JSON error; a browser gets the error page (400) like the authorization request's."""
    async with op.browser().post(
        f"{op.base}{path}",
        data="confirm=a&confirm=b&consent=a&consent=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ) as r:
        assert r.status == 400 and r.content_type == "text/html"
        assert "is repeated" in await r.text()

"""The user's roles reach an OpenID Provider client only with the ``roles`` scope (access
token, ID token, UserInfo, and again after a refresh), while the gateway's own tokens carry
them always; discovery lists the scope and the claim. Over real HTTP."""

from __future__ import annotations

from typing import Any

import jwt

from gateway.server.keys import USERS
from tests.oidc.conftest import OP, SECRET, query_of
from tests.oidc.test_provider import authorize, authorize_url, basic_exchange, code_for, token


def _claims(token_: str) -> dict[str, Any]:
    return jwt.decode(token_, options={"verify_signature": False})  # type: ignore[no-any-return]


async def _userinfo(op: OP, access: str) -> dict[str, Any]:
    import aiohttp

    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{op.base}/auth/userinfo", headers={"Authorization": f"Bearer {access}"}) as r,
    ):
        assert r.status == 200, await r.text()
        return await r.json()  # type: ignore[no-any-return]


async def test_roles_go_to_a_client_only_with_the_roles_scope(op: OP) -> None:
    browser = await op.login("rolf")
    code = await code_for(op, browser, "conf", scope="openid profile")
    _, plain = await basic_exchange(op, code, "conf")
    sub = _claims(plain["id_token"])["sub"]
    assert await op.app[USERS].grant_role(sub, "ops")

    code = await code_for(op, browser, "conf", scope="openid profile")
    _, plain = await basic_exchange(op, code, "conf")
    assert "roles" not in _claims(plain["access_token"])
    assert "roles" not in _claims(plain["id_token"])
    assert "roles" not in await _userinfo(op, plain["access_token"])

    code = await code_for(op, browser, "conf", scope="openid roles offline_access")
    _, scoped = await basic_exchange(op, code, "conf")
    assert _claims(scoped["access_token"])["roles"] == ["ops"]
    assert _claims(scoped["id_token"])["roles"] == ["ops"]
    assert (await _userinfo(op, scoped["access_token"]))["roles"] == ["ops"]
    status, renewed = await token(
        op, {"grant_type": "refresh_token", "refresh_token": scoped["refresh_token"]},
        auth=("conf", SECRET),
    )  # fmt: skip
    assert status == 200 and _claims(renewed["access_token"])["roles"] == ["ops"]

    # a client whose allowed scopes lack ``roles`` cannot ask for it
    r = await authorize(browser, authorize_url(op, "spa", scope="openid roles"))
    assert r.status == 302 and query_of(r.headers["Location"])["error"] == "invalid_scope"


async def test_the_gateways_own_tokens_carry_the_roles_and_discovery_lists_them(op: OP) -> None:
    browser = await op.login("rita")
    code = await code_for(op, browser, "conf", scope="openid")
    _, first = await basic_exchange(op, code, "conf")
    assert await op.app[USERS].grant_role(_claims(first["id_token"])["sub"], "ops")
    again = await op.login("rita")  # the gateway's own session, no scope asked
    cookie = next(c.value for c in again.cookie_jar if c.key == "wxgate_session")
    assert _claims(cookie.split("~")[0])["roles"] == ["ops"]
    async with again.get(f"{op.base}/.well-known/openid-configuration") as r:
        meta = await r.json()
    assert "roles" in meta["scopes_supported"] and "roles" in meta["claims_supported"]

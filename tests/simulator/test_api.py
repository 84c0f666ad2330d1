"""The simulator's server APIs over raw HTTP: reference §5 behaviours 1-6, 10-12."""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import pytest

from gateway.clock import ManualClock
from gateway.simulator import Simulator
from gateway.wechat.crypto import checksession_signature, decrypt_open_data
from tests.simulator.api_helpers import call
from tests.simulator.harness import MINI, MP, SECRETS, WEB

RID = re.compile(r"rid: ([0-9a-f]{8})-[0-9a-f]{8}-[0-9a-f]{8}$")


def js_params(code: str, appid: str = MINI) -> dict[str, str]:
    return {
        "appid": appid,
        "secret": SECRETS[appid],
        "js_code": code,
        "grant_type": "authorization_code",
    }


async def test_jscode2session_success_has_no_errcode(
    http: aiohttp.ClientSession, sim_base: str, sim: Simulator
) -> None:
    body, _ = await call(
        http, sim_base, "sns/jscode2session", **js_params(sim.mint_js_code(MINI, "a"))
    )
    assert set(body) == {"openid", "session_key", "unionid"}
    assert len(body["session_key"]) == 24 and body["session_key"] == sim.session_key(MINI, "a")


@pytest.mark.parametrize(
    ("mode", "extra"),
    [("errcode0", {"errcode": 0, "errmsg": "ok"}), ("expires_in", {"expires_in": 7200})],
)
async def test_jscode2session_legacy_bodies(
    http: aiohttp.ClientSession, sim_base: str, sim: Simulator, mode: str, extra: dict[str, Any]
) -> None:
    sim.set_options(jscode2session_legacy=mode)
    body, _ = await call(
        http, sim_base, "sns/jscode2session", **js_params(sim.mint_js_code(MINI, "a"))
    )
    assert extra.items() <= body.items()


async def test_codes_single_use_expiring_and_bound(
    http: aiohttp.ClientSession, sim_base: str, sim: Simulator, clock: ManualClock
) -> None:
    code = sim.mint_js_code(MINI, "a")
    await call(http, sim_base, "sns/jscode2session", **js_params(code))
    body, _ = await call(http, sim_base, "sns/jscode2session", **js_params(code))
    assert body["errcode"] == 40163
    body, _ = await call(http, sim_base, "sns/jscode2session", **js_params("nope"))
    assert body["errcode"] == 40029
    code = sim.mint_js_code(MINI, "a")
    clock.advance(301)
    body, _ = await call(http, sim_base, "sns/jscode2session", **js_params(code))
    assert body["errcode"] == 40029
    oauth = sim.authorize(WEB, "a")  # an OAuth code is not a js_code of the mini program
    body, _ = await call(http, sim_base, "sns/jscode2session", **js_params(oauth))
    assert body["errcode"] == 40029


async def test_oauth_code_expiry_errcode_option(
    http: aiohttp.ClientSession, sim_base: str, sim: Simulator, clock: ManualClock
) -> None:
    sim.set_options(oauth_expired_errcode=42003)
    code = sim.authorize(WEB, "a")
    clock.advance(301)
    params = {
        "appid": WEB,
        "secret": SECRETS[WEB],
        "code": code,
        "grant_type": "authorization_code",
    }
    body, _ = await call(http, sim_base, "sns/oauth2/access_token", **params)
    assert body["errcode"] == 42003


async def test_errmsg_rid_and_content_types(
    http: aiohttp.ClientSession, sim_base: str, clock: ManualClock
) -> None:
    types, forms = set(), set()
    for _ in range(14):
        body, content_type = await call(http, sim_base, "sns/jscode2session", **js_params("x"))
        types.add(content_type)
        match = RID.search(body["errmsg"])
        if match:
            assert int(match.group(1), 16) == int(clock.time())  # first group: Unix time
            msg = body["errmsg"]
            forms.add("hint" if "hint: [" in msg else "comma" if ", rid:" in msg else "bare")
        else:
            assert re.search(r"hint: \[\S+\]$", body["errmsg"])
            forms.add("hint-only")
    assert {
        "application/json; encoding=utf-8",
        "text/plain",
        "text/plain; charset=ISO-8859-1",
    } <= types
    assert forms == {"hint", "hint-only", "comma", "bare"}


async def test_bad_credentials(http: aiohttp.ClientSession, sim_base: str) -> None:
    cases = [
        ({"appid": "wx0"}, 40013),
        ({"appid": MINI}, 41004),
        ({}, 41002),
        ({"appid": MINI, "secret": "x"}, 40125),
    ]
    for params, errcode in cases:
        body, _ = await call(http, sim_base, "sns/jscode2session", js_code="c", **params)
        assert body["errcode"] == errcode


async def test_identities(sim: Simulator) -> None:
    ids = {sim.openid(app, "alice") for app in (WEB, MP, MINI)}
    assert len(ids) == 3 and all(len(i) == 28 and i.startswith("o") for i in ids)
    assert sim.openid(WEB, "bob") not in ids
    again = Simulator([(WEB, "s", "website")])  # deterministic: a restart agrees
    assert again.openid(WEB, "alice") == sim.openid(WEB, "alice")
    assert again.unionid("alice") == sim.unionid("alice") != sim.unionid("bob")


async def test_per_user_minute_quota(
    http: aiohttp.ClientSession, sim_base: str, sim: Simulator, clock: ManualClock
) -> None:
    for _ in range(100):
        body, _ = await call(
            http, sim_base, "sns/jscode2session", **js_params(sim.mint_js_code(MINI, "a"))
        )
        assert "openid" in body
    code = sim.mint_js_code(MINI, "a")
    body, _ = await call(http, sim_base, "sns/jscode2session", **js_params(code))
    assert body["errcode"] == 45011
    body, _ = await call(
        http, sim_base, "sns/jscode2session", **js_params(sim.mint_js_code(MINI, "b"))
    )
    assert "openid" in body  # per user
    clock.advance(60)
    body, _ = await call(http, sim_base, "sns/jscode2session", **js_params(code))
    assert "openid" in body  # the rejected code was not consumed


async def test_blocked_user(http: aiohttp.ClientSession, sim_base: str, sim: Simulator) -> None:
    sim.set_options(blocked_users=["eve"])
    body, _ = await call(
        http, sim_base, "sns/jscode2session", **js_params(sim.mint_js_code(MINI, "eve"))
    )
    assert body["errcode"] == 40226


async def test_checksession_with_reference_vector_and_rotation(
    http: aiohttp.ClientSession, sim_base: str, sim: Simulator
) -> None:
    token = (
        await call(
            http,
            sim_base,
            "cgi-bin/token",
            grant_type="client_credential",
            appid=MINI,
            secret=SECRETS[MINI],
        )
    )[0]["access_token"]
    sim.mint_js_code(MINI, "a", session_key="HyVFkGl5F5OQWJZZaNzBBg==")
    params = {"access_token": token, "openid": sim.openid(MINI, "a"), "sig_method": "hmac_sha256"}
    vector = "252b75c92698025afe925b29cca5517fdf9ee67aae072cf3225ebf3a53783058"  # §2.9
    body, _ = await call(http, sim_base, "wxa/checksession", signature=vector, **params)
    assert body == {"errcode": 0, "errmsg": "ok"}
    sim.mint_js_code(MINI, "a")  # wx.login again: the old key is stale
    body, _ = await call(http, sim_base, "wxa/checksession", signature=vector, **params)
    assert body["errcode"] == 87009
    fresh = checksession_signature(sim.session_key(MINI, "a") or "")
    body, _ = await call(http, sim_base, "wxa/checksession", signature=fresh, **params)
    assert body["errcode"] == 0


async def test_phone_number(http: aiohttp.ClientSession, sim_base: str, sim: Simulator) -> None:
    token = (
        await call(
            http,
            sim_base,
            "cgi-bin/stable_token",
            body={"grant_type": "client_credential", "appid": MINI, "secret": SECRETS[MINI]},
        )
    )[0]["access_token"]
    code = sim.mint_phone_code(MINI, "a", "13800138000")
    path = "wxa/business/getuserphonenumber"
    body, _ = await call(
        http, sim_base, path, {"code": code, "openid": sim.openid(MINI, "b")}, access_token=token
    )
    assert body["errcode"] == 40029  # not b's code
    body, _ = await call(http, sim_base, path, {"code": code}, access_token=token)
    info = body["phone_info"]
    assert (
        body["errcode"] == 0 and info["countryCode"] == "86" and info["watermark"]["appid"] == MINI
    )
    body, _ = await call(http, sim_base, path, {"code": code}, access_token=token)
    assert body["errcode"] == 40163
    body, _ = await call(
        http, sim_base, path, {"code": sim.mint_js_code(MINI, "a")}, access_token=token
    )
    assert body["errcode"] == 40029  # the wx.login code is not a phone code (§2.10)
    sim.set_options(country_code_as_number=True)
    body, _ = await call(
        http, sim_base, path, {"code": sim.mint_phone_code(MINI, "a", "1")}, access_token=token
    )
    assert body["phone_info"]["countryCode"] == 86


async def test_userinfo_modes(http: aiohttp.ClientSession, sim_base: str, sim: Simulator) -> None:
    async def login(appid: str, scope: str) -> dict[str, Any]:
        code = sim.oauth.authorize(appid, "alice", scope)
        params = {
            "appid": appid,
            "secret": SECRETS[appid],
            "code": code,
            "grant_type": "authorization_code",
        }
        return (await call(http, sim_base, "sns/oauth2/access_token", **params))[0]

    async def userinfo(token: dict[str, Any]) -> dict[str, Any]:
        params = {"access_token": token["access_token"], "openid": token["openid"]}
        return (await call(http, sim_base, "sns/userinfo", **params))[0]

    base = await login(MP, "snsapi_base")
    assert (await userinfo(base))["errcode"] == 48001
    oa = await userinfo(await login(MP, "snsapi_userinfo"))
    assert (oa["sex"], oa["province"], oa["city"], oa["country"]) == (0, "", "", "")
    web = await userinfo(await login(WEB, "snsapi_login"))
    assert (
        web["sex"] in (1, 2) and web["country"] == "CN" and web["headimgurl"].startswith(sim_base)
    )
    sim.set_options(snapshot_mode=True)
    snap = await login(MP, "snsapi_userinfo")
    assert snap["is_snapshotuser"] == 1 and snap["openid"] != sim.openid(MP, "alice")
    assert "is_snapshotuser" not in await login(MP, "snsapi_base")


async def test_refresh_and_auth(
    http: aiohttp.ClientSession, sim_base: str, sim: Simulator, clock: ManualClock
) -> None:
    params = {
        "appid": WEB,
        "secret": SECRETS[WEB],
        "code": sim.authorize(WEB, "a"),
        "grant_type": "authorization_code",
    }
    token = (await call(http, sim_base, "sns/oauth2/access_token", **params))[0]
    refresh = {"appid": WEB, "grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    clock.advance(7201)
    auth = {"access_token": token["access_token"], "openid": token["openid"]}
    assert (await call(http, sim_base, "sns/auth", **auth))[0]["errcode"] == 42001
    renewed = (await call(http, sim_base, "sns/oauth2/refresh_token", **refresh))[0]
    assert renewed["access_token"] != token["access_token"] and "unionid" not in renewed
    auth["access_token"] = renewed["access_token"]
    assert (await call(http, sim_base, "sns/auth", **auth))[0] == {"errcode": 0, "errmsg": "ok"}
    assert (
        await call(http, sim_base, "sns/auth", access_token=renewed["access_token"], openid="o")
    )[0]["errcode"] == 40003
    clock.advance(31 * 86400)
    assert (await call(http, sim_base, "sns/oauth2/refresh_token", **refresh))[0][
        "errcode"
    ] == 42002


async def test_legacy_open_data_helper(
    http: aiohttp.ClientSession, sim_base: str, sim: Simulator
) -> None:
    async with http.post(f"{sim_base}/dev/js_code", json={"appid": MINI, "user": "a"}) as r:
        assert set(await r.json()) == {"code"}
    async with http.post(f"{sim_base}/dev/user_info", json={"appid": MINI, "user": "a"}) as r:
        data = await r.json()
    key = sim.session_key(MINI, "a") or ""
    plain = decrypt_open_data(key, data["iv"], data["encryptedData"], MINI)
    assert plain["openId"] == sim.openid(MINI, "a") and plain["unionId"] == sim.unionid("a")
    assert json.loads(data["rawData"])["nickName"] == "a"


async def test_wrong_methods(http: aiohttp.ClientSession, sim_base: str) -> None:
    async with http.get(f"{sim_base}/cgi-bin/stable_token") as r:
        assert (await r.json(content_type=None))["errcode"] == 43002
    async with http.post(f"{sim_base}/sns/jscode2session") as r:
        assert (await r.json(content_type=None))["errcode"] == 43001

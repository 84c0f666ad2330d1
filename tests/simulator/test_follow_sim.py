"""The simulator's flow E APIs over raw HTTP (reference §2.15): parametric QR codes, the QR
image, who follows, and 48001 for accounts that may not make them."""

from __future__ import annotations

import aiohttp

from gateway.simulator import Simulator
from tests.simulator.api_helpers import call
from tests.simulator.harness import MINI, MP, SECRETS

QR_BODY = {"expire_seconds": 300, "action_name": "QR_STR_SCENE",
           "action_info": {"scene": {"scene_str": "scene-1"}}}  # fmt: skip


async def token(http: aiohttp.ClientSession, base: str, appid: str) -> str:
    body = {"grant_type": "client_credential", "appid": appid, "secret": SECRETS[appid]}
    answer, _ = await call(http, base, "cgi-bin/stable_token", body)
    return str(answer["access_token"])


async def test_parametric_qr_image_and_follower(
    http: aiohttp.ClientSession, sim_base: str, sim: Simulator
) -> None:
    t = await token(http, sim_base, MP)
    qr, _ = await call(http, sim_base, "cgi-bin/qrcode/create", QR_BODY, access_token=t)
    assert set(qr) == {"ticket", "expire_seconds", "url"} and qr["expire_seconds"] == 300
    assert qr["url"].startswith(f"{sim_base}/q/")
    async with http.get(f"{sim_base}/cgi-bin/showqrcode", params={"ticket": qr["ticket"]}) as r:
        assert r.status == 200 and (await r.read()).startswith(b"\xff\xd8\xff")
    async with http.get(qr["url"]) as r:  # the url opened in a browser: the simulated phone
        assert r.status == 200 and 'id="sim-scan"' in await r.text()
    openid = sim.openid(MP, "alice")
    info, _ = await call(http, sim_base, "cgi-bin/user/info", access_token=t, openid=openid)
    assert info == {"subscribe": 0, "openid": openid}
    sim.follow.followers.add((MP, "alice"))
    info, _ = await call(http, sim_base, "cgi-bin/user/info", access_token=t, openid=openid)
    assert info["subscribe"] == 1 and info["unionid"] == sim.unionid("alice")
    assert "nickname" not in info  # not since 2021-12-27
    bad, _ = await call(http, sim_base, "cgi-bin/qrcode/create",
                        {**QR_BODY, "action_info": {"scene": {"scene_str": "x" * 65}}},
                        access_token=t)  # fmt: skip
    assert bad["errcode"] == 40053


async def test_48001_for_unverified_accounts_and_other_kinds(
    http: aiohttp.ClientSession, sim_base: str, sim: Simulator
) -> None:
    mini = await token(http, sim_base, MINI)
    answer, _ = await call(http, sim_base, "cgi-bin/qrcode/create", QR_BODY, access_token=mini)
    assert answer["errcode"] == 48001
    sim.set_options(oa_unverified=True)
    mp = await token(http, sim_base, MP)
    answer, _ = await call(http, sim_base, "cgi-bin/qrcode/create", QR_BODY, access_token=mp)
    assert answer["errcode"] == 48001 and answer["errmsg"].startswith("api unauthorized")


async def test_dev_followers_makes_someone_a_follower(
    http: aiohttp.ClientSession, sim_base: str, sim: Simulator
) -> None:
    async with http.post(f"{sim_base}/dev/followers", json={"appid": MP, "user": "bo"}) as r:
        body = await r.json()
    assert body == {"openid": sim.openid(MP, "bo"), "unionid": sim.unionid("bo")}
    t = await token(http, sim_base, MP)
    info, _ = await call(http, sim_base, "cgi-bin/user/info", access_token=t, openid=body["openid"])
    assert info["subscribe"] == 1 and info["unionid"] == body["unionid"]
    async with http.post(f"{sim_base}/dev/followers", json={"user": "bo"}) as r:
        assert r.status == 400

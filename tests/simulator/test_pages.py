"""Consent pages, the automation hook, both deny variants, and mounting under a prefix."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp.test_utils import TestServer

from gateway.clock import ManualClock
from gateway.simulator import Simulator
from gateway.wechat.protocol import WXLOGIN_SCRIPT_PATH, authorize_url, qrconnect_url
from tests.simulator.harness import MINI, MP, SECRETS, WEB, mounted_simulator

CALLBACK = "http://127.0.0.1:9/auth/wechat/web/callback?next=%2Fa"


def query_of(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


async def test_automation_allow_redirects_with_code_and_state(
    http: aiohttp.ClientSession, sim_base: str, sim: Simulator
) -> None:
    url = qrconnect_url(sim_base, WEB, CALLBACK, "St4te").split("#")[0]
    async with http.get(url + "&sim_user=alice&sim_action=allow", allow_redirects=False) as r:
        assert r.status == 302
        location = r.headers["Location"]
    assert location.startswith("http://127.0.0.1:9/auth/wechat/web/callback?next=%2Fa&code=")
    query = query_of(location)
    assert query["state"] == ["St4te"] and query["next"] == ["/a"]
    params = {"appid": WEB, "secret": SECRETS[WEB], "code": query["code"][0]}
    async with http.get(
        f"{sim_base}/sns/oauth2/access_token", params=params | {"grant_type": "authorization_code"}
    ) as r:
        assert (await r.json(content_type=None))["openid"] == sim.openid(WEB, "alice")


async def test_deny_variants(http: aiohttp.ClientSession, sim_base: str, sim: Simulator) -> None:
    url = qrconnect_url(sim_base, WEB, CALLBACK, "S1").split("#")[0] + "&sim_user=a&sim_action=deny"
    async with http.get(url, allow_redirects=False) as r:
        assert r.status == 302 and query_of(r.headers["Location"]) == {
            "next": ["/a"],
            "state": ["S1"],
        }
    async with http.get(url + "&sim_deny=page", allow_redirects=False) as r:
        assert r.status == 200 and "Location" not in r.headers and "refused" in await r.text()
    sim.set_options(deny_variant="page")
    async with http.get(url, allow_redirects=False) as r:
        assert r.status == 200 and "Location" not in r.headers


async def test_consent_page_form(
    http: aiohttp.ClientSession, sim_base: str, sim: Simulator
) -> None:
    url = authorize_url(sim_base, MP, CALLBACK, "snsapi_userinfo", "S2")
    async with http.get(url) as r:
        page = await r.text()
    assert 'id="sim-allow"' in page and 'id="sim-deny"' in page and 'id="sim-user"' in page
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    assert action is not None and action.group(1) == f"{sim_base}/connect/confirm"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    form = fields | {"redirect_uri": CALLBACK, "sim_user": "carol", "sim_action": "allow"}
    async with http.post(action.group(1), data=form, allow_redirects=False) as r:
        assert r.status == 302
        query = query_of(r.headers["Location"])
        assert query["state"] == ["S2"] and "code" in query
        assert "sim_user=carol" in r.headers["Set-Cookie"]
    form["sim_action"] = "deny_page"
    async with http.post(action.group(1), data=form, allow_redirects=False) as r:
        assert r.status == 200 and "Location" not in r.headers


async def test_silent_base_scope_with_remembered_user(
    http: aiohttp.ClientSession, sim_base: str
) -> None:
    url = authorize_url(sim_base, MP, CALLBACK, "snsapi_base", "S3")
    async with http.get(url, cookies={"sim_user": "dave"}, allow_redirects=False) as r:
        assert r.status == 302 and "code" in query_of(r.headers["Location"])


async def test_misconfigured_requests_show_error_pages(
    http: aiohttp.ClientSession, sim_base: str
) -> None:
    cases = [
        (qrconnect_url(sim_base, MP, CALLBACK, "S"), "该链接无法访问"),  # not a website app
        (
            qrconnect_url(sim_base, WEB, CALLBACK, "S").replace("snsapi_login", "snsapi_base"),
            "该链接",
        ),
        (authorize_url(sim_base, WEB, CALLBACK, "snsapi_base", "S"), "10005"),
        (authorize_url(sim_base, MP, "", "snsapi_base", "S"), "10011"),
    ]
    for url, text in cases:
        async with http.get(url + "&sim_user=a&sim_action=allow", allow_redirects=False) as r:
            assert r.status == 200 and "Location" not in r.headers
            assert text in await r.text()


async def test_widget_iframe_redirects_top_window(
    http: aiohttp.ClientSession, sim_base: str
) -> None:
    async with http.get(f"{sim_base}{WXLOGIN_SCRIPT_PATH}") as r:
        script = await r.text()
    assert "window.WxLogin" in script and "login_type=jssdk" in script
    # what the wxLogin.js iframe requests: no response_type, login_type=jssdk (reference §2.2)
    url = (
        f"{sim_base}/connect/qrconnect?appid={WEB}&scope=snsapi_login"
        "&redirect_uri=http%3A%2F%2Fh%2Fcb&state=S&login_type=jssdk&self_redirect=default"
    )
    async with http.get(url + "&sim_user=a&sim_action=allow", allow_redirects=False) as r:
        text = await r.text()
    assert r.status == 200 and "window.top.location.href" in text and "http://h/cb?code=" in text


async def test_mounted_under_a_prefix(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    http: aiohttp.ClientSession,
    clock: ManualClock,
) -> None:
    server, sim = await mounted_simulator(aiohttp_server, clock)
    base = str(server.make_url("/_sim/wechat"))
    async with http.post(f"{base}/dev/js_code", json={"appid": MINI, "user": "erin"}) as r:
        code = (await r.json())["code"]
    params = {
        "appid": MINI,
        "secret": SECRETS[MINI],
        "js_code": code,
        "grant_type": "authorization_code",
    }
    async with http.get(f"{base}/sns/jscode2session", params=params) as r:
        assert (await r.json(content_type=None))["openid"] == sim.openid(MINI, "erin")
    async with http.get(authorize_url(base, MP, CALLBACK, "snsapi_userinfo", "S")) as r:
        assert f'action="{base}/connect/confirm"' in await r.text()
    token = sim.oauth.access_token(
        {
            "appid": WEB,
            "secret": SECRETS[WEB],
            "code": sim.authorize(WEB, "erin"),
            "grant_type": "authorization_code",
        }
    )
    async with http.get(
        f"{base}/sns/userinfo",
        params={"access_token": token["access_token"], "openid": token["openid"]},
    ) as r:
        avatar = (await r.json(content_type=None))["headimgurl"]
    assert avatar.startswith(f"{base}/sim/avatar/")
    async with http.get(avatar) as r:
        assert r.content_type == "image/png" and (await r.read()).startswith(b"\x89PNG")

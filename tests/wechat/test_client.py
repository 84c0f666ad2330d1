"""WeChatClient over real HTTP against the in-process simulator: happy paths and error mapping."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.clock import ManualClock
from gateway.errors import (
    AccessDenied,
    InvalidGrant,
    RateLimited,
    ServerError,
    TemporarilyUnavailable,
)
from gateway.metrics import Metrics
from gateway.simulator import Simulator
from gateway.wechat import WeChatClient, WeChatError, wechat_cause
from gateway.wechat.errors import LoginRequired
from gateway.wechat.protocol import image_mime
from tests.simulator.harness import MINI, MP, WEB, metric


async def test_website_login(client: WeChatClient, sim: Simulator) -> None:
    token = await client.exchange_code("web", sim.authorize(WEB, "alice"))
    assert token.openid == sim.openid(WEB, "alice") and token.unionid == sim.unionid("alice")
    assert token.scopes == {"snsapi_login"} and not token.is_snapshotuser
    info = await client.userinfo("web", token.access_token, token.openid)
    assert info.nickname == "alice" and info.unionid == token.unionid and info.country == "CN"
    assert await client.check_user_token("web", token.access_token, token.openid)
    assert not await client.check_user_token("web", "bogus", token.openid)
    refreshed = await client.refresh_user_token("web", token.refresh_token)
    assert refreshed.access_token == token.access_token  # still valid: same, extended (§2.5)


async def test_official_account_login(client: WeChatClient, sim: Simulator) -> None:
    token = await client.exchange_code("mp", sim.authorize(MP, "alice", "snsapi_userinfo"))
    info = await client.userinfo("mp", token.access_token, token.openid)
    assert info.sex == 0 and info.province == info.city == info.country == ""
    assert token.unionid == sim.unionid("alice") and token.openid != sim.openid(WEB, "alice")


async def test_userinfo_with_base_scope_is_a_config_error(
    client: WeChatClient, sim: Simulator, metrics: Metrics
) -> None:
    token = await client.exchange_code("mp", sim.authorize(MP, "bob", "snsapi_base"))
    assert token.unionid is None  # §2.4: OA unionid only with snsapi_userinfo
    with pytest.raises(ServerError) as info:
        await client.userinfo("mp", token.access_token, token.openid)
    assert isinstance(wechat_cause(info.value), WeChatError)
    assert metric(metrics, "wxgate_wechat_config_errors_total", app="mp", errcode=48001) == 1


async def test_dead_refresh_token_means_login_again(client: WeChatClient) -> None:
    with pytest.raises(LoginRequired) as info:
        await client.refresh_user_token("web", "not-a-refresh-token")
    assert info.value.status == 401


async def test_miniprogram_login(client: WeChatClient, sim: Simulator) -> None:
    session = await client.jscode2session("mini", sim.mint_js_code(MINI, "alice"))
    assert session.openid == sim.openid(MINI, "alice")
    assert session.session_key == sim.session_key(MINI, "alice")
    assert session.unionid == sim.unionid("alice")
    assert await client.check_session("mini", session.openid, session.session_key)
    sim.mint_js_code(MINI, "alice")  # wx.login again rotates the session_key (§2.8)
    assert not await client.check_session("mini", session.openid, session.session_key)


async def test_phone_number(client: WeChatClient, sim: Simulator) -> None:
    openid = sim.openid(MINI, "alice")
    info = await client.get_phone_number("mini", sim.mint_phone_code(MINI, "alice", "13800138000"))
    assert info.phone_number == "13800138000" and info.country_code == "86"
    sim.set_options(country_code_as_number=True)
    code = sim.mint_phone_code(MINI, "alice", "7700900123", "44")
    info = await client.get_phone_number("mini", code, openid)
    assert info.country_code == "44" and info.phone_number == "+447700900123"
    with pytest.raises(InvalidGrant):  # single use
        await client.get_phone_number("mini", code, openid)


async def test_wxacode_images(client: WeChatClient, sim: Simulator) -> None:
    jpeg = await client.get_wxacode_unlimit("mini", "t=Ab3x9Q")
    assert image_mime(jpeg) == "image/jpeg"
    issued = sim.wxacodes.issued[-1]
    assert (issued.scene, issued.page, issued.env_version) == (
        "t=Ab3x9Q",
        "pages/scan/index",
        "develop",
    )
    png = await client.get_wxacode_unlimit(
        "mini", "t2", page="", env_version="trial", is_hyaline=True
    )
    assert image_mime(png) == "image/png"


async def test_wxacode_unpublished_page(client: WeChatClient, sim: Simulator) -> None:
    sim.set_options(published_pages=["pages/index/index"])
    with pytest.raises(ServerError):  # 41030: check_path defaults to true for release (§6.12)
        await client.get_wxacode_unlimit("mini", "t1", env_version="release")
    await client.get_wxacode_unlimit("mini", "t1", env_version="release", check_path=False)
    with pytest.raises(ValueError):
        await client.get_wxacode_unlimit("mini", "bad%scene")


async def test_server_token_is_cached(client: WeChatClient, sim: Simulator) -> None:
    first = await client.server_access_token("mini")
    assert await client.server_access_token("mini") == first
    assert sim.calls("cgi-bin/stable_token") == 1
    classic = await client.fetch_classic_token("mini")
    assert classic.access_token != first and classic.expires_in == 7200


async def test_server_token_refreshed_300s_before_expiry(
    client: WeChatClient, sim: Simulator, clock: ManualClock
) -> None:
    first = await client.server_access_token("mini")
    clock.advance(7200 - 300 - 10)
    assert await client.server_access_token("mini") == first
    assert sim.calls("stable_token") == 1
    clock.advance(20)  # inside the last 300 s: the cached token is still served at once...
    assert await client.server_access_token("mini") == first
    second = first
    for _ in range(200):  # ...while one background refresh runs
        second = await client.server_access_token("mini")
        if second != first:
            break
        await asyncio.sleep(0.005)
    assert second != first and sim.calls("stable_token") == 2
    clock.advance(7300)  # everything expired: callers wait for the fetch
    third = await client.server_access_token("mini")
    assert third not in (first, second) and sim.calls("stable_token") == 3


async def test_reused_code_is_invalid_grant(client: WeChatClient, sim: Simulator) -> None:
    code = sim.mint_js_code(MINI, "alice")
    await client.jscode2session("mini", code)
    with pytest.raises(InvalidGrant) as info:
        await client.jscode2session("mini", code)
    assert (info.value.status, info.value.error) == (400, "invalid_grant")
    cause = wechat_cause(info.value)
    assert isinstance(cause, WeChatError) and cause.errcode == 40163 and cause.rid


async def test_expired_and_foreign_codes(
    client: WeChatClient, sim: Simulator, clock: ManualClock
) -> None:
    code = sim.authorize(WEB, "alice")
    with pytest.raises(InvalidGrant):  # bound to the website app
        await client.exchange_code("mp", code)
    clock.advance(301)
    with pytest.raises(InvalidGrant):
        await client.exchange_code("web", code)


async def test_rate_limited(client: WeChatClient, sim: Simulator) -> None:
    sim.add_fault("jscode2session", "errcode", errcode=45011)
    with pytest.raises(RateLimited) as info:
        await client.jscode2session("mini", sim.mint_js_code(MINI, "alice"))
    assert info.value.status == 429 and info.value.headers["Retry-After"] == "60"
    assert sim.calls("jscode2session") == 1


async def test_blocked_user(client: WeChatClient, sim: Simulator) -> None:
    sim.set_options(blocked_users=["mallory"])
    with pytest.raises(AccessDenied) as info:
        await client.jscode2session("mini", sim.mint_js_code(MINI, "mallory"))
    assert info.value.status == 403


@pytest.mark.parametrize(("option", "errcode"), [(40125, 40125), (40001, 40001)])
async def test_wrong_secret_is_alerted(
    client: WeChatClient,
    sim: Simulator,
    metrics: Metrics,
    caplog: pytest.LogCaptureFixture,
    option: int,
    errcode: int,
) -> None:
    sim.set_options(wrong_secret_errcode=option)
    sim.apps.by_appid[MINI] = sim.apps.by_appid[MINI].__class__(MINI, "rotated" * 4, "miniprogram")
    with (
        caplog.at_level(logging.ERROR, logger="gateway.wechat"),
        pytest.raises(ServerError) as info,
    ):
        await client.get_phone_number("mini", "whatever")
    assert info.value.status == 500 and info.value.error == "server_error"
    assert metric(metrics, "wxgate_wechat_config_errors_total", app="mini", errcode=errcode) == 1
    line = next(r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert (
        f"errcode={errcode}" in line and "app=mini" in line and "api=cgi-bin/stable_token" in line
    )
    assert "rid=" in line


async def test_ip_not_whitelisted(client: WeChatClient, sim: Simulator, metrics: Metrics) -> None:
    sim.set_options(ip_allowlist=["10.1.2.3"])
    with pytest.raises(ServerError):
        await client.server_access_token("mini")
    assert metric(metrics, "wxgate_wechat_config_errors_total", app="mini", errcode=40164) == 1


async def test_unknown_app(client: WeChatClient) -> None:
    with pytest.raises(ServerError):
        await client.jscode2session("nope", "code")


async def test_request_metrics(client: WeChatClient, sim: Simulator, metrics: Metrics) -> None:
    await client.jscode2session("mini", sim.mint_js_code(MINI, "alice"))
    labels = {"api": "sns/jscode2session", "outcome": "ok", "errcode": "0"}
    assert metric(metrics, "wxgate_wechat_api_requests_total", **labels) == 1
    assert (
        metric(metrics, "wxgate_wechat_api_duration_seconds_count", api="sns/jscode2session") == 1
    )
    await client.server_access_token("mini")
    assert (
        metric(metrics, "wxgate_wechat_access_token_refreshes_total", app="mini", result="ok") == 1
    )


async def test_temporarily_unavailable_after_persistent_system_error(
    client: WeChatClient, sim: Simulator, metrics: Metrics
) -> None:
    sim.add_fault("jscode2session", "errcode", errcode=-1, times=0)
    with pytest.raises(TemporarilyUnavailable):
        await client.jscode2session("mini", sim.mint_js_code(MINI, "alice"))
    assert sim.calls("jscode2session") == 3  # one attempt + max_retries (2)
    labels = {"api": "sns/jscode2session", "outcome": "errcode", "errcode": "-1"}
    assert metric(metrics, "wxgate_wechat_api_requests_total", **labels) == 3

"""No secret, code, token or session_key in any log line (reference §1.5, §6.16)."""

from __future__ import annotations

import logging

import pytest

from gateway.simulator import Simulator
from gateway.wechat import WeChatClient
from tests.simulator.harness import MINI, MP, SECRETS, WEB


async def _full_run(client: WeChatClient, sim: Simulator) -> tuple[list[str], list[BaseException]]:
    """Every client call, successes and failures; returns the secrets seen and the errors."""
    secrets: list[str] = list(SECRETS.values())
    errors: list[BaseException] = []
    web_code, mp_code = sim.authorize(WEB, "alice"), sim.authorize(MP, "alice", "snsapi_userinfo")
    js_code, phone_code = sim.mint_js_code(MINI, "alice"), sim.mint_phone_code(MINI, "alice", "1")
    secrets += [web_code, mp_code, js_code, phone_code]
    token = await client.exchange_code("web", web_code)
    mp_token = await client.exchange_code("mp", mp_code)
    secrets += [token.access_token, token.refresh_token, mp_token.access_token]
    await client.userinfo("web", token.access_token, token.openid)
    await client.check_user_token("web", token.access_token, token.openid)
    await client.refresh_user_token("web", token.refresh_token)
    sim.add_fault("jscode2session", "errcode", errcode=-1)
    session = await client.jscode2session("mini", js_code)
    secrets.append(session.session_key)
    await client.check_session("mini", session.openid, session.session_key)
    sim.add_fault("getuserphonenumber", "errcode", errcode=40001)
    await client.get_phone_number("mini", phone_code, session.openid)
    await client.get_wxacode_unlimit("mini", "t=1")
    secrets.append(await client.server_access_token("mini"))
    secrets.append((await client.fetch_classic_token("mini")).access_token)
    for failing in (
        client.exchange_code("web", web_code),  # reused: 40163
        client.jscode2session("mini", js_code),
        client.get_phone_number("mini", phone_code),
        client.refresh_user_token("web", "bad" + token.refresh_token),
    ):
        try:
            await failing
        except Exception as exc:
            errors.append(exc)
    sim.set_options(wrong_secret_errcode=40001)
    sim.apps.by_appid[MINI] = sim.apps.by_appid[MINI].__class__(MINI, "x" * 32, "miniprogram")
    sim.add_fault("stable_token", "errcode", errcode=40125)
    try:
        await client.fetch_classic_token("mini")
    except Exception as exc:
        errors.append(exc)
    return secrets, errors


async def test_no_secret_in_logs(
    client: WeChatClient, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        secrets, errors = await _full_run(client, sim)
    assert len(errors) == 5
    texts = [caplog.text]
    texts += [r.getMessage() for r in caplog.records]
    texts += [str(e) + repr(e) + str(e.__cause__) + repr(e.__cause__) for e in errors]
    assert any(r.name == "gateway.wechat" for r in caplog.records)
    assert any("rid=" in r.getMessage() for r in caplog.records)
    for secret in secrets:
        assert len(secret) >= 16
        for text in texts:
            assert secret not in text

"""Failed WeChat logins in the audit trail, over real HTTP: a callback with an unknown state,
the user's refusal on WeChat's page, a code WeChat refuses (mini-program jscode2session and the
OAuth code exchange); each recorded with the machine code, no subject, the client address and
User-Agent, and at most once per client address, flow and result per ``audit.denial_interval``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from tests.server.admin_support import ADMIN_TOKEN, admin_call, start_admin_gateway
from tests.server.scan_harness import MINI_APPID, Gateway

TOKEN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
UA = "FailingAgent/2.0"


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    gateway = await start_admin_gateway(tmp_path)
    yield gateway
    await gateway.close()


async def _logins(gw: Gateway, http: aiohttp.ClientSession) -> list[dict[str, Any]]:
    status, body = await admin_call(http, "GET", f"{gw.base}/admin/api/audit", TOKEN, kind="login")
    assert status == 200, body
    return body["entries"]  # type: ignore[no-any-return]


async def _start(http: aiohttp.ClientSession, flow: str) -> str:
    """Start a login of ``flow``; the state WeChat would send back."""
    async with http.get(f"/auth/wechat/{flow}/login", allow_redirects=False) as r:
        assert r.status == 302, await r.text()
        return parse_qs(urlsplit(r.headers["Location"]).query)["state"][0]


async def test_bad_callbacks_are_audited_once_per_address_flow_and_result(gw: Gateway) -> None:
    http = gw.client(UA)
    for _ in range(5):  # a flood of forged callbacks
        async with http.get("/auth/wechat/web/callback?code=c&state=forged") as r:
            assert r.status == 400 and (await r.json())["error"] == "invalid_grant"
    state = await _start(http, "mp")
    async with http.get(f"/auth/wechat/mp/callback?state={state}") as r:  # refused on WeChat
        assert r.status == 403 and "text/html" in r.headers["Content-Type"]
    state = await _start(http, "mp")
    async with http.get(f"/auth/wechat/mp/callback?state={state}&code=not-a-wechat-code") as r:
        assert r.status >= 400
        refused = (await r.json())["error"]
    entries = await _logins(gw, http)
    seen = sorted((e["action"], e["result"], e["subject"]) for e in entries)
    assert seen == sorted([
        ("wechat_qr", "invalid_grant", ""),
        ("wechat_mp", "access_denied", ""),
        ("wechat_mp", refused, ""),
    ])  # fmt: skip
    for entry in entries:
        assert entry["client_ip"] == "127.0.0.1" and entry["user_agent"] == UA
        assert set(entry["details"]) == {"flow", "app"}
    appids = {e["action"] + " " + e["result"]: e["details"]["app"] for e in entries}
    assert appids["wechat_qr invalid_grant"] == ""  # no app is known for a forged state
    assert appids["wechat_mp access_denied"].startswith("wx")
    assert appids[f"wechat_mp {refused}"].startswith("wx")
    assert "not-a-wechat-code" not in str(entries) and state not in str(entries)


async def test_a_refused_miniprogram_code_is_audited_and_a_good_login_still_is(
    gw: Gateway,
) -> None:
    http = gw.client(UA)
    for _ in range(3):
        async with http.post("/auth/wechat/miniprogram/login", json={"code": "bogus-code"}) as r:
            assert 400 <= r.status < 500
            refused = (await r.json())["error"]
    async with http.post(
        "/_sim/wechat/dev/js_code", json={"appid": MINI_APPID, "user": "amy"}
    ) as r:
        code = (await r.json())["code"]
    async with http.post("/auth/wechat/miniprogram/login", json={"code": code}) as r:
        assert r.status == 200
        sub = (await r.json())["user"]["sub"]
    entries = await _logins(gw, http)
    assert [(e["action"], e["result"], e["subject"]) for e in entries] == [
        ("wechat_mini", "ok", sub),
        ("wechat_mini", refused, ""),
    ]
    assert entries[1]["details"] == {"flow": "wechat_mini", "app": MINI_APPID}

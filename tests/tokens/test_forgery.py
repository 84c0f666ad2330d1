"""The forged-token corpus against ``/auth/userinfo``: every one is a 401 ``invalid_token``,
none crashes, none appears in the logs (captured at DEBUG). The tokens with impossible dates
(NaN, infinities, ten-year lifetimes) also through the proxy."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import aiohttp
import pytest

from gateway.clock import ManualClock
from gateway.server.keys import CONFIG, TOKENS
from gateway.tokens.verifier import REASONS
from tests.conftest import dev_config
from tests.server import proxy_support
from tests.tokens import forge
from tests.tokens.conftest import Gateway


def fingerprints(token: str) -> list[str]:
    """Distinctive pieces of ``token`` that would show up if any of it were logged."""
    pieces = [p for p in token.split(".") if len(p) >= 16]
    return [token] + [p[-16:] for p in pieces] if token else []


async def test_forged_tokens_are_refused_and_never_logged(
    gateway: Gateway, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    service, config = gateway.service, gateway.config
    valid = (await service.issue_session("u_1", ["wechat_qr"])).access_token
    tokens = forge.corpus(service, config, clock.time(), valid)
    assert len(tokens) >= 30
    caplog.set_level(logging.DEBUG)
    transports = {
        "bearer": lambda t: {"Authorization": f"Bearer {t}"},
        "cookie": lambda t: {"Cookie": f"wxgate_session={t}~{'r' * 43}"},
    }
    for name, token in tokens.items():
        for transport, headers in transports.items():
            if transport == "cookie" and (not token or any(c in token for c in ' ;,~"é')):
                continue  # not representable as a cookie value (read_session ignores it)
            resp = await gateway.client.get("/auth/userinfo", headers=headers(token))
            assert resp.status == 401, (name, transport, await resp.text())
            body = await resp.json()
            assert body["error"] == "invalid_token", name
            assert token[-12:] not in body["error_description"] or not token
            challenge = resp.headers["WWW-Authenticate"]
            assert challenge.startswith("Bearer") and "invalid_token" in challenge, name
    for raw in ("Bearer", "Bearer ", "Bearer    ", "bearer", "BEARER  "):
        resp = await gateway.client.get("/auth/userinfo", headers={"Authorization": raw})
        assert resp.status == 401 and (await resp.json())["error"] == "invalid_token", raw
    # the valid token still works (the corpus is not refused for a boring reason)
    ok = await gateway.client.get("/auth/userinfo", headers={"Authorization": f"bearer {valid}"})
    assert ok.status == 200
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    for name, token in tokens.items():
        for piece in fingerprints(token):
            assert piece not in logged, f"{name} leaked into the logs"
    assert valid.split(".")[2][-16:] not in logged
    # no traceback and no 500 answered (asked of the messages: a record's attribute dict can
    # hold " 500" by chance, e.g. ``'msecs': 500.0``)
    assert "Traceback" not in logged
    assert not any(" 500" in r.getMessage() for r in caplog.records)
    # every refusal was counted under a bounded label
    samples = {
        s.labels["result"]
        for fam in gateway.metrics.registry.collect()
        if fam.name == "wxgate_token_verifications"
        for s in fam.samples
        if s.name.endswith("_total")
    }
    assert samples <= set(REASONS)
    assert {"bad_algorithm", "expired", "too_large", "malformed", "too_long_lived"} <= samples


async def test_impossible_dates_are_refused_at_userinfo_and_through_the_proxy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with proxy_support.gateway(dev_config(tmp_path)) as gw:
        tokens = forge.dates(gw.app[TOKENS], gw.app[CONFIG], time.time())
        async with aiohttp.ClientSession() as session:
            for name, token in tokens.items():
                for path in ("/auth/userinfo", "/demo/x"):  # /demo/: the dev echo upstream
                    resp = await session.get(
                        gw.url + path, headers={"Authorization": f"Bearer {token}"}
                    )
                    assert resp.status == 401, (name, path, await resp.text())
                    assert (await resp.json())["error"] == "invalid_token", (name, path)
            ok = await session.get(
                f"{gw.url}/demo/x", headers={"Authorization": f"Bearer {await gw.token()}"}
            )
            assert ok.status == 200
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

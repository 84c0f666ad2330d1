"""``issue_async`` (the server's login and refresh paths) signs on the signing thread and mints
exactly what ``issue`` (the CLI's) mints."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import jwt as pyjwt

from gateway.clock import ManualClock
from gateway.store.memory import MemoryStore
from gateway.tokens import jws
from tests.tokens.conftest import OpenService, make_config


async def test_issue_async_signs_off_the_loop_and_matches_issue(
    tmp_path: Path, clock: ManualClock, open_service: OpenService
) -> None:
    service = await open_service(make_config(tmp_path), MemoryStore(clock))
    issuer = service._issuer  # the unit under test
    inline = issuer.issue("u_1", sid="s1", amr=["wechat_mini"], openid="o1", roles=["b", "a"])
    off_loop = await issuer.issue_async(
        "u_1", sid="s1", amr=["wechat_mini"], openid="o1", roles=["b", "a"]
    )
    assert off_loop.sid == inline.sid == "s1" and off_loop.exp == inline.exp
    key = service.ring.active
    assert key is not None
    public = key.private_key.public_key()
    for issued in (inline, off_loop):
        claims = pyjwt.decode(issued.token, public, algorithms=["RS256"], audience="wxgate")
        assert claims["sub"] == "u_1" and claims["roles"] == ["a", "b"]
        assert claims["jti"] == issued.jti
    strip = ("jti",)
    a, b = (pyjwt.decode(t.token, options={"verify_signature": False}) for t in (inline, off_loop))
    assert {k: v for k, v in a.items() if k not in strip} == {
        k: v for k, v in b.items() if k not in strip
    }
    # the signature ran on the one signing thread, while the loop stayed free to run others
    names = {thread.name for thread in threading.enumerate()}
    assert any(name.startswith("wxgate-sign") for name in names), names
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    await asyncio.gather(*(jws.sign_off_loop(key.private_key, b"x" * 64) for _ in range(20)))
    ticker.cancel()
    assert ticks > 20  # the loop ran the ticker between signatures

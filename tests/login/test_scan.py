"""Flow D's state machine and waiter hub, on the memory store (ManualClock) and a real Redis.

The service is driven directly (no HTTP): transitions, races (50 concurrent redeems), subject
binding, expiry (moved clock on memory, short real TTL on Redis), waiters (snapshot, events,
one subscription per ticket, the cap) and the leak check (500 join/leave cycles).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis.asyncio

from gateway.clock import Clock, ManualClock, SystemClock
from gateway.config import LimitsConfig, ScanConfig, StoreConfig
from gateway.errors import AccessDenied, NotFound, RateLimited, StoreUnavailable
from gateway.limits import Limiter
from gateway.login.scan import GRACE, Identity, ScanLogin, TicketConflict
from gateway.login.scan_hub import TooManyWaiters
from gateway.login.scan_ticket import (
    SEQ,
    browser_summary,
    is_ticket_id,
    new_ticket_id,
    ticket_key,
)
from gateway.metrics import Metrics
from gateway.store import Store
from gateway.store.memory import MemoryStore
from gateway.store.redis import RedisStore
from gateway.tokens.refresh import TokenPair
from tests.fixtures.redis_server import RedisServer, unique_prefix

ALICE = Identity("sub-alice", ("wechat_mp",), "wx00000000000000b2", "o-alice", "u-alice")
BOB = Identity("sub-bob", ("wechat_miniprogram",), "wx00000000000000c3", "o-bob", "u-bob")
PC = "203.0.113.7"  # the waiting browser's address
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


@dataclass
class Env:
    name: str
    store: Store
    clock: Clock
    scan: ScanLogin
    metrics: Metrics
    redis_url: str = ""
    prefix: str = ""

    async def elapse(self, seconds: float) -> None:
        if isinstance(self.clock, ManualClock):
            self.clock.advance(seconds)
            self.scan.hub.poke()
            await asyncio.sleep(0)
        else:
            await asyncio.sleep(seconds)

    def count(self, result: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "wxgate_scan_tickets_total", {"flow": "scan", "result": result}
        )
        return value or 0.0

    async def subscriptions(self) -> int:
        if isinstance(self.store, MemoryStore):
            return len(self.store._broker.channels())
        client = redis.asyncio.Redis.from_url(self.redis_url)
        try:
            for _ in range(50):
                channels = await client.pubsub_channels(self.prefix + "*")
                if not channels:
                    return 0
                await asyncio.sleep(0.02)
            return len(channels)
        finally:
            await client.aclose()


class FakeTokens:
    """Stands in for TokenService.issue_session (records who got a session)."""

    def __init__(self) -> None:
        self.issued: list[tuple[str, tuple[str, ...], str | None]] = []

    async def issue_session(
        self,
        sub: str,
        amr: list[str] | tuple[str, ...],
        *,
        appid: str | None = None,
        openid: str | None = None,
        unionid: str | None = None,
        scope: str | None = None,
    ) -> TokenPair:
        self.issued.append((sub, tuple(amr), openid))
        return TokenPair(access_token="a", expires_in=900, refresh_token="r", sid="s")


def make_env(name: str, store: Store, clock: Clock, config: ScanConfig, **kw: str) -> Env:
    metrics = Metrics()
    return Env(name, store, clock, ScanLogin(store, config, clock, metrics), metrics, **kw)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    config = ScanConfig(ticket_ttl=120, scan_extend=60, max_waiters_per_ticket=4)
    if request.param == "memory":
        clock = ManualClock()
        result = make_env("memory", MemoryStore(clock), clock, config)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        prefix = unique_prefix("scan")
        store = RedisStore(StoreConfig(url=server.url, prefix=prefix))
        result = make_env("redis", store, SystemClock(), config, redis_url=server.url,
                          prefix=prefix)  # fmt: skip
    yield result
    await result.scan.close()
    await result.store.close()


async def new_ticket(env: Env) -> tuple[str, str]:
    created = await env.scan.create(pc_ip="203.0.113.7", user_agent=UA, return_to="/demo/")
    return created.ticket.id, created.secret


# -- ids and records ----------------------------------------------------------------------


def test_ticket_ids_fit_a_miniprogram_scene() -> None:
    ids = {new_ticket_id() for _ in range(2000)}
    assert len(ids) == 2000
    for ticket in ids:
        assert len(ticket) == 22 and ticket.isalnum() and ticket.isascii()  # §2.14 scene
        assert is_ticket_id(ticket)
    assert not is_ticket_id("../../etc") and not is_ticket_id("a" * 23)


def test_browser_summary() -> None:
    assert browser_summary(UA) == "Chrome 120 on Windows"
    assert browser_summary("curl/8") == "Unknown browser"
    mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Version/17.0 Safari/605.1.15"
    assert browser_summary(mac) == "Safari 605 on macOS"


async def test_create_stores_only_the_hash_of_the_secret(env: Env) -> None:
    ticket_id, secret = await new_ticket(env)
    record = await env.store.get_record(ticket_key(ticket_id))
    assert record is not None
    assert record["state"] == "pending"
    assert secret not in record.values()
    assert record["bind"] == hashlib.sha256(secret.encode()).hexdigest()
    assert record["pc_ip"] == "203.0.113.7" and record["pc_browser"] == "Chrome 120 on Windows"
    assert float(record["expires_at"]) - float(record["created_at"]) == pytest.approx(120)
    ttl = await env.store.ttl(ticket_key(ticket_id))
    assert ttl is not None and ttl > 120 + GRACE - 5
    assert env.count("created") == 1


# -- the state machine --------------------------------------------------------------------


async def test_happy_path_and_redeem_once(env: Env) -> None:
    ticket_id, secret = await new_ticket(env)
    assert (await env.scan.scan(ticket_id, None)).state == "scanned"
    assert (await env.scan.scan(ticket_id, None)).state == "scanned"  # reload: idempotent
    confirmed = await env.scan.confirm(ticket_id, ALICE)
    assert confirmed.state == "confirmed" and confirmed.field("sub") == ALICE.sub
    tokens = FakeTokens()
    with pytest.raises(AccessDenied):
        await env.scan.redeem(ticket_id, "not-the-secret", tokens)
    with pytest.raises(AccessDenied):
        await env.scan.redeem(ticket_id, None, tokens)
    done = await env.scan.redeem(ticket_id, secret, tokens)
    assert done.return_to == "/demo/" and done.identity == ALICE
    assert tokens.issued == [(ALICE.sub, ("wechat_scan",), ALICE.openid)]
    with pytest.raises(TicketConflict) as info:
        await env.scan.redeem(ticket_id, secret, tokens)
    assert info.value.status == 409 and info.value.state == "redeemed"
    for result in ("created", "scanned", "confirmed", "redeemed"):
        assert env.count(result) == 1


async def test_fifty_concurrent_redeems_one_wins(env: Env) -> None:
    ticket_id, secret = await new_ticket(env)
    await env.scan.scan(ticket_id, BOB)
    await env.scan.confirm(ticket_id, BOB)
    tokens = FakeTokens()
    results = await asyncio.gather(
        *(env.scan.redeem(ticket_id, secret, tokens) for _ in range(50)), return_exceptions=True
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    assert len(wins) == 1 and len(tokens.issued) == 1
    assert all(isinstance(r, TicketConflict) for r in results if r not in wins)


async def test_second_phone_confirming_gets_conflict(env: Env) -> None:
    ticket_id, _ = await new_ticket(env)
    await env.scan.scan(ticket_id, None)  # WeChat's browser scans before logging in
    outcomes = await asyncio.gather(
        env.scan.confirm(ticket_id, ALICE), env.scan.confirm(ticket_id, BOB),
        return_exceptions=True,
    )  # fmt: skip
    assert sum(isinstance(o, TicketConflict) for o in outcomes) == 1
    with pytest.raises(TicketConflict) as info:
        await env.scan.confirm(ticket_id, ALICE)
    assert info.value.state == "confirmed"


async def test_subject_bound_at_scan(env: Env) -> None:
    ticket_id, _ = await new_ticket(env)
    await env.scan.scan(ticket_id, BOB)
    with pytest.raises(TicketConflict) as info:
        await env.scan.scan(ticket_id, ALICE)
    assert info.value.other_subject
    with pytest.raises(TicketConflict):
        await env.scan.confirm(ticket_id, ALICE)
    with pytest.raises(TicketConflict):
        await env.scan.deny(ticket_id, ALICE)
    assert (await env.scan.confirm(ticket_id, BOB)).state == "confirmed"


async def test_confirm_needs_a_scan_and_deny_is_final(env: Env) -> None:
    ticket_id, secret = await new_ticket(env)
    with pytest.raises(TicketConflict) as info:
        await env.scan.confirm(ticket_id, ALICE)
    assert info.value.state == "pending"
    assert (await env.scan.deny(ticket_id, None)).state == "denied"
    for act in (env.scan.scan(ticket_id, None), env.scan.confirm(ticket_id, ALICE)):
        with pytest.raises(TicketConflict):
            await act
    with pytest.raises(TicketConflict):
        await env.scan.redeem(ticket_id, secret, FakeTokens())
    other, _ = await new_ticket(env)
    await env.scan.scan(other, ALICE)
    assert (await env.scan.deny(other, ALICE)).state == "denied"
    assert env.count("denied") == 2


async def test_unknown_ticket_is_not_found(env: Env) -> None:
    for ticket in (new_ticket_id(), "not a ticket"):
        with pytest.raises(NotFound):
            await env.scan.scan(ticket, None)
        with pytest.raises(NotFound):
            await env.scan.redeem(ticket, "x", FakeTokens())


# -- expiry -------------------------------------------------------------------------------


async def test_expiry_and_scan_extension_on_manual_clock() -> None:
    clock = ManualClock()
    env = make_env("memory", MemoryStore(clock), clock, ScanConfig(ticket_ttl=120, scan_extend=60))
    ticket_id, secret = await new_ticket(env)
    clock.advance(110)
    scanned = await env.scan.scan(ticket_id, ALICE)  # 10 s left: extended by 60
    assert scanned.expires_at == pytest.approx(clock.time() + 70)
    clock.advance(60)
    assert (await env.scan.confirm(ticket_id, ALICE)).state == "confirmed"
    clock.advance(11)  # past the extended expiry, not yet redeemed
    with pytest.raises(TicketConflict) as info:
        await env.scan.redeem(ticket_id, secret, FakeTokens())
    assert info.value.state == "expired"
    late, _ = await new_ticket(env)
    clock.advance(121)
    with pytest.raises(TicketConflict) as info:
        await env.scan.scan(late, ALICE)
    assert info.value.state == "expired"
    assert (await env.scan.get(late)).effective_state(clock.time()) == "expired"
    assert env.count("expired") == 2  # each recorded once, by the refused redeem and scan
    clock.advance(GRACE + 1)
    with pytest.raises(NotFound):
        await env.scan.get(late)
    await env.scan.close()


async def test_waiters_learn_expiry_without_a_transition(env: Env) -> None:
    if env.name == "redis":  # real time: a short ticket
        env.scan = ScanLogin(env.store, ScanConfig(ticket_ttl=1), env.clock, env.metrics)
    ticket_id, _ = await new_ticket(env)
    async with env.scan.watch(ticket_id, "sse", PC) as waiter:
        assert (await waiter.next(timeout=2)).state == "pending"  # type: ignore[union-attr]
        await env.elapse(121 if env.name == "memory" else 0.2)
        if env.name == "memory":
            await env.elapse(0)
        event = await waiter.next(timeout=5)
        assert event is not None and event.state == "expired" and event.seq == SEQ["expired"]
    assert env.count("expired") == 1
    record = await env.store.get_record(ticket_key(ticket_id))
    assert record is not None and record["state"] == "expired"


# -- waiters ------------------------------------------------------------------------------


async def test_waiters_get_current_state_then_events(env: Env) -> None:
    ticket_id, secret = await new_ticket(env)
    await env.scan.scan(ticket_id, None)
    w1, w2 = env.scan.watch(ticket_id, "websocket", PC), env.scan.watch(ticket_id, "sse", PC)
    async with w1, w2:
        assert env.scan.hub.channel_count == 1 and env.scan.hub.waiter_count == 2
        for waiter in (w1, w2):
            first = await waiter.next(timeout=2)
            assert first is not None and first.state == "scanned" and not first.pushed
        await env.scan.confirm(ticket_id, ALICE)
        await env.scan.redeem(ticket_id, secret, FakeTokens())
        for waiter in (w1, w2):
            states = [(await waiter.next(timeout=2)) for _ in range(2)]
            assert [e.state for e in states if e] == ["confirmed", "redeemed"]
            assert all(e is not None and e.pushed for e in states)
    assert env.scan.hub.channel_count == 0 and env.scan.hub.waiter_count == 0
    assert await env.subscriptions() == 0


async def test_waiter_cap_and_unknown_ticket(env: Env) -> None:
    ticket_id, _ = await new_ticket(env)
    waiters = [env.scan.watch(ticket_id, "longpoll", PC) for _ in range(4)]
    for waiter in waiters:
        await waiter.__aenter__()
    with pytest.raises(TooManyWaiters) as info:
        async with env.scan.watch(ticket_id, "longpoll", PC):
            pass
    assert info.value.status == 429 and info.value.headers["Retry-After"]
    for waiter in waiters:
        await waiter.__aexit__(None, None, None)
    with pytest.raises(NotFound):
        async with env.scan.watch(new_ticket_id(), "sse", PC):
            pass
    assert env.scan.hub.channel_count == 0
    assert await env.subscriptions() == 0


async def test_waiter_cap_per_address(env: Env) -> None:
    """One address holds at most ``limits.waiters_per_address`` waiters, whatever the tickets
    and transports; refused joins hold nothing; leaving frees a place; other addresses are
    apart."""
    config = ScanConfig(max_waiters_per_ticket=4)
    scan = ScanLogin(env.store, config, env.clock, env.metrics, waiters_per_address=3)
    ticket_ids = [(await new_ticket(env))[0] for _ in range(3)]
    waiters = [scan.watch(t, transport, PC) for t, transport in
               zip(ticket_ids, ("websocket", "sse", "longpoll"), strict=True)]  # fmt: skip
    for waiter in waiters:
        await waiter.__aenter__()
    assert scan.hub.waiters_from(PC) == 3
    for ticket_id in (ticket_ids[0], new_ticket_id()):  # refused before the ticket is looked at
        with pytest.raises(TooManyWaiters) as info:
            async with scan.watch(ticket_id, "sse", PC):
                pass
        assert info.value.status == 429 and info.value.headers["Retry-After"]
        assert "address" in info.value.description
    assert scan.hub.channel_count == 3 and scan.hub.waiters_from(PC) == 3
    async with scan.watch(ticket_ids[0], "sse", "198.51.100.1") as other:
        assert await other.next(timeout=2) is not None  # another address is not counted
    await waiters[1].__aexit__(None, None, None)
    async with scan.watch(ticket_ids[0], "sse", PC) as again:  # a place was freed
        assert await again.next(timeout=2) is not None and scan.hub.waiters_from(PC) == 3
    for waiter in (waiters[0], waiters[2]):
        await waiter.__aexit__(None, None, None)
    with pytest.raises(NotFound):  # a failed join gives its place back
        async with scan.watch(new_ticket_id(), "sse", PC):
            pass
    assert scan.hub.waiters_from(PC) == 0 and scan.hub.channel_count == 0
    await scan.close()
    assert await env.subscriptions() == 0


async def test_no_leak_after_many_cycles(env: Env) -> None:
    ticket_ids = [(await new_ticket(env))[0] for _ in range(5)]

    async def cycle(i: int) -> None:
        async with env.scan.watch(ticket_ids[i % 5], "sse", PC) as waiter:
            assert await waiter.next(timeout=2) is not None

    await cycle(0)  # the Redis store starts its pub/sub reader and writer once
    baseline = len(asyncio.all_tasks())

    for start in range(0, 500, 20):  # 4 at a time per ticket: the cap
        await asyncio.gather(*(cycle(i) for i in range(start, start + 20)))
    for _ in range(2000):  # the last channels' tasks end as the loop runs (20 s at most)
        if len(asyncio.all_tasks()) <= baseline:
            break
        await asyncio.sleep(0.01)
    assert len(asyncio.all_tasks()) <= baseline
    assert env.scan.hub.channel_count == 0 and env.scan.hub.waiter_count == 0
    assert await env.subscriptions() == 0
    gauge = env.metrics.registry.get_sample_value("wxgate_scan_waiters", {"transport": "sse"})
    assert gauge == 0


async def test_close_ends_waiters(env: Env) -> None:
    ticket_id, _ = await new_ticket(env)
    from gateway.login.scan_hub import WaiterClosed

    async with env.scan.watch(ticket_id, "websocket", PC) as waiter:
        await waiter.next(timeout=2)
        env.scan.hub.shutdown()
        with pytest.raises(WaiterClosed):
            await waiter.next(timeout=2)


# -- CSRF and rate limit ------------------------------------------------------------------


async def test_csrf_token_binds_ticket_and_session(env: Env) -> None:
    ticket_id, _ = await new_ticket(env)
    other_id, _ = await new_ticket(env)
    ticket, other = await env.scan.get(ticket_id), await env.scan.get(other_id)
    token = env.scan.csrf_token(ticket, "sid-1")
    env.scan.check_csrf(ticket, "sid-1", token)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    wrong = [(ticket, "sid-2", token), (other, "sid-1", token), (ticket, "sid-1", None),
             (ticket, "sid-1", tampered)]  # fmt: skip
    for t, sid, value in wrong:
        with pytest.raises(AccessDenied):
            env.scan.check_csrf(t, sid, value)


async def test_rate_limit(env: Env) -> None:
    """The one limiter (``gateway.limits``) on this backend: a fixed window per party."""
    limiter = Limiter(env.store, LimitsConfig(ticket_create_per_address=3), env.metrics)
    client = f"198.51.100.{id(env) % 200}-{env.name}-{unique_prefix()}"
    for _ in range(3):
        await limiter.hit("ticket_create", client)
    with pytest.raises(RateLimited) as info:
        await limiter.hit("ticket_create", client)
    assert 1 <= int(info.value.headers["Retry-After"]) <= 60
    if env.name == "memory":
        await env.elapse(61)
        await limiter.hit("ticket_create", client)  # a new window


async def test_status_rate_limit(env: Env) -> None:
    config = LimitsConfig(status_per_address=3, ticket_create_per_address=1)
    limiter = Limiter(env.store, config, env.metrics)
    client = f"198.51.100.{id(env) % 200}-{env.name}-{unique_prefix()}"
    await limiter.hit("ticket_create", client)  # creations have their own budget
    for _ in range(3):
        await limiter.hit("status", client)
    with pytest.raises(RateLimited) as info:
        await limiter.hit("status", client)
    assert 1 <= int(info.value.headers["Retry-After"]) <= 60
    assert "status" in info.value.description
    await limiter.hit("status", client + "-other")  # per address
    if env.name == "memory":
        await env.elapse(61)
        await limiter.hit("status", client)  # a new window


async def test_limit_checked_without_counting_and_off_at_zero(env: Env) -> None:
    """``check`` refuses a party already at the limit without counting; 0 turns a limit off."""
    config = LimitsConfig(forward_auth_failures_per_address=2, login_start_per_address=0)
    limiter = Limiter(env.store, config, env.metrics)
    client = f"198.51.100.{id(env) % 200}-{env.name}-{unique_prefix()}"
    await limiter.check("forward_auth_failures", client)
    await limiter.note("forward_auth_failures", client)
    await limiter.check("forward_auth_failures", client)
    await limiter.note("forward_auth_failures", client)
    with pytest.raises(RateLimited):
        await limiter.check("forward_auth_failures", client)
    for _ in range(5):
        await limiter.hit("login_start", client)
    refused = env.metrics.registry.get_sample_value(
        "wxgate_rate_limited_total", {"limit": "forward_auth_failures"}
    )
    assert refused == 1


class BrokenTokens(FakeTokens):
    async def issue_session(self, *args: object, **kwargs: object) -> TokenPair:
        raise StoreUnavailable()


async def test_a_failed_redeem_leaves_the_ticket_redeemable(env: Env) -> None:
    ticket_id, secret = await new_ticket(env)
    await env.scan.scan(ticket_id, BOB)
    await env.scan.confirm(ticket_id, BOB)
    with pytest.raises(StoreUnavailable):
        await env.scan.redeem(ticket_id, secret, BrokenTokens())
    assert (await env.scan.get(ticket_id)).state == "confirmed"
    tokens = FakeTokens()
    await env.scan.redeem(ticket_id, secret, tokens)
    assert len(tokens.issued) == 1 and (await env.scan.get(ticket_id)).state == "redeemed"

"""The Store contract: every test runs against MemoryStore and RedisStore (real redis-server).

Time: the memory backend's ManualClock is moved; the Redis backend sleeps through short real
TTLs (a few hundred milliseconds in all).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import pytest
import redis.asyncio

from gateway.clock import Clock, ManualClock, SystemClock
from gateway.config import StoreConfig
from gateway.errors import StoreUnavailable
from gateway.store import (
    MessagesLost,
    Store,
    Subscription,
    Transition,
    _redis_pubsub,
    create_store,
)
from gateway.store.memory import MemoryStore
from gateway.store.redis import RedisStore
from tests.fixtures.redis_server import RedisServer, unique_prefix

SHORT = 0.3  # a TTL that the tests let run out (long enough for a loaded 2-core machine)
WAIT = 3.0  # upper bound for anything that should happen "at once"

T = TypeVar("T")


@dataclass
class Backend:
    name: str
    store: Store
    clock: Clock
    elapse: Callable[[float], Awaitable[None]]
    node_urls: list[str] = field(default_factory=list)  # each Redis server holding the data
    prefix: str = ""


REDIS_DEPLOYMENTS = {  # backend -> (fixture, URL of the deployment, redis:// URL of each node)
    "redis": ("redis_server", lambda s: s.url, lambda s: [s.url]),
    "cluster": ("redis_cluster", lambda s: s.url, lambda s: s.node_urls),
    "sentinel": ("redis_sentinel", lambda s: s.url, lambda s: s.node_urls),
}


@pytest.fixture(
    params=["memory", *(pytest.param(name, marks=pytest.mark.redis) for name in REDIS_DEPLOYMENTS)]
)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        clock = ManualClock()

        async def advance(seconds: float) -> None:
            clock.advance(seconds)

        store: Store = MemoryStore(clock)
        yield Backend("memory", store, clock, advance)
    else:
        fixture, url, nodes = REDIS_DEPLOYMENTS[request.param]
        deployment = request.getfixturevalue(fixture)
        prefix = unique_prefix("contract")
        store = RedisStore(StoreConfig(url=url(deployment), prefix=prefix))
        clock = SystemClock()
        yield Backend(request.param, store, clock, asyncio.sleep, nodes(deployment), prefix)
    await store.close()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.store


async def recv(sub: Subscription, timeout: float = WAIT) -> str:
    return await asyncio.wait_for(sub.get(), timeout)


async def nothing_pending(sub: Subscription) -> bool:
    """True when no message is waiting (the next get would block)."""
    try:
        await asyncio.wait_for(sub.get(), 0.05)
    except TimeoutError:
        return True
    return False


# -- values -----------------------------------------------------------------------------


async def test_set_get_delete(store: Store) -> None:
    assert await store.get("k") is None
    assert await store.set("k", "v1", 60) is True
    assert await store.get("k") == "v1"
    assert await store.set("k", "v2", 60) is True
    assert await store.get("k") == "v2"
    assert await store.delete("k") is True
    assert await store.delete("k") is False
    assert await store.get("k") is None


async def test_values_expire(store: Store, backend: Backend) -> None:
    await store.set("short", "v", SHORT)
    await store.set("long", "v", 60)
    remaining = await store.ttl("short")
    assert remaining is not None and 0 < remaining <= SHORT
    await backend.elapse(SHORT + 0.05)
    assert await store.get("short") is None
    assert await store.ttl("short") is None
    assert await store.get("long") == "v"
    assert await store.delete("short") is False


async def test_only_if_absent(store: Store, backend: Backend) -> None:
    assert await store.set("k", "first", SHORT, only_if_absent=True) is True
    assert await store.set("k", "second", 60, only_if_absent=True) is False
    assert await store.get("k") == "first"
    await backend.elapse(SHORT + 0.05)
    assert await store.set("k", "third", 60, only_if_absent=True) is True
    assert await store.get("k") == "third"


async def test_bad_arguments_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await store.set("k", "v", 0)
    with pytest.raises(ValueError, match="field"):
        await store.create_record("r", {}, 60)
    with pytest.raises(TypeError, match="from_states"):
        await store.transition("r", from_states="pending", to_state="x")


async def test_take_is_one_time(store: Store) -> None:
    assert await store.take("ticket") is None
    await store.set("ticket", "secret", 60)
    results = await asyncio.gather(*(store.take("ticket") for _ in range(50)))
    assert [r for r in results if r is not None] == ["secret"]
    assert await store.get("ticket") is None


async def test_incr_fixed_window(store: Store, backend: Backend) -> None:
    window = 2 * SHORT
    assert await store.incr("c", window) == 1
    assert await store.incr("c", window) == 2
    assert await store.incr("c", window, amount=5) == 7
    assert await store.get("c") == "7"
    await backend.elapse(SHORT)
    assert await store.incr("c", window) == 8
    remaining = await store.ttl("c")  # not extended by later increments
    assert remaining is not None and remaining <= window - SHORT + 0.02
    await backend.elapse(SHORT + 0.05)
    assert await store.get("c") is None
    assert await store.incr("c", window) == 1


# -- records ----------------------------------------------------------------------------


async def test_create_and_get_record(store: Store, backend: Backend) -> None:
    assert await store.get_record("r") is None
    assert await store.create_record("r", {"state": "pending", "a": "1"}, SHORT) is True
    assert await store.create_record("r", {"state": "other"}, 60) is False
    assert await store.get_record("r") == {"state": "pending", "a": "1"}
    await store.set("v", "x", 60)
    assert await store.create_record("v", {"state": "pending"}, 60) is False
    await backend.elapse(SHORT + 0.05)
    assert await store.get_record("r") is None
    assert await store.create_record("r", {"state": "again"}, 60) is True


async def test_transition_happy_path_and_conflict(store: Store) -> None:
    await store.create_record("r", {"state": "pending", "a": "1"}, 60)
    moved = await store.transition(
        "r", from_states={"pending", "scanned"}, to_state="confirmed", fields={"b": "2"}
    )
    assert moved == Transition(True, {"state": "confirmed", "a": "1", "b": "2"})
    assert await store.get_record("r") == moved.record
    conflict = await store.transition("r", from_states=["pending"], to_state="scanned")
    assert conflict == Transition(False, {"state": "confirmed", "a": "1", "b": "2"})
    assert await store.transition("absent", from_states=["pending"], to_state="x") == Transition(
        False, None
    )


async def test_transition_state_wins_over_fields(store: Store) -> None:
    await store.create_record("r", {"state": "pending"}, 60)
    moved = await store.transition(
        "r", from_states=["pending"], to_state="done", fields={"state": "sneaky", "x": "y"}
    )
    assert moved.record == {"state": "done", "x": "y"}


async def test_transition_record_without_state_conflicts(store: Store) -> None:
    await store.create_record("r", {"a": "1"}, 60)
    assert await store.transition("r", from_states=["pending"], to_state="x") == Transition(
        False, {"a": "1"}
    )


async def test_transition_unexpired_at(store: Store, backend: Backend) -> None:
    now = backend.clock.time()
    await store.create_record("r", {"state": "pending", "expires_at": repr(now + 10)}, 60)
    late = await store.transition("r", from_states=["pending"], to_state="x", unexpired_at=now + 10)
    assert late.ok is False and late.record is not None and late.record["state"] == "pending"
    moved = await store.transition("r", from_states=["pending"], to_state="x", unexpired_at=now)
    assert moved.ok is True
    await store.create_record("no-exp", {"state": "pending"}, 60)
    missing = await store.transition(
        "no-exp", from_states=["pending"], to_state="x", unexpired_at=0
    )
    assert missing.ok is False


async def test_transition_ttl_replaces_or_keeps_expiry(store: Store, backend: Backend) -> None:
    await store.create_record("r", {"state": "a"}, 60)
    await store.transition("r", from_states=["a"], to_state="b", ttl=5)
    remaining = await store.ttl("r")
    assert remaining is not None and 4 < remaining <= 5
    await store.transition("r", from_states=["b"], to_state="c")
    remaining = await store.ttl("r")
    assert remaining is not None and 4 < remaining <= 5
    await store.transition("r", from_states=["c"], to_state="d", ttl=SHORT)
    await backend.elapse(SHORT + 0.05)
    assert await store.get_record("r") is None


async def test_concurrent_transitions_exactly_one_wins(store: Store) -> None:
    await store.create_record("ticket", {"state": "pending"}, 60)
    results = await asyncio.gather(
        *(
            store.transition(
                "ticket", from_states=["pending"], to_state="taken", fields={"by": str(i)}
            )
            for i in range(100)
        )
    )
    winners = [r for r in results if r.ok]
    assert len(winners) == 1
    assert all(r.record is not None and r.record["state"] == "taken" for r in results)
    assert await store.get_record("ticket") == winners[0].record


async def test_transition_publishes_new_record(store: Store) -> None:
    await store.create_record("r", {"state": "pending"}, 60)
    async with store.subscribe("ticket-events") as sub:
        moved = await store.transition(
            "r",
            from_states=["pending"],
            to_state="scanned",
            fields={"who": "张三"},
            channel="ticket-events",
        )
        assert json.loads(await recv(sub)) == moved.record == {"state": "scanned", "who": "张三"}
        failed = await store.transition(
            "r", from_states=["pending"], to_state="x", channel="ticket-events"
        )
        assert failed.ok is False
        assert await nothing_pending(sub)


# -- expiring sets ----------------------------------------------------------------------


async def test_expiring_set(store: Store, backend: Backend) -> None:
    now = backend.clock.time()
    assert await store.expiring_set_members("deny") == {}
    await store.expiring_set_add("deny", "short", now + SHORT)
    await store.expiring_set_add("deny", "long", now + 60)
    await store.expiring_set_add("deny", "past", now - 1)
    assert await store.expiring_set_members("deny") == pytest.approx(
        {"short": now + SHORT, "long": now + 60}
    )
    await backend.elapse(SHORT + 0.05)
    assert await store.expiring_set_members("deny") == pytest.approx({"long": now + 60})
    remaining = await store.ttl("deny")  # the key goes with its last member
    assert remaining is not None and remaining <= 60


async def test_expiring_set_key_expires_with_last_member(store: Store, backend: Backend) -> None:
    now = backend.clock.time()
    await store.expiring_set_add("s", "m", now + SHORT)
    await backend.elapse(SHORT + 0.05)
    assert await store.ttl("s") is None
    assert await store.expiring_set_members("s") == {}


# -- pub/sub ----------------------------------------------------------------------------


async def test_publish_reaches_every_subscriber_until_it_leaves(store: Store) -> None:
    async with (
        store.subscribe("c") as first,
        store.subscribe("c") as second,
        store.subscribe("other") as other,
    ):
        async with store.subscribe("c") as leaving:
            await store.publish("c", "m1")
            for sub in (first, second, leaving):
                assert await recv(sub) == "m1"
        await store.publish("c", "m2")
        await store.publish("c", "m3")
        await store.publish("other", "o1")
        assert [await recv(first), await recv(first)] == ["m2", "m3"]
        assert [await recv(second), await recv(second)] == ["m2", "m3"]
        assert await recv(other) == "o1"
        with pytest.raises(RuntimeError, match="left"):
            await leaving.get()  # nothing arrived after it left


async def test_subscription_iterates(store: Store) -> None:
    async with store.subscribe("c") as sub:
        for i in range(3):
            await store.publish("c", f"m{i}")
        received = []
        async for message in sub:
            received.append(message)
            if len(received) == 3:
                break
    assert received == ["m0", "m1", "m2"]


async def test_publish_without_subscribers(store: Store) -> None:
    await store.publish("nobody", "m")
    async with store.subscribe("nobody") as sub:
        assert await nothing_pending(sub)


async def test_close_wakes_waiting_subscribers(store: Store) -> None:
    async with store.subscribe("c") as sub:
        waiter = asyncio.create_task(sub.get())
        await asyncio.sleep(0.01)
        await store.close()
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(waiter, WAIT)
    with pytest.raises(StoreUnavailable):
        async with store.subscribe("c"):
            pass


async def test_many_subscriptions_leave_nothing_behind(store: Store, backend: Backend) -> None:
    async with store.subscribe("warm-up"):
        pass  # background tasks a backend starts once are not leftovers
    tasks_before = len(asyncio.all_tasks())
    subs = [store.subscribe(f"ch{i % 100}") for i in range(1000)]
    await asyncio.gather(*(sub.__aenter__() for sub in subs))
    for i in range(100):
        await store.publish(f"ch{i}", f"m{i}")
    for i, sub in enumerate(subs):
        assert await recv(sub) == f"m{i % 100}"
    for sub in subs:
        await sub.__aexit__(None, None, None)
    assert len(asyncio.all_tasks()) == tasks_before
    for url in backend.node_urls:  # a cluster's subscriber is on one node: ask them all
        assert await _server_channels(url, backend.prefix) == []


async def _server_channels(url: str, prefix: str) -> list[str]:
    """Channels under ``prefix`` that the Redis server at ``url`` still has subscribers for."""
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        deadline = time.monotonic() + WAIT
        while True:  # UNSUBSCRIBE is sent by the hub's writer task, just after leaving
            channels = [str(c) for c in await client.pubsub_channels(prefix + "*")]
            if not channels or time.monotonic() > deadline:
                return channels
            await asyncio.sleep(0.02)
    finally:
        await client.aclose()


async def test_ping(store: Store) -> None:
    await store.ping()


# -- Redis only -------------------------------------------------------------------------


async def test_create_store_picks_the_backend(redis_url: str) -> None:
    for url, kind in (("memory://", MemoryStore), (redis_url, RedisStore)):
        store = create_store(StoreConfig(url=url))
        assert isinstance(store, kind)
        await store.ping()
        await store.close()


@pytest.mark.redis
async def test_create_store_passes_the_clock_to_redis(redis_url: str, redis_prefix: str) -> None:
    """Expiring sets compare against the caller's clock, which wrote the expiry times."""
    clock = ManualClock()  # years behind the real clock
    store = create_store(StoreConfig(url=redis_url, prefix=redis_prefix), clock)
    try:
        await store.expiring_set_add("s", "m", clock.time() + 60)
        assert await store.expiring_set_members("s") == {"m": clock.time() + 60}
        clock.advance(61)
        assert await store.expiring_set_members("s") == {}
    finally:
        await store.close()


@pytest.mark.redis
async def test_redis_keys_are_prefixed_and_hash_tagged(redis_url: str, redis_prefix: str) -> None:
    store = RedisStore(StoreConfig(url=redis_url, prefix=redis_prefix))
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await store.set("a:b", "v", 60)
        await store.create_record("rec", {"state": "s"}, 60)
        assert sorted(await client.keys(redis_prefix + "*")) == [
            redis_prefix + "{a:b}",
            redis_prefix + "{rec}",
        ]
    finally:
        await client.aclose()
        await store.close()


@pytest.mark.redis
async def test_redis_down_is_store_unavailable() -> None:
    with socket_port() as port:
        config = StoreConfig(
            url=f"redis://127.0.0.1:{port}/0", connect_timeout=0.2, command_timeout=0.2
        )
        store = RedisStore(config)
        try:
            for call in (store.ping(), store.get("k"), store.set("k", "v", 1), store.take("k")):
                with pytest.raises(StoreUnavailable):
                    await call
            with pytest.raises(StoreUnavailable):
                async with store.subscribe("c"):
                    pass
        finally:
            await store.close()


@contextlib.contextmanager
def socket_port() -> Iterator[int]:
    """A 127.0.0.1 port on which nothing listens (held bound, so nothing else takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.redis
async def test_redis_reconnects_after_restart(redis_server: RedisServer, redis_prefix: str) -> None:
    config = StoreConfig(
        url=redis_server.url, prefix=redis_prefix, connect_timeout=0.5, command_timeout=0.5
    )
    store = RedisStore(config)
    try:
        async with store.subscribe("events") as sub:
            await store.set("k", "v", 60)
            await store.publish("events", "before")
            assert await recv(sub) == "before"

            await asyncio.to_thread(redis_server.restart)

            await eventually(store.ping)
            assert await store.get("k") is None  # no persistence: a new, empty server
            await store.set("k", "after", 60)
            assert await store.get("k") == "after"
            await store.create_record("r", {"state": "a"}, 60)  # scripts are re-loaded
            assert (await store.transition("r", from_states=["a"], to_state="b")).ok

            assert (await eventually(lambda: publish_and_receive(store, sub))).startswith("after")
            async with store.subscribe("events") as late:
                await store.publish("events", "both")
                # an earlier attempt's "after-..." still in flight may reach the new subscriber
                assert await _drain_until(late, "both")
                assert await _drain_until(sub, "both")
    finally:
        await store.close()


@pytest.mark.redis
async def test_redis_subscriber_detects_a_silent_server(
    redis_server: RedisServer,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server that stops answering without closing the socket is found by the health PING;
    a subscription entered meanwhile completes once the reconnected server confirms it."""
    monkeypatch.setattr(_redis_pubsub, "HEALTH_INTERVAL", 0.1)
    config = StoreConfig(
        url=redis_server.url, prefix=redis_prefix, connect_timeout=1.0, command_timeout=1.0
    )
    store = RedisStore(config)
    try:
        async with store.subscribe("events") as sub:
            await asyncio.sleep(0.35)  # idle: answered health checks keep the connection
            await store.publish("events", "idle")
            assert await recv(sub) == "idle"
            redis_server.pause()
            try:
                fresh = store.subscribe("fresh")
                joining = asyncio.create_task(fresh.__aenter__())
                await asyncio.sleep(0.5)
                assert not joining.done()  # not confirmed by a frozen server
            finally:
                redis_server.resume()
            await asyncio.wait_for(joining, WAIT)
            assert "no answer to a pub/sub health check" in caplog.text
            await store.publish("fresh", "hello")
            assert await recv(fresh) == "hello"
            await fresh.__aexit__(None, None, None)
            assert (await eventually(lambda: publish_and_receive(store, sub))).startswith("after")
    finally:
        await store.close()


async def publish_and_receive(store: Store, sub: Subscription) -> str:
    await store.publish("events", f"after-{time.monotonic()}")
    return await recv(sub, timeout=0.2)


async def _drain_until(sub: Subscription, wanted: str) -> bool:
    while True:
        try:
            message = await recv(sub)
        except MessagesLost:  # the re-subscription's notice may follow a message delivered
            continue  # on the new connection before Redis answered the confirming PING
        if message == wanted:
            return True
        assert message.startswith("after")


async def eventually(call: Callable[[], Awaitable[T]], timeout: float = 10.0) -> T:
    """``call()``'s result once it stops raising StoreUnavailable or TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await call()
        except (StoreUnavailable, TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)

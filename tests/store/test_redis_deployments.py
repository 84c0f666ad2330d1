"""Redis Cluster and Sentinel beyond the contract suite: ``store.url`` parsing, keys spread
over the cluster's masters, and a Sentinel failover under a live subscription."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio

from gateway.config import ConfigError, StoreConfig, StoreURL, parse_store_url
from gateway.store import MessagesLost, create_store
from gateway.store.redis import RedisStore
from tests.conftest import dev_config
from tests.fixtures.redis_cluster import RedisClusterNodes
from tests.fixtures.redis_sentinel import SentinelDeployment
from tests.fixtures.redis_server import unique_prefix
from tests.store.test_contract import _drain_until, eventually, publish_and_receive, recv


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("memory://", StoreURL("memory")),
        ("rediss://h:1/2", StoreURL("single", tls=True)),
        (
            "redis+cluster://u:p%40ss@a:7000, b:7001/",
            StoreURL("cluster", False, (("a", 7000), ("b", 7001)), "u", "p@ss"),
        ),
        (
            "rediss+cluster://:pw@[::1]:7000",
            StoreURL("cluster", True, (("::1", 7000),), None, "pw"),
        ),
        (
            "redis+sentinel://s1:26379,s2:26380/my%20svc/3",
            StoreURL("sentinel", False, (("s1", 26379), ("s2", 26380)), service="my svc", db=3),
        ),
        (
            "REDIS+SENTINEL://pw@s:1/svc",
            StoreURL("sentinel", hosts=(("s", 1),), password="pw", service="svc"),
        ),
    ],
)
def test_store_urls_parse(url: str, parsed: StoreURL) -> None:
    assert parse_store_url(url) == parsed


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://x", "unsupported scheme 'mysql'"),
        ("redis+cluster://a:1/5", "database 0 only"),
        ("redis+cluster://a/", "host:port"),
        ("redis+cluster://a:1,b:x/", "port must be a number"),
        ("redis+cluster://a:70000/", "out of range"),
        ("redis+sentinel://s:1/", "names the service"),
        ("redis+sentinel://s:1/svc/db", "database must be a number"),
    ],
)
def test_bad_store_urls_say_why(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_store_url(url)


@pytest.mark.redis
async def test_cluster_spreads_keys_over_every_master(redis_cluster: RedisClusterNodes) -> None:
    """Hash tags pin each record to one slot, and the records land on all three masters."""
    prefix = unique_prefix("spread")
    store = RedisStore(StoreConfig(url=redis_cluster.url, prefix=prefix))
    try:
        for i in range(30):
            assert await store.create_record(f"r{i}", {"state": "a"}, 60)
            assert (await store.transition(f"r{i}", from_states=["a"], to_state="b")).ok
        per_node = []
        for url in redis_cluster.node_urls:
            client = redis.asyncio.Redis.from_url(url)
            try:
                per_node.append(len([k async for k in client.scan_iter(prefix + "*")]))
            finally:
                await client.aclose()
        assert sum(per_node) == 30 and all(n > 0 for n in per_node), per_node
    finally:
        await store.close()


@pytest.mark.redis
async def test_sentinel_failover_keeps_data_and_subscriptions(
    redis_sentinel: SentinelDeployment,
) -> None:
    config = StoreConfig(
        url=redis_sentinel.url,
        prefix=unique_prefix("failover"),
        connect_timeout=0.5,
        command_timeout=0.5,
    )
    store = RedisStore(config)
    try:
        async with store.subscribe("events") as sub:
            await store.create_record("r", {"state": "a"}, 60)
            await store.publish("events", "before")
            assert await recv(sub) == "before"
            old = redis_sentinel.primary_port()
            await asyncio.to_thread(redis_sentinel.wait_replicated)

            new = await asyncio.to_thread(redis_sentinel.failover)

            assert new != old
            with pytest.raises(MessagesLost):  # once re-subscribed on the new primary
                await recv(sub, timeout=10)
            await eventually(store.ping)
            moved = await eventually(lambda: store.transition("r", from_states=["a"], to_state="b"))
            assert moved.ok  # the record survived on the promoted replica; writes reach it
            assert (await eventually(lambda: publish_and_receive(store, sub))).startswith("after")
            async with store.subscribe("events") as late:
                await store.publish("events", "both")
                assert await recv(late) == "both"
                assert await _drain_until(sub, "both")
    finally:
        await store.close()


@pytest.mark.redis
async def test_create_store_and_config_take_every_deployment(
    redis_cluster: RedisClusterNodes, redis_sentinel: SentinelDeployment, tmp_path: Path
) -> None:
    for url in (redis_cluster.url, redis_sentinel.url):
        config = dev_config(tmp_path, WXGATE_STORE__URL=url)
        store = create_store(config.store)
        try:
            assert isinstance(store, RedisStore)
            await store.ping()
        finally:
            await store.close()
    with pytest.raises(ConfigError) as info:
        dev_config(tmp_path, WXGATE_STORE__URL="redis+sentinel://127.0.0.1:1/")
    assert "store.url: a Sentinel URL names the service" in str(info.value.problems)

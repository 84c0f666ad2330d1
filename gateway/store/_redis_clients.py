"""The redis-py clients behind a RedisStore: one node, a Cluster, or a Sentinel-managed primary.

Each deployment gives two things: the command client (``Redis`` or ``RedisCluster``, strings
decoded, RESP2, no automatic retries: the store decides per command) and a factory of
subscriber connections for the pub/sub hub (bytes, no health check of their own).

Pub/sub on a Cluster uses classic ``PUBLISH``/``SUBSCRIBE``: Redis forwards every PUBLISH over
the cluster bus to every node, so one subscriber connection to any node hears the whole
cluster, and the ``PUBLISH`` inside the transition script stays atomic with the write (a
sharded ``SPUBLISH`` there would need the channel in the record's slot). The factory rotates
through the known nodes, so a reconnect after a node is lost goes to another one.

On Sentinel the subscriber connection is a ``SentinelManagedConnection``: every connect asks
the Sentinels for the current primary, so the hub's reconnect-and-resubscribe follows a
failover; a primary demoted under a pooled connection answers READONLY, which redis-py turns
into a connection error and a fresh lookup.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster, Sentinel
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import AbstractConnection, Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.backoff import NoBackoff

from gateway.config import StoreConfig, StoreURL, parse_store_url

__all__ = ["HEALTH_CHECK_INTERVAL", "RedisClients", "open_clients"]

HEALTH_CHECK_INTERVAL = 15  # seconds idle before a pooled connection is PINGed on checkout

ConnectionFactory = Callable[[], AbstractConnection]


@dataclass(frozen=True, slots=True)
class RedisClients:
    """The command client and the subscriber connection factory of one deployment."""

    commands: Redis | RedisCluster
    subscriber: ConnectionFactory
    # Commands in flight at once, when the client's own pool fails instead of waiting for a
    # free connection (the Cluster client's per-node pools raise MaxConnectionsError).
    in_flight: int | None = None
    # Other clients to close with the command client (the Sentinel connections).
    others: tuple[Redis, ...] = ()

    async def aclose(self) -> None:
        """Close the command client's connections, then the others'."""
        await self.commands.aclose()
        for client in self.others:
            await client.aclose()


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's pool with the blocking checkout of the one-node pool (waits, then fails)."""


def open_clients(config: StoreConfig) -> RedisClients:
    """The clients for ``config.url`` (no I/O: connections are made on first use)."""
    url = parse_store_url(config.url)
    common: dict[str, Any] = {
        "socket_connect_timeout": config.connect_timeout,
        "socket_timeout": config.command_timeout,
        "decode_responses": True,
        "protocol": 2,
        "retry": Retry(NoBackoff(), 0),  # retries are decided per command by the store
    }
    if url.mode == "cluster":
        return _cluster(url, config, common)
    if url.mode == "sentinel":
        return _sentinel(url, config, common)
    # Blocking: a burst larger than the pool waits up to command_timeout for a connection
    # instead of failing at once.
    pool = BlockingConnectionPool.from_url(
        config.url,
        max_connections=config.pool_size,
        timeout=config.command_timeout,
        health_check_interval=HEALTH_CHECK_INTERVAL,
        **common,
    )
    return RedisClients(Redis.from_pool(pool), _pool_subscriber(pool))


def _pool_subscriber(pool: BlockingConnectionPool) -> ConnectionFactory:
    """Connections like the pool's, returning bytes (the hub decodes leniently) and without
    the idle health check, which the hub does itself while reading. For a Sentinel pool
    they look the primary up on every connect."""

    def connect() -> AbstractConnection:
        kwargs = dict(pool.connection_kwargs)
        kwargs.update(decode_responses=False, health_check_interval=0)
        connection: AbstractConnection = pool.connection_class(**kwargs)
        return connection

    return connect


def _sentinel(url: StoreURL, config: StoreConfig, common: dict[str, Any]) -> RedisClients:
    timeouts = {k: v for k, v in common.items() if k.startswith("socket_")}
    sentinel = Sentinel(list(url.hosts), sentinel_kwargs={**timeouts, "protocol": 2})  # type: ignore[no-untyped-call]
    commands: Redis = sentinel.master_for(
        url.service,
        redis_class=Redis,
        connection_pool_class=_BlockingSentinelPool,
        max_connections=config.pool_size,
        timeout=config.command_timeout,
        health_check_interval=HEALTH_CHECK_INTERVAL,
        username=url.username,
        password=url.password,
        db=url.db,
        ssl=url.tls,
        **common,
    )
    pool = commands.connection_pool
    assert isinstance(pool, BlockingConnectionPool)
    return RedisClients(commands, _pool_subscriber(pool), others=tuple(sentinel.sentinels))


def _cluster(url: StoreURL, config: StoreConfig, common: dict[str, Any]) -> RedisClients:
    auth: dict[str, Any] = {"username": url.username, "password": url.password}
    commands = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in url.hosts],
        max_connections=config.pool_size,  # per node
        ssl=url.tls,
        **auth,
        **common,
    )
    seeds = list(url.hosts)
    turn = itertools.count()
    connection_class = SSLConnection if url.tls else Connection

    def connect() -> AbstractConnection:
        # The nodes the client discovered, else the URL's seeds; the next one each time.
        known = [(n.host, n.port) for n in commands.get_nodes()] or seeds
        host, port = known[next(turn) % len(known)]
        kwargs = {**common, **auth, "decode_responses": False}
        return connection_class(host=host, port=port, **kwargs)

    return RedisClients(commands, connect, in_flight=config.pool_size)

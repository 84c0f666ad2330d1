"""The Redis Store on ``redis.asyncio``: one node (``redis://``, ``rediss://``), a Cluster
(``redis+cluster://``) or a Sentinel-managed primary (``redis+sentinel://``); the clients are
made by ``_redis_clients``.

Keys are ``prefix + "{" + key + "}"``: the braces are a Redis Cluster hash tag, so each
record's key maps to one slot and every Lua script touches one slot. Channels are named the
same way, which keeps deployments sharing a Redis apart.

Every redis-py error becomes ``StoreUnavailable`` (chained, for the log). A command is retried
once after a connection error only when running it twice cannot change the answer (reads);
writes are not retried, because the first attempt may have taken effect.

RESP2 is pinned: redis-py 8 defaults to RESP3, whose pub/sub and PING replies differ; the
subscriber code (``_redis_pubsub``) and the scripts' replies are written for RESP2.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError

from gateway.clock import Clock, SystemClock
from gateway.config import StoreConfig
from gateway.errors import StoreUnavailable
from gateway.store import _redis_lua as lua
from gateway.store._channels import ChannelSubscription
from gateway.store._common import float_arg, require_fields, ttl_ms
from gateway.store._common import from_states as state_tuple
from gateway.store._redis_clients import open_clients
from gateway.store._redis_pubsub import PubSubHub
from gateway.store.contract import Subscription, Transition

__all__ = ["RedisStore"]


class RedisStore:
    """``Store`` on Redis: bounded connection pools plus one shared subscriber connection.

    ``clock`` supplies "now" for expiring sets, whose expiry times the callers write with
    their own clock; TTLs are relative and use the server's clock.
    """

    def __init__(
        self,
        config: StoreConfig,
        clock: Clock | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._prefix = config.prefix
        self._on_error = on_error or (lambda op: None)
        self._clock = clock or SystemClock()
        self._clients = clients = open_clients(config)
        self._redis = clients.commands
        self._transition = self._redis.register_script(lua.TRANSITION)
        self._create_record = self._redis.register_script(lua.CREATE_RECORD)
        self._incr = self._redis.register_script(lua.INCR)
        self._set_add = self._redis.register_script(lua.EXPIRING_SET_ADD)
        self._gate = asyncio.Semaphore(clients.in_flight) if clients.in_flight else None
        self._wait = config.command_timeout
        self._hub = PubSubHub(clients.subscriber, config.connect_timeout + config.command_timeout)

    def _k(self, key: str) -> str:
        return f"{self._prefix}{{{key}}}"

    async def _call(self, command: Callable[[], Awaitable[Any]], *, retry: bool = False) -> Any:
        """Run ``command``; StoreUnavailable on any Redis error (one retry when ``retry``).

        Returns Any: redis-py types replies as ``bytes | str``; with ``decode_responses``
        they are ``str``, and each caller states the type it receives.
        """
        for attempt in range(2 if retry else 1):
            try:
                if self._gate is None:
                    return await command()
                return await self._gated(command)
            except RedisConnectionError as exc:
                if attempt + 1 < (2 if retry else 1):
                    continue
                error: Exception = exc
            except (RedisError, RedisClusterException, OSError) as exc:
                error = exc  # RedisClusterException: no reachable node, slot not covered
            self._on_error(sys._getframe(1).f_code.co_name)  # the Store method names the op
            raise StoreUnavailable() from error
        raise AssertionError("unreachable")

    async def _gated(self, command: Callable[[], Awaitable[Any]]) -> Any:
        """``command`` once fewer than ``in_flight`` commands run: like the blocking pool, a
        burst waits up to command_timeout for its turn, then fails."""
        assert self._gate is not None
        try:
            await asyncio.wait_for(self._gate.acquire(), self._wait)
        except TimeoutError as exc:
            raise RedisConnectionError("no connection available") from exc
        try:
            return await command()
        finally:
            self._gate.release()

    # -- values and counters ------------------------------------------------------------

    async def get(self, key: str) -> str | None:
        value: str | None = await self._call(lambda: self._redis.get(self._k(key)), retry=True)
        return value

    async def set(self, key: str, value: str, ttl: float, *, only_if_absent: bool = False) -> bool:
        ms = ttl_ms(ttl)
        done = await self._call(
            lambda: self._redis.set(self._k(key), value, px=ms, nx=only_if_absent)
        )
        return bool(done)

    async def delete(self, key: str) -> bool:
        removed: int = await self._call(lambda: self._redis.delete(self._k(key)))
        return removed > 0

    async def take(self, key: str) -> str | None:
        value: str | None = await self._call(lambda: self._redis.getdel(self._k(key)))
        return value

    async def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        args = [amount, ttl_ms(ttl)]
        value: int = await self._call(lambda: self._incr(keys=[self._k(key)], args=args))
        return value

    async def ttl(self, key: str) -> float | None:
        ms: int = await self._call(lambda: self._redis.pttl(self._k(key)), retry=True)
        return None if ms < 0 else ms / 1000  # -2 absent, -1 no expiry

    # -- records ------------------------------------------------------------------------

    async def create_record(self, key: str, fields: Mapping[str, str], ttl: float) -> bool:
        args: list[str | int] = [ttl_ms(ttl), *_flatten(require_fields(fields))]
        created: int = await self._call(lambda: self._create_record(keys=[self._k(key)], args=args))
        return created == 1

    async def get_record(self, key: str) -> dict[str, str] | None:
        record: dict[str, str] = await self._call(
            lambda: self._redis.hgetall(self._k(key)), retry=True
        )
        return record or None

    async def transition(
        self,
        key: str,
        *,
        from_states: Collection[str],
        to_state: str,
        fields: Mapping[str, str] | None = None,
        ttl: float | None = None,
        unexpired_at: float | None = None,
        channel: str | None = None,
    ) -> Transition:
        """See ``Store.transition``; one Lua script, so check, write and PUBLISH are atomic."""
        states = state_tuple(from_states)
        args: list[str | int] = [
            to_state,
            "" if ttl is None else ttl_ms(ttl),
            "" if unexpired_at is None else float_arg(unexpired_at),
            "" if channel is None else self._k(channel),
            len(states),
            *states,
            *_flatten(fields or {}),
        ]
        reply: list[Any] = await self._call(
            lambda: self._transition(keys=[self._k(key)], args=args)
        )
        if reply[0] == -1:
            return Transition(False, None)
        return Transition(reply[0] == 1, _pairs(reply[1]))

    # -- expiring sets ------------------------------------------------------------------

    async def expiring_set_add(self, key: str, member: str, expires_at: float) -> None:
        args = [member, float_arg(expires_at), float_arg(self._clock.time())]
        await self._call(lambda: self._set_add(keys=[self._k(key)], args=args))

    async def expiring_set_members(self, key: str) -> dict[str, float]:
        low = "(" + float_arg(self._clock.time())  # exclusive: expires_at == now is expired
        members: list[tuple[str, float]] = await self._call(
            lambda: self._redis.zrangebyscore(self._k(key), low, "+inf", withscores=True),
            retry=True,
        )
        return dict(members)

    # -- pub/sub and lifecycle ----------------------------------------------------------

    async def publish(self, channel: str, message: str) -> None:
        await self._call(lambda: self._redis.publish(self._k(channel), message))

    def subscribe(self, channel: str) -> Subscription:
        """Joins the shared subscriber connection; entering waits for Redis to confirm."""
        return ChannelSubscription(self._k(channel), self._hub.join, self._hub.leave)

    async def ping(self) -> None:
        await self._call(lambda: self._redis.ping(), retry=True)

    async def close(self) -> None:
        """Stop the subscriber tasks, then close the pool's connections."""
        await self._hub.close()
        try:
            await self._clients.aclose()
        except (RedisError, RedisClusterException, OSError) as exc:
            raise StoreUnavailable() from exc


def _flatten(fields: Mapping[str, str]) -> list[str]:
    return [item for pair in fields.items() for item in pair]


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))

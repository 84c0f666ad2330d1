"""A replica waiting for another's server-token refresh keeps waiting when its subscription
reports lost messages (the Store reconnected: ``MessagesLost``): it re-reads the Store and gets
the token the holder wrote, instead of answering 503."""

from __future__ import annotations

import asyncio
import json
from types import TracebackType

from gateway.clock import SystemClock
from gateway.metrics import Metrics
from gateway.store import MessagesLost, Subscription
from gateway.store.memory import MemoryStore
from gateway.wechat.models import ServerToken
from gateway.wechat.server_token import ServerTokenCache


class LosingOnce:
    """A subscription whose first ``get`` reports lost messages, as after a reconnect."""

    def __init__(self, inner: Subscription) -> None:
        self._inner = inner
        self._lost = False

    async def __aenter__(self) -> LosingOnce:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._inner.__aexit__(kind, exc, tb)

    async def get(self) -> str:
        if not self._lost:
            self._lost = True
            raise MessagesLost()
        return await self._inner.get()


class ReconnectingStore(MemoryStore):
    def subscribe(self, channel: str) -> Subscription:
        return LosingOnce(super().subscribe(channel))  # type: ignore[return-value]


async def test_a_waiting_replica_survives_lost_messages() -> None:
    clock = SystemClock()
    store = ReconnectingStore(clock)

    async def never(app: str) -> ServerToken:
        raise AssertionError("the waiting replica must not fetch: another one holds the lock")

    cache = ServerTokenCache(
        store, never, clock, Metrics(), lock_ttl=5.0, wait_timeout=3.0, poll_interval=0.05
    )
    await store.set("wechat:token-lock:wx1", "other-replica", 5.0)  # another replica refreshes
    waiting = asyncio.create_task(cache.get("mini", "wx1"))
    await asyncio.sleep(0.1)  # the waiter has met the lost messages by now
    now = clock.time()
    entry = {"t": "fresh-token", "exp": now + 7200, "ref": now + 6900}
    await store.set("wechat:token:wx1", json.dumps(entry), 7200.0)
    await store.publish("wechat:token:wx1", "ok")
    assert await asyncio.wait_for(waiting, 2.0) == "fresh-token"
    await cache.close()
    await store.close()

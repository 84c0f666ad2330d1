"""Forward auth's failure limit: the check before every decision is local to the process (no
Store round trip), the block starts when the counted failures reach the limit, and a second
replica sharing the Store blocks the party at its own next failure."""

from __future__ import annotations

import pytest

from gateway.clock import SystemClock
from gateway.config import LimitsConfig
from gateway.errors import RateLimited
from gateway.limits import Limiter
from gateway.metrics import Metrics
from gateway.store.memory import MemoryStore


class CountingStore(MemoryStore):
    """The memory store, counting the reads a limiter makes."""

    def __init__(self) -> None:
        super().__init__(SystemClock())
        self.reads = 0

    async def get(self, key: str) -> str | None:
        self.reads += 1
        return await super().get(key)


async def test_checks_read_nothing_and_a_block_follows_the_limit() -> None:
    store = CountingStore()
    config = LimitsConfig(forward_auth_failures_per_address=3)
    a, b = Limiter(store, config, Metrics()), Limiter(store, config, Metrics())
    for _ in range(2):
        await a.check("forward_auth_failures", "192.0.2.7")
        await a.note("forward_auth_failures", "192.0.2.7")
    await a.check("forward_auth_failures", "192.0.2.7")  # two failures: not yet
    await a.note("forward_auth_failures", "192.0.2.7")  # the third reaches the limit
    with pytest.raises(RateLimited) as info:
        await a.check("forward_auth_failures", "192.0.2.7")
    assert 1 <= info.value.retry_after <= config.window
    await a.check("forward_auth_failures", "192.0.2.8")  # another address is not blocked
    await b.check("forward_auth_failures", "192.0.2.7")  # replica B has not seen a failure...
    await b.note("forward_auth_failures", "192.0.2.7")  # ...until its own next one
    with pytest.raises(RateLimited):
        await b.check("forward_auth_failures", "192.0.2.7")
    assert store.reads == 0

"""The abuse limiter fails open when the Store cannot be reached: a real Redis client pointed
at a loopback port nothing listens on (connections refused, as after redis-server died)."""

from __future__ import annotations

import pytest

from gateway.config import LimitsConfig, StoreConfig
from gateway.errors import StoreUnavailable
from gateway.limits import Limiter
from gateway.metrics import Metrics
from gateway.store import create_store
from tests.fixtures.net import free_port


async def test_limits_neither_count_nor_refuse_without_a_store() -> None:
    store = create_store(StoreConfig(url=f"redis://127.0.0.1:{free_port()}/0", connect_timeout=0.5))
    limiter = Limiter(store, LimitsConfig(forward_auth_failures_per_address=1), Metrics())
    try:
        with pytest.raises(StoreUnavailable):  # the store itself is down...
            await store.get("anything")
        for _ in range(3):  # ...and the limits let everything through
            await limiter.check("forward_auth_failures", "192.0.2.1")
            await limiter.note("forward_auth_failures", "192.0.2.1")
            await limiter.hit("ticket_create", "192.0.2.1")
    finally:
        await store.close()

"""``create_store``: the backend ``store.url`` names."""

from __future__ import annotations

from collections.abc import Callable

from gateway.clock import Clock, SystemClock
from gateway.config import StoreConfig
from gateway.store.contract import Store
from gateway.store.memory import MemoryStore

__all__ = ["create_store"]


def create_store(
    config: StoreConfig,
    clock: Clock | None = None,
    on_error: Callable[[str], None] | None = None,
) -> Store:
    """The backend named by ``config.url``; ``on_error(op)`` is told of each failed operation."""
    if config.url.startswith("memory:"):
        return MemoryStore(clock or SystemClock())
    # Imported when chosen: redis-py takes a fifth of a second to import, memory:// needs none
    # of it. (No cycle hides here: the backends import the contract, not this module.)
    from gateway.store.redis import RedisStore

    return RedisStore(config, clock, on_error)

"""Failed Redis operations are reported by name (wxgate_store_errors_total{op})."""

from __future__ import annotations

import pytest

from gateway.config import StoreConfig
from gateway.errors import StoreUnavailable
from gateway.store import create_store
from tests.fixtures.net import free_port


async def test_failed_operations_are_reported_with_their_name() -> None:
    config = StoreConfig(
        url=f"redis://127.0.0.1:{free_port()}/0", connect_timeout=0.2, command_timeout=0.2
    )
    ops: list[str] = []
    store = create_store(config, on_error=ops.append)
    try:
        with pytest.raises(StoreUnavailable):
            await store.get("k")
        with pytest.raises(StoreUnavailable):
            await store.set("k", "v", 10)
        with pytest.raises(StoreUnavailable):
            await store.transition("r", from_states=("a",), to_state="b")
    finally:
        await store.close()
    assert ops == ["get", "set", "transition"]

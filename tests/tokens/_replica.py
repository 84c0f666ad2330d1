"""A second gateway replica in its own process, for tests/tokens/test_propagation.py.

``python -m tests.tokens._replica TMP_PATH REDIS_URL PREFIX``: opens a TokenService on the same
keys and Redis, reads one access token from stdin, verifies it (prints ``ready``), then polls
until it is refused as revoked and prints the wall-clock time of that moment (or ``timeout``).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from gateway.clock import SystemClock
from gateway.config import StoreConfig
from gateway.metrics import Metrics
from gateway.store.redis import RedisStore
from gateway.tokens import TokenRejected
from gateway.tokens.service import TokenService
from tests.tokens.conftest import make_config

LIMIT = 5.0


async def main(tmp_path: str, url: str, prefix: str) -> None:
    clock = SystemClock()
    store = RedisStore(StoreConfig(url=url, prefix=prefix), clock)
    service = await TokenService.open(make_config(Path(tmp_path)), store, Metrics(), clock)
    try:
        token = (await asyncio.to_thread(sys.stdin.readline)).strip()
        service.verify(token)
        print("ready", flush=True)
        deadline = time.monotonic() + LIMIT
        while time.monotonic() < deadline:
            try:
                service.verify(token)
            except TokenRejected:
                print(repr(time.time()), flush=True)
                return
            await asyncio.sleep(0.0005)
        print("timeout", flush=True)
    finally:
        await service.close()
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))

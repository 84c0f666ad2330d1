"""``open_administration(config)``: the administration of a configured gateway, for operators
on the box (``wxgate users ...``).

Opens what a gateway would (the Store, the token service, the user directory) in the CLI's own
process and closes it afterwards. With a shared Store (Redis), ending sessions here goes through
the same revocation fan-out as in a gateway: running replicas refuse the tokens at once. With the
in-process ``memory://`` Store there are no sessions to see from another process (dev only).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.admin.audit import AuditLog
from gateway.admin.service import Administration
from gateway.clock import Clock, SystemClock
from gateway.config import Config
from gateway.metrics import Metrics
from gateway.store import create_store
from gateway.tokens import TokenService
from gateway.users import open_user_directory

__all__ = ["CLI_ACTOR", "open_administration"]

CLI_ACTOR = "cli"


@asynccontextmanager
async def open_administration(
    config: Config, clock: Clock | None = None
) -> AsyncIterator[Administration]:
    """``Administration`` over ``config``'s Store, keys and user directory."""
    clock = clock or SystemClock()
    metrics = Metrics()
    config = config.resolved()
    store = create_store(config.store, clock)
    try:
        tokens = await TokenService.open(config, store, metrics, clock)
        try:
            users = await open_user_directory(config.users, config.data_dir, clock)
            try:
                audit = AuditLog(users, clock, metrics, config.audit)
                yield Administration(users, tokens, audit, metrics)
            finally:
                await users.close()
        finally:
            await tokens.close()
    finally:
        await store.close()

"""Readiness: named checks registered by each resource, plus the draining flag."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

__all__ = ["Readiness"]

Check = Callable[[], Awaitable[None]]
log = logging.getLogger("gateway.health")


class Readiness:
    """Named readiness checks plus the draining flag set at shutdown."""

    def __init__(self, timeout: float = 2.0) -> None:
        self.draining = False
        self.timeout = timeout
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        """Register ``check``: an async callable that raises when ``name`` is not ready."""
        self._checks[name] = check

    def remove(self, name: str) -> None:
        self._checks.pop(name, None)

    async def failures(self) -> dict[str, str]:
        """Failing checks with a short reason each (empty when ready)."""
        failing: dict[str, str] = {}
        if self.draining:
            failing["draining"] = "shutting down"
        names = list(self._checks)
        results = await asyncio.gather(
            *(self._run(self._checks[n]) for n in names), return_exceptions=False
        )
        for name, reason in zip(names, results, strict=True):
            if reason is not None:
                failing[name] = reason
        return failing

    async def _run(self, check: Check) -> str | None:
        try:
            await asyncio.wait_for(check(), self.timeout)
        except TimeoutError:
            return "timed out"
        except Exception as exc:  # a failing check is reported, never raised
            log.warning("readiness check failed: %s", type(exc).__name__)
            return type(exc).__name__
        return None

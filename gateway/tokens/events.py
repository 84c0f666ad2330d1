"""Hooks for what happens to sessions, for the audit trail: logins, refresh-token reuse,
logouts and revocations.

A listener is ``async (kind, sub, details)``; ``details`` are flat strings that name no secret
(never a token, a code or a refresh-token hash: a ``sid`` is an identifier, not a credential).
A listener's failure is logged and never stops the operation that emitted the event.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

__all__ = ["EventHooks", "EventListener"]

log = logging.getLogger(__name__)

EventListener = Callable[[str, str, Mapping[str, str]], Awaitable[None]]


class EventHooks:
    """The listeners of one token service."""

    def __init__(self) -> None:
        self._listeners: list[EventListener] = []

    def add(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    async def emit(self, kind: str, sub: str, details: Mapping[str, str]) -> None:
        for listener in self._listeners:
            try:
                await listener(kind, sub, details)
            except Exception:  # the audit trail never blocks a login or a logout
                log.exception("session event listener failed (%s)", kind)

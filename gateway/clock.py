"""Injectable clocks: production code asks a Clock for the time, tests move a ManualClock."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the Unix epoch (wall clock, for token claims and expiries)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic clock (for durations and local deadlines)."""
        ...


class SystemClock:
    """The real clocks of the process."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that only moves when told to; both readings advance together."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 1000.0

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._mono += seconds

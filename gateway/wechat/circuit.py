"""A circuit breaker per WeChat API, so that an outage at WeChat fails fast instead of piling up
requests that each wait for timeouts and retries.

States (the ``wxgate_wechat_circuit_state`` values):

- ``CLOSED`` (0): calls go through. Each finished call is a sample in a sliding window of
  ``window`` seconds (one-second buckets). When the window holds at least ``min_calls`` samples
  and the share of failures reaches ``failure_ratio``, the circuit opens.
- ``OPEN`` (2): calls fail at once (``CircuitOpen``, a 503 with ``Retry-After``) for
  ``open_seconds``.
- ``HALF_OPEN`` (1): after the cool-down one probe call at a time goes through (the others
  still fail fast). A probe's success closes the circuit with an empty window; its failure opens
  it for another ``open_seconds``.

A failure is an outcome that says WeChat itself is unwell: no usable answer (timeouts, refused
or lost connections, HTTP 5xx, an empty or non-JSON body) or errcode ``-1`` ("system busy") once
the retries are spent. Any other errcode (a used login code, a wrong openid...) is an answer,
so it counts as a success. Pure apart from the injected clock: no I/O, no asyncio.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from gateway.clock import Clock
from gateway.wechat.errors import UpstreamError

__all__ = ["CircuitBreaker", "CircuitOpen", "CircuitSettings", "CircuitState", "Circuits"]


class CircuitState(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


@dataclass(frozen=True, slots=True)
class CircuitSettings:
    enabled: bool = True
    window: float = 30.0
    min_calls: int = 20
    failure_ratio: float = 0.5
    open_seconds: float = 15.0


class CircuitOpen(UpstreamError):
    """The API's circuit is open: the call was not sent. ``retry_after``: seconds until a probe
    may go through."""

    def __init__(self, api: str, retry_after: float) -> None:
        super().__init__(
            api, "circuit open: WeChat is failing, not called", retry_after=retry_after
        )


class CircuitBreaker:
    """The breaker of one API (see the module doc). ``allow()`` before a call (raises
    ``CircuitOpen``), then exactly one of ``record`` or ``abandon`` with what it returned."""

    def __init__(self, api: str, settings: CircuitSettings, clock: Clock) -> None:
        self.api = api
        self._settings = settings
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._opened_at = 0.0
        self._probing = False
        self._buckets: deque[list[int]] = deque()  # [second, calls, failures]
        self._calls = 0
        self._failures = 0
        self.logged_state = CircuitState.CLOSED  # the last state logged (by the transport)

    @property
    def state(self) -> CircuitState:
        """The state now (an open circuit whose cool-down is over reads as half-open)."""
        if self._state is CircuitState.OPEN and self._cooled_down():
            return CircuitState.HALF_OPEN
        return self._state

    def allow(self) -> bool:
        """Let a call through (True when it is the half-open probe), or raise ``CircuitOpen``."""
        if self._state is CircuitState.CLOSED:
            return False
        if self._state is CircuitState.OPEN:
            if not self._cooled_down():
                raise CircuitOpen(self.api, self._remaining())
            self._state = CircuitState.HALF_OPEN
        if self._probing:  # half-open: one probe at a time
            raise CircuitOpen(self.api, 1.0)
        self._probing = True
        return True

    def record(self, failed: bool, *, probe: bool) -> None:
        """The outcome of a call ``allow`` let through (``probe``: what ``allow`` returned)."""
        if probe:
            self._probing = False
            self._open() if failed else self._close()
            return
        if self._state is not CircuitState.CLOSED:
            return  # a call from before the circuit opened: the probe decides now
        self._add(failed)
        s = self._settings
        if (
            failed
            and self._calls >= s.min_calls
            and self._failures >= s.failure_ratio * self._calls
        ):
            self._open()

    def abandon(self, *, probe: bool) -> None:
        """A call ``allow`` let through ended without an outcome (cancelled)."""
        if probe:
            self._probing = False

    # -- internals

    def _cooled_down(self) -> bool:
        return self._clock.monotonic() - self._opened_at >= self._settings.open_seconds

    def _remaining(self) -> float:
        return max(0.0, self._settings.open_seconds - (self._clock.monotonic() - self._opened_at))

    def _open(self) -> None:
        self._state, self._opened_at = CircuitState.OPEN, self._clock.monotonic()

    def _close(self) -> None:
        self._state = CircuitState.CLOSED
        self._buckets.clear()
        self._calls = self._failures = 0

    def _add(self, failed: bool) -> None:
        now = math.floor(self._clock.monotonic())
        horizon = now - self._settings.window
        buckets = self._buckets
        while buckets and buckets[0][0] <= horizon:
            _, calls, failures = buckets.popleft()
            self._calls -= calls
            self._failures -= failures
        if not buckets or buckets[-1][0] != now:
            buckets.append([now, 0, 0])
        bucket = buckets[-1]
        bucket[1] += 1
        bucket[2] += int(failed)
        self._calls += 1
        self._failures += int(failed)


class Circuits:
    """One breaker per API name, created on first use; ``on_new(breaker)`` lets the owner
    publish each breaker's state (a metric)."""

    def __init__(
        self,
        settings: CircuitSettings,
        clock: Clock,
        on_new: Callable[[CircuitBreaker], None] = lambda _: None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._on_new = on_new
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, api: str) -> CircuitBreaker:
        breaker = self._breakers.get(api)
        if breaker is None:
            breaker = self._breakers[api] = CircuitBreaker(api, self.settings, self._clock)
            self._on_new(breaker)
        return breaker

"""In-process single flight: concurrent callers asking for the same key share one execution.

``SingleFlight[K, V]`` runs ``work()`` for a key at most once at a time in this event loop;
every caller asking for that key meanwhile awaits the same result or the same exception.
It is the bottom layer (no web framework, no gateway package but ``gateway.clock``), used for
OAuth code exchanges, scan QR/wxacode images, WeChat server access_token refreshes and session
renewals. It coalesces within one process only: work that must happen once across replicas
takes its own lock (in the Store) inside ``work``.

Contract:

- ``await run(key, work)``: a remembered result for ``key`` if one is still fresh; else joins
  the flight in progress for ``key``; else starts ``work()`` in a task of its own and awaits it.
  ``work`` is called only when a new flight starts; it is never called concurrently for one key.
- ``start(key, work)``: the same join-or-start without waiting (the memory is not consulted):
  returns the flight's ``asyncio.Task``; await it through ``asyncio.shield`` (or call ``run``)
  so a cancelled waiter does not cancel the flight. Use it to refresh something in the
  background.
- Every waiter of a flight gets its result, or its exception (the same object). A failed
  flight is never remembered: the next ``run`` after it starts a new flight (a retry).
- A flight runs in its own task, shielded from its callers: a waiter that is cancelled (its
  client went away) stops waiting, the flight goes on for the others and for the memory.
- A flight's exception is always retrieved, so asyncio never reports "Task exception was
  never retrieved", even when every waiter went away.
- Memory (optional): a successful result is kept for ``remember`` seconds (constructor
  default, or per ``run``; 0 keeps nothing) after the flight ends, measured on
  ``clock.monotonic()`` of the injected clock, so a ``ManualClock`` moves it in tests. At most
  ``capacity`` results are kept; the least recently used goes first. ``None`` is a result like
  any other (a flight may return ``None`` to have "no good" remembered).
- ``close()`` cancels the flights in progress and forgets everything (call it on shutdown).

Not thread-safe: one instance belongs to one event loop.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Generic, TypeVar

from gateway.clock import Clock

__all__ = ["SingleFlight"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """Keyed single flight with an optional short memory of results (see module doc).

    ``clock`` is needed only when results are remembered. ``name`` names the flights' tasks
    (for debugging; keys are not put in task names, they may be secrets).
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        remember: float = 0.0,
        capacity: int = 10_000,
        name: str = "single-flight",
    ) -> None:
        if remember > 0 and clock is None:
            raise ValueError("a clock is required to remember results")
        if capacity < 0:
            raise ValueError("capacity must not be negative")
        self._clock = clock
        self._remember = remember
        self._capacity = capacity
        self._name = name
        self._inflight: dict[K, asyncio.Task[V]] = {}
        self._recent: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        """The number of results remembered now (fresh or not yet swept)."""
        return len(self._recent)

    def in_flight(self, key: K) -> bool:
        """True while a flight for ``key`` is running."""
        return key in self._inflight

    async def run(
        self, key: K, work: Callable[[], Awaitable[V]], *, remember: float | None = None
    ) -> V:
        """The remembered result for ``key``, else the result of the (shared) flight.

        ``remember`` overrides, for a flight this call starts, how long its result is kept.
        """
        recent = self._recent.get(key)
        if recent is not None:  # only with a clock: _fly remembers nothing without one
            if self._clock is not None and recent[0] > self._clock.monotonic():
                self._recent.move_to_end(key)
                return recent[1]
            del self._recent[key]
        return await asyncio.shield(self.start(key, work, remember=remember))

    def start(
        self, key: K, work: Callable[[], Awaitable[V]], *, remember: float | None = None
    ) -> asyncio.Task[V]:
        """The task of the flight for ``key``, started now unless one is already running."""
        task = self._inflight.get(key)
        if task is None:
            keep = self._remember if remember is None else remember
            if keep > 0 and self._clock is None:
                raise ValueError("a clock is required to remember results")
            task = asyncio.get_running_loop().create_task(
                self._fly(key, work, keep), name=self._name
            )
            if not task.done():  # an eager task factory may have finished it already
                self._inflight[key] = task
            task.add_done_callback(partial(self._landed, key))
        return task

    async def close(self) -> None:
        """Cancel the flights in progress (their waiters see CancelledError), forget results."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._recent.clear()

    async def _fly(self, key: K, work: Callable[[], Awaitable[V]], keep: float) -> V:
        value = await work()
        if keep > 0 and self._clock is not None and self._capacity > 0:
            # Written before the flight ends, so no caller finds neither flight nor result.
            self._recent[key] = (self._clock.monotonic() + keep, value)
            self._recent.move_to_end(key)
            while len(self._recent) > self._capacity:
                self._recent.popitem(last=False)
        return value

    def _landed(self, key: K, task: asyncio.Task[V]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: the waiters (if any) got it; asyncio never warns

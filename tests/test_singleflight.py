"""``SingleFlight``: one execution per key at a time, shared results, shielded flights, memory."""

from __future__ import annotations

import asyncio
import gc

import pytest

from gateway.clock import ManualClock
from gateway.singleflight import SingleFlight


class Work:
    """A countable piece of work that finishes when released."""

    def __init__(self, result: object = "done", error: BaseException | None = None) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.result = result
        self.error = error

    async def __call__(self) -> object:
        self.calls += 1
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return self.result


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_concurrent_callers_share_one_execution() -> None:
    flight: SingleFlight[str, object] = SingleFlight()
    work = Work("image")
    waiters = [asyncio.create_task(flight.run("k", work)) for _ in range(20)]
    await settle()
    assert flight.in_flight("k")
    work.release.set()
    assert await asyncio.gather(*waiters) == ["image"] * 20
    assert work.calls == 1
    assert not flight.in_flight("k")


async def test_different_keys_fly_separately() -> None:
    flight: SingleFlight[str, object] = SingleFlight()
    a, b = Work("a"), Work("b")
    a.release.set()
    b.release.set()
    assert await asyncio.gather(flight.run("a", a), flight.run("b", b)) == ["a", "b"]
    assert (a.calls, b.calls) == (1, 1)


async def test_without_memory_the_next_call_runs_again() -> None:
    flight: SingleFlight[str, object] = SingleFlight()
    work = Work()
    work.release.set()
    await flight.run("k", work)
    await flight.run("k", work)
    assert work.calls == 2 and len(flight) == 0


async def test_an_exception_reaches_every_waiter_and_the_next_call_retries() -> None:
    flight: SingleFlight[str, object] = SingleFlight(ManualClock(), remember=60)
    boom = RuntimeError("upstream down")
    work = Work(error=boom)
    waiters = [asyncio.create_task(flight.run("k", work)) for _ in range(5)]
    await settle()
    work.release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(r is boom for r in results)
    assert work.calls == 1 and len(flight) == 0  # failures are never remembered
    work.error = None
    assert await flight.run("k", work) == "done"
    assert work.calls == 2


async def test_a_cancelled_waiter_does_not_cancel_the_flight() -> None:
    flight: SingleFlight[str, object] = SingleFlight()
    work = Work("kept")
    first = asyncio.create_task(flight.run("k", work))
    second = asyncio.create_task(flight.run("k", work))
    await settle()
    first.cancel()  # the client that started the flight went away
    with pytest.raises(asyncio.CancelledError):
        await first
    assert flight.in_flight("k")
    work.release.set()
    assert await second == "kept"
    assert work.calls == 1


async def test_a_failure_nobody_awaits_is_retrieved() -> None:
    """The only waiter went away: the loop must not report "exception was never retrieved"."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        flight: SingleFlight[str, object] = SingleFlight()
        work = Work(error=ValueError("nobody listens"))
        waiter = asyncio.create_task(flight.run("k", work))
        await settle()
        waiter.cancel()
        work.release.set()
        await settle()
        assert not flight.in_flight("k")
        del waiter
        gc.collect()  # a forgotten exception is reported when its task is collected
        await settle()
    finally:
        loop.set_exception_handler(None)
    assert reported == []


async def test_start_runs_in_the_background_and_run_joins_it() -> None:
    flight: SingleFlight[str, object] = SingleFlight()
    work = Work("token")
    task = flight.start("k", work)
    assert flight.start("k", work) is task
    await settle()
    work.release.set()
    assert await flight.run("k", work) == "token"
    assert work.calls == 1 and task.done()


async def test_memory_expires_by_the_injected_clock() -> None:
    clock = ManualClock()
    flight: SingleFlight[str, object] = SingleFlight(clock, remember=5)
    work = Work("pair")
    work.release.set()
    assert await flight.run("k", work) == "pair"
    clock.advance(4.9)
    assert await flight.run("k", work) == "pair"
    assert work.calls == 1
    clock.advance(0.2)  # 5.1 s after the flight ended
    assert await flight.run("k", work) == "pair"
    assert work.calls == 2


async def test_memory_per_call_and_none_is_remembered() -> None:
    clock = ManualClock()
    flight: SingleFlight[str, object] = SingleFlight(clock)
    work = Work(None)
    work.release.set()
    assert await flight.run("k", work, remember=10) is None
    clock.advance(9)
    assert await flight.run("k", work) is None
    assert work.calls == 1 and len(flight) == 1


async def test_memory_is_bounded_least_recently_used_first() -> None:
    clock = ManualClock()
    flight: SingleFlight[str, object] = SingleFlight(clock, remember=60, capacity=2)
    works = {k: Work(k) for k in "abc"}
    for w in works.values():
        w.release.set()
    await flight.run("a", works["a"])
    await flight.run("b", works["b"])
    await flight.run("a", works["a"])  # a is now the most recently used
    await flight.run("c", works["c"])  # evicts b
    assert len(flight) == 2
    await flight.run("a", works["a"])
    await flight.run("b", works["b"])
    assert (works["a"].calls, works["b"].calls, works["c"].calls) == (1, 2, 1)


async def test_close_cancels_flights_and_forgets() -> None:
    clock = ManualClock()
    flight: SingleFlight[str, object] = SingleFlight(clock, remember=60)
    done = Work("kept")
    done.release.set()
    await flight.run("done", done)
    stuck = Work()
    waiter = asyncio.create_task(flight.run("stuck", stuck))
    await settle()
    await flight.close()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not flight.in_flight("stuck") and len(flight) == 0


async def test_remembering_needs_a_clock() -> None:
    with pytest.raises(ValueError, match="clock"):
        SingleFlight(remember=1)
    flight: SingleFlight[str, object] = SingleFlight()
    with pytest.raises(ValueError, match="clock"):
        await flight.run("k", Work(), remember=1)

"""The circuit breaker per WeChat API: the state machine on a manual clock, then the client
against the real simulator (HTTP on loopback) with its fault switches."""

from __future__ import annotations

import dataclasses
import time

import aiohttp
import pytest

from gateway.clock import ManualClock
from gateway.config import WeChatConfig
from gateway.errors import InvalidGrant, TemporarilyUnavailable
from gateway.metrics import Metrics
from gateway.simulator import Simulator
from gateway.store.memory import MemoryStore
from gateway.wechat import WeChatClient
from gateway.wechat.circuit import CircuitBreaker, CircuitOpen, CircuitSettings, CircuitState
from tests.simulator.harness import MINI, metric

SETTINGS = CircuitSettings(window=10.0, min_calls=4, failure_ratio=0.5, open_seconds=5.0)


def breaker(clock: ManualClock, settings: CircuitSettings = SETTINGS) -> CircuitBreaker:
    return CircuitBreaker("sns/jscode2session", settings, clock)


def calls(b: CircuitBreaker, *failed: bool) -> None:
    for f in failed:
        b.record(f, probe=b.allow())


def test_opens_at_the_failure_ratio_once_the_window_has_enough_calls() -> None:
    clock = ManualClock()
    b = breaker(clock)
    calls(b, True, True, True)  # 3 failures: below min_calls
    assert b.state is CircuitState.CLOSED
    calls(b, False)  # 3/4 failed, but a success never opens it
    assert b.state is CircuitState.CLOSED
    calls(b, True)  # 4/5 >= 0.5
    assert b.state is CircuitState.OPEN
    with pytest.raises(CircuitOpen) as info:
        b.allow()
    assert info.value.retry_after == pytest.approx(5.0)


def test_a_low_failure_ratio_stays_closed() -> None:
    b = breaker(ManualClock())
    calls(b, *([False, False, True] * 10))  # a third failed
    assert b.state is CircuitState.CLOSED


def test_old_calls_leave_the_sliding_window() -> None:
    clock = ManualClock()
    b = breaker(clock)
    calls(b, True, True, True)
    clock.advance(11)  # the three failures are out of the 10 s window
    calls(b, False, False, False, True)  # 1/4 in the window
    assert b.state is CircuitState.CLOSED


def test_half_open_lets_one_probe_through_and_closes_on_its_success() -> None:
    clock = ManualClock()
    b = breaker(clock)
    calls(b, True, True, True, True)
    assert b.state is CircuitState.OPEN
    clock.advance(5)
    assert b.state is CircuitState.HALF_OPEN
    assert b.allow() is True  # the probe
    with pytest.raises(CircuitOpen):
        b.allow()  # one at a time
    b.record(False, probe=True)
    assert b.state is CircuitState.CLOSED
    calls(b, True, True, True)  # a fresh window: three failures do not reopen it
    assert b.state is CircuitState.CLOSED


def test_a_failed_probe_reopens_for_another_cool_down() -> None:
    clock = ManualClock()
    b = breaker(clock)
    calls(b, True, True, True, True)
    clock.advance(5)
    b.record(True, probe=b.allow())
    assert b.state is CircuitState.OPEN
    clock.advance(4.9)
    with pytest.raises(CircuitOpen):
        b.allow()
    clock.advance(0.1)
    assert b.allow() is True


def test_an_abandoned_probe_frees_the_slot_and_stale_calls_do_not_count() -> None:
    clock = ManualClock()
    b = breaker(clock)
    slow = b.allow()  # a call let through while closed, finishing after the circuit opened
    calls(b, True, True, True, True)
    b.record(False, probe=slow)
    assert b.state is CircuitState.OPEN  # a stale success does not close it
    clock.advance(5)
    b.abandon(probe=b.allow())  # cancelled probe
    assert b.allow() is True


# --------------------------------------------------------------------------- over real HTTP


@pytest.fixture
async def breaking_client(
    http: aiohttp.ClientSession,
    wechat_config: WeChatConfig,
    store: MemoryStore,
    metrics: Metrics,
    clock: ManualClock,
) -> WeChatClient:
    config = dataclasses.replace(
        wechat_config,
        max_retries=0,
        circuit_window=30.0,
        circuit_min_calls=4,
        circuit_failure_ratio=0.5,
        circuit_open_seconds=10.0,
    )
    return WeChatClient(http, config, store, metrics, clock, backoff=0.01)


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "http5xx", "status": 502},
        {"kind": "errcode", "errcode": -1},
        {"kind": "empty_body"},
    ],
)
async def test_a_failing_api_fails_fast_then_recovers_through_a_probe(
    breaking_client: WeChatClient,
    sim: Simulator,
    metrics: Metrics,
    clock: ManualClock,
    fault: dict[str, object],
) -> None:
    api = "sns/jscode2session"
    sim.add_fault("jscode2session", times=0, **fault)  # type: ignore[arg-type]
    for _ in range(4):
        with pytest.raises(TemporarilyUnavailable):
            await breaking_client.jscode2session("mini", sim.mint_js_code(MINI, "alice"))
    assert sim.calls("jscode2session") == 4
    assert metric(metrics, "wxgate_wechat_circuit_state", api=api) == 2
    # open: 503 at once, WeChat is not called
    started = time.perf_counter()
    with pytest.raises(TemporarilyUnavailable) as info:
        await breaking_client.jscode2session("mini", sim.mint_js_code(MINI, "alice"))
    assert time.perf_counter() - started < 0.05
    assert info.value.headers["Retry-After"] == "10"
    assert sim.calls("jscode2session") == 4
    assert metric(metrics, "wxgate_wechat_circuit_rejected_total", api=api) == 1
    # another API is not affected
    token = await breaking_client.exchange_code("web", sim.authorize("wx00000000000000a1", "bob"))
    assert token.openid
    # WeChat recovers; after the cool-down one probe goes through and closes the circuit
    sim.faults.clear()
    clock.advance(10)
    assert metric(metrics, "wxgate_wechat_circuit_state", api=api) == 1
    session = await breaking_client.jscode2session("mini", sim.mint_js_code(MINI, "alice"))
    assert session.openid == sim.openid(MINI, "alice")
    assert metric(metrics, "wxgate_wechat_circuit_state", api=api) == 0


async def test_answers_that_are_not_outages_never_open_it(
    breaking_client: WeChatClient, sim: Simulator, metrics: Metrics
) -> None:
    for _ in range(8):  # used or unknown codes: WeChat answered, the circuit stays closed
        with pytest.raises(InvalidGrant):
            await breaking_client.jscode2session("mini", "not-a-code")
    assert metric(metrics, "wxgate_wechat_circuit_state", api="sns/jscode2session") == 0
    assert sim.calls("jscode2session") == 8

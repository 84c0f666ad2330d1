"""Sending ``ApiRequest``s: timeouts, the retries reference §6.2 allows, failover, metrics, logs.

Retry policy (reference §6.2; never 40029/40163/40226/45011/config errcodes):

- errcode ``-1`` ("system busy, retry later", §2.8/§3): retried.
- connection failures *before the request was sent*: retried (on the failover base when
  enabled, §6.15). "Before sent" means aiohttp raised ``ClientConnectorError`` (DNS, refused,
  TLS handshake: no HTTP byte left us) or ``ConnectionTimeoutError`` (the connect phase timed
  out). Every other failure - read timeouts, total timeouts, ``ServerDisconnectedError``,
  payload errors - may have happened after WeChat received the request: never retried.
- HTTP 5xx: retried, except that a request carrying a single-use code is retried only on 503
  (the server declined to process it); a 500/502/504 may hide a consumed code (§6.1: a code
  must never be exchanged twice once it may have reached WeChat).

At most ``config.max_retries`` extra attempts, with bounded exponential backoff. Logs carry the
API name, app name, attempt, HTTP status, errcode and rid: never a URL query, body or token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from yarl import URL

from gateway.clock import Clock
from gateway.config import WECHAT_API_BASE, WECHAT_API_FAILOVER_BASE, WeChatConfig
from gateway.metrics import Metrics
from gateway.wechat.circuit import (
    CircuitBreaker,
    CircuitOpen,
    Circuits,
    CircuitSettings,
    CircuitState,
)
from gateway.wechat.errors import RETRYABLE_ERRCODES, UpstreamError, WeChatError, errcode_label
from gateway.wechat.metrics import WeChatMetrics
from gateway.wechat.protocol import ApiRequest, parse_image_response, parse_response

__all__ = ["Transport", "circuit_settings", "failover_enabled"]

log = logging.getLogger("gateway.wechat")
T = TypeVar("T")
Parser = Callable[[int, bytes, str], T]
_MAX_BACKOFF = 1.0


def failover_enabled(config: WeChatConfig) -> bool:
    """Fail over only between WeChat's own hosts, or to a base someone set on purpose.

    A custom ``api_base`` (the simulator, a proxy) with the failover left at its default would
    otherwise send the app's secret to the real ``api2`` host when the custom base is down.
    """
    failover = config.api_failover_base.rstrip("/")
    if not failover or failover == config.api_base.rstrip("/"):
        return False
    return config.api_base.rstrip("/") == WECHAT_API_BASE or failover != WECHAT_API_FAILOVER_BASE


class _NotSent(Exception):
    """The request surely never reached WeChat (see the module docstring)."""


class Transport:
    """Sends requests on one injected long-lived ``aiohttp.ClientSession``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: WeChatConfig,
        metrics: Metrics,
        clock: Clock,
        *,
        backoff: float = 0.1,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._session = session
        self._config = config
        self._metrics = metrics.of(WeChatMetrics)
        self._clock = clock
        self._backoff = backoff
        self._sleep = sleep
        self._timeout = aiohttp.ClientTimeout(total=config.timeout, connect=config.connect_timeout)
        bases = [config.api_base]
        if failover_enabled(config):
            bases.append(config.api_failover_base)
        self._bases = tuple(bases)
        # Labelled metric children, looked up once per label set (``labels()`` is slow).
        self._durations: dict[str, Any] = {}
        self._counters: dict[tuple[str, str, str], Any] = {}
        self.circuits = Circuits(circuit_settings(config), clock, self._publish_state)

    async def call(self, request: ApiRequest, *, app: str) -> dict[str, Any]:
        """The JSON object of a successful answer; raise ``WeChatError``/``UpstreamError``."""
        return await self._send(request, app, _parse_json)

    async def call_image(self, request: ApiRequest, *, app: str) -> bytes:
        """Image bytes (reference §2.14); raise ``WeChatError``/``UpstreamError``."""
        return await self._send(request, app, _parse_image)

    async def _send(self, request: ApiRequest, app: str, parse: Parser[T]) -> T:
        if not self.circuits.settings.enabled:
            return await self._timed(request, app, parse)
        breaker = self.circuits.get(request.api)
        try:
            probe = breaker.allow()
        except CircuitOpen:
            self._metrics.circuit_rejected.labels(api=request.api).inc()
            raise
        try:
            result = await self._timed(request, app, parse)
        except (WeChatError, UpstreamError) as exc:
            breaker.record(_wechat_unwell(exc), probe=probe)
            self._log_transition(breaker, app)
            raise
        except BaseException:
            breaker.abandon(probe=probe)
            raise
        breaker.record(False, probe=probe)
        if probe:
            self._log_transition(breaker, app)
        return result

    async def _timed(self, request: ApiRequest, app: str, parse: Parser[T]) -> T:
        started = self._clock.monotonic()
        try:
            return await self._attempts(request, app, parse)
        finally:
            elapsed = max(0.0, self._clock.monotonic() - started)
            histogram = self._durations.get(request.api)
            if histogram is None:
                histogram = self._metrics.duration.labels(api=request.api)
                self._durations[request.api] = histogram
            histogram.observe(elapsed)

    async def _attempts(self, request: ApiRequest, app: str, parse: Parser[T]) -> T:
        attempt, base_index = 0, 0
        while True:
            attempt += 1
            try:
                return await self._once(request, app, parse, self._bases[base_index], attempt)
            except _NotSent as exc:
                if attempt > self._config.max_retries:
                    raise UpstreamError(request.api, "connection failed") from exc.__cause__
                base_index = (base_index + 1) % len(self._bases)
            except WeChatError as exc:
                if exc.errcode not in RETRYABLE_ERRCODES or attempt > self._config.max_retries:
                    raise
            except UpstreamError as exc:
                if not _may_retry(exc, request) or attempt > self._config.max_retries:
                    raise
            log.warning("wechat retry api=%s app=%s attempt=%d", request.api, app, attempt)
            await self._sleep(min(_MAX_BACKOFF, self._backoff * 2 ** (attempt - 1)))

    async def _once(
        self, request: ApiRequest, app: str, parse: Parser[T], base: str, attempt: int
    ) -> T:
        status, body = await self._exchange(request, app, base, attempt)
        try:
            result = parse(status, body, request.api)
        except WeChatError as exc:
            self._count(request, "errcode", exc.errcode)
            log.info(
                "wechat errcode api=%s app=%s attempt=%d status=%d errcode=%d rid=%s",
                request.api, app, attempt, status, exc.errcode, exc.rid or "-",
            )  # fmt: skip
            raise
        except UpstreamError as exc:
            server_error = exc.status is not None and exc.status >= 500
            self._count(request, "http_error" if server_error else "bad_response", None)
            log.warning(
                "wechat bad response api=%s app=%s attempt=%d status=%d reason=%s",
                request.api, app, attempt, status, exc.reason,
            )  # fmt: skip
            raise
        self._count(request, "ok", 0)
        log.debug("wechat ok api=%s app=%s attempt=%d", request.api, app, attempt)
        return result

    async def _exchange(
        self, request: ApiRequest, app: str, base: str, attempt: int
    ) -> tuple[int, bytes]:
        try:
            async with self._session.request(
                request.method,
                URL(request.target(base), encoded=True),
                json=request.json,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                return response.status, await response.read()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            self._fail(request, app, attempt, "network", exc)
            raise _NotSent() from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            self._fail(request, app, attempt, "timeout", exc)
            raise UpstreamError(request.api, "timed out") from exc
        except aiohttp.ClientError as exc:
            self._fail(request, app, attempt, "network", exc)
            raise UpstreamError(request.api, "connection lost") from exc

    def _fail(
        self, request: ApiRequest, app: str, attempt: int, outcome: str, exc: BaseException
    ) -> None:
        self._count(request, outcome, None)
        # The exception's type only: some aiohttp errors render the request URL with its query.
        log.warning(
            "wechat %s api=%s app=%s attempt=%d error=%s",
            outcome, request.api, app, attempt, type(exc).__name__,
        )  # fmt: skip

    def _publish_state(self, breaker: CircuitBreaker) -> None:
        """The breaker's state on ``wxgate_wechat_circuit_state``, read at scrape time."""
        self._metrics.circuit_state.labels(api=breaker.api).set_function(
            lambda: float(breaker.state)
        )

    def _log_transition(self, breaker: CircuitBreaker, app: str) -> None:
        state = breaker.state
        if state is not breaker.logged_state:
            breaker.logged_state = state
            level = logging.ERROR if state is CircuitState.OPEN else logging.WARNING
            log.log(level, "wechat circuit %s api=%s app=%s", state.name.lower(), breaker.api, app)

    def _count(self, request: ApiRequest, outcome: str, errcode: int | None) -> None:
        key = (request.api, outcome, errcode_label(errcode))
        counter = self._counters.get(key)
        if counter is None:
            counter = self._metrics.requests.labels(*key)
            self._counters[key] = counter
        counter.inc()


def circuit_settings(config: WeChatConfig) -> CircuitSettings:
    return CircuitSettings(
        enabled=config.circuit_enabled,
        window=config.circuit_window,
        min_calls=config.circuit_min_calls,
        failure_ratio=config.circuit_failure_ratio,
        open_seconds=config.circuit_open_seconds,
    )


def _wechat_unwell(exc: WeChatError | UpstreamError) -> bool:
    """A failure that counts against the circuit: no usable answer, or "system busy"."""
    return isinstance(exc, UpstreamError) or exc.errcode in RETRYABLE_ERRCODES


def _parse_json(status: int, body: bytes, api: str) -> dict[str, Any]:
    return parse_response(status, body, api=api)


def _parse_image(status: int, body: bytes, api: str) -> bytes:
    return parse_image_response(status, body, api=api)


def _may_retry(exc: UpstreamError, request: ApiRequest) -> bool:
    if not exc.retryable or exc.status is None:
        return False
    return exc.status == 503 or not request.single_use

"""Abuse limits: one implementation for every per-address and per-user rate the gateway keeps.

A limit counts events of one kind for one party (a client address, a user's ``sub``) in a
fixed window (``limits.window`` seconds) with the Store's ``incr``, so with Redis it holds
across replicas; past the configured number the caller gets ``RateLimited`` (HTTP 429 with
``Retry-After`` = what is left of the window). A limit of 0 is off. Framework-free: the
server decides who the party is (``server.common.client_ip``, trusted proxies only) and which
limit a request counts against; README "Abuse limits" is the table.

The limits fail open: when the Store cannot be reached (``StoreUnavailable``) an event is
neither counted nor refused, so a Redis outage does not turn forward auth and the proxy, which
otherwise need no Store round trip for a valid token, into 503s (README "Faults"); the flows that
need the Store answer 503 on their own.

Concurrent waiters per address are a cap, not a rate, kept per process by the scan hub
(``limits.waiters_per_address``): they hold this process's sockets and memory, and a count
shared across replicas could not be released reliably when a replica dies.
"""

from __future__ import annotations

import contextlib
import math
from typing import Literal, Protocol

from prometheus_client import CollectorRegistry, Counter

from gateway.config import LimitsConfig
from gateway.errors import RateLimited, StoreUnavailable
from gateway.metrics import Metrics

__all__ = ["KINDS", "Kind", "LimitMetrics", "Limiter"]

Kind = Literal[
    "login_start",
    "callback",
    "miniprogram_login",
    "miniprogram_data",
    "refresh",
    "refresh_user",
    "ticket_create",
    "status",
    "forward_auth_failures",
]
# kind -> (the ``LimitsConfig`` field, what the 429 says)
KINDS: dict[Kind, tuple[str, str]] = {
    "login_start": ("login_start_per_address", "too many logins started"),
    "callback": ("callback_per_address", "too many login callbacks"),
    "miniprogram_login": ("miniprogram_login_per_address", "too many login attempts"),
    "miniprogram_data": ("miniprogram_data_per_user", "too many profile or phone requests"),
    "refresh": ("refresh_per_address", "too many token refreshes"),
    "refresh_user": ("refresh_per_user", "too many token refreshes for this user"),
    "ticket_create": ("ticket_create_per_address", "too many login QR codes requested"),
    "status": ("status_per_address", "too many ticket status lookups"),
    "forward_auth_failures": (
        "forward_auth_failures_per_address",
        "too many failed authentications",
    ),
}


class Counters(Protocol):
    """The part of the Store a limiter uses."""

    async def incr(self, key: str, ttl: float, amount: int = 1) -> int: ...

    async def get(self, key: str) -> str | None: ...

    async def ttl(self, key: str) -> float | None: ...


class LimitMetrics:
    """``wxgate_rate_limited_total{limit}``; ask ``metrics.of(LimitMetrics)``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.limited = Counter(
            "wxgate_rate_limited_total",
            "Requests refused (429) by an abuse limit, by limit (README: Abuse limits).",
            ["limit"],
            registry=registry,
        )


class Limiter:
    """Every abuse limit of one process, counted in the shared Store (see module doc)."""

    def __init__(self, store: Counters, config: LimitsConfig, metrics: Metrics) -> None:
        self._store = store
        self._config = config
        self._window = max(1, config.window)
        self._metrics = metrics.of(LimitMetrics)

    def limit(self, kind: Kind) -> int:
        """The configured number for ``kind`` (0: off)."""
        value: int = getattr(self._config, KINDS[kind][0])
        return value

    async def hit(self, kind: Kind, party: str) -> None:
        """Count one event of ``kind`` for ``party``; RateLimited once past the limit."""
        limit = self.limit(kind)
        if limit <= 0:
            return
        key = _key(kind, party)
        try:
            count = await self._store.incr(key, self._window)
        except StoreUnavailable:
            return  # fail open (module doc)
        if count > limit:
            await self._refuse(kind, key)

    async def note(self, kind: Kind, party: str) -> None:
        """Count one event without refusing (failures, counted after the fact)."""
        if self.limit(kind) > 0:
            with contextlib.suppress(StoreUnavailable):  # fail open (module doc)
                await self._store.incr(_key(kind, party), self._window)

    async def check(self, kind: Kind, party: str) -> None:
        """RateLimited if ``party`` is already past the limit of ``kind`` (counts nothing)."""
        limit = self.limit(kind)
        if limit <= 0:
            return
        key = _key(kind, party)
        try:
            count = await self._store.get(key)
        except StoreUnavailable:
            return  # fail open (module doc)
        if count is not None and int(count) >= limit:
            await self._refuse(kind, key)

    async def _refuse(self, kind: Kind, key: str) -> None:
        left = await self._store.ttl(key)
        self._metrics.limited.labels(kind).inc()
        retry = math.ceil(left) if left is not None else self._window
        raise RateLimited(f"{KINDS[kind][1]}; wait a little", retry_after=max(1, retry))


def _key(kind: str, party: str) -> str:
    return f"limit:{kind}:{party[:128]}"

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

Failures counted after the fact (``note``, forward auth's refused credentials) block their party
for the rest of the window; the block is remembered in the process that saw the limit reached,
so ``check`` — run before every forward-auth decision — costs no Store round trip. With several
replicas the count is shared, and each replica blocks the party at its own next failure.
"""

from __future__ import annotations

import math
import time
from typing import Literal, Protocol

from prometheus_client import CollectorRegistry, Counter

from gateway.config import LimitsConfig
from gateway.errors import RateLimited, StoreUnavailable
from gateway.metrics import Metrics

__all__ = ["KINDS", "Kind", "LimitMetrics", "Limiter"]

# parties blocked at once in one process before ended blocks are swept
MAX_BLOCKED = 10_000

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
        # key -> monotonic time its block ends (``note`` reached the limit; see module doc)
        self._blocked: dict[str, float] = {}

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
        """Count one event without refusing (failures, counted after the fact); a party that
        reaches the limit is blocked in this process until its window ends (``check``)."""
        limit = self.limit(kind)
        if limit <= 0:
            return
        key = _key(kind, party)
        try:
            count = await self._store.incr(key, self._window)
            if count < limit:
                return
            left = await self._store.ttl(key)
        except StoreUnavailable:
            return  # fail open (module doc)
        if len(self._blocked) >= MAX_BLOCKED:
            self._forget_ended()
        self._blocked[key] = time.monotonic() + (left if left is not None else self._window)

    async def check(self, kind: Kind, party: str) -> None:
        """RateLimited if ``party`` is blocked for ``kind`` (``note`` reached the limit in this
        process): a dictionary lookup, no Store round trip."""
        if not self._blocked:
            return
        key = _key(kind, party)
        until = self._blocked.get(key)
        if until is None:
            return
        left = until - time.monotonic()
        if left <= 0:
            del self._blocked[key]
            return
        self._metrics.limited.labels(kind).inc()
        raise RateLimited(f"{KINDS[kind][1]}; wait a little", retry_after=max(1, math.ceil(left)))

    def _forget_ended(self) -> None:
        now = time.monotonic()
        for key in [k for k, until in self._blocked.items() if until <= now]:
            del self._blocked[key]

    async def _refuse(self, kind: Kind, key: str) -> None:
        left = await self._store.ttl(key)
        self._metrics.limited.labels(kind).inc()
        retry = math.ceil(left) if left is not None else self._window
        raise RateLimited(f"{KINDS[kind][1]}; wait a little", retry_after=max(1, retry))


def _key(kind: str, party: str) -> str:
    return f"limit:{kind}:{party[:128]}"

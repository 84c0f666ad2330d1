"""The process's metrics: one injected ``CollectorRegistry`` (no globals), the HTTP families, and
each package's own families created on it on demand.

``Metrics`` is the bottom layer: it imports no gateway package. A package keeps its families
in a class of its own (``gateway.tokens.metrics.TokenMetrics``, ``gateway.wechat.metrics``,
``gateway.login.metrics``, ``gateway.store.metrics``, ``gateway.server.telemetry``) whose
constructor takes the registry and creates them; its services ask
``metrics.of(TokenMetrics)`` when they are constructed. ``of`` creates a set once per
``Metrics`` and hands the same instance to every later caller, so several services (or several
token services in one test) sharing one ``Metrics`` never register a name twice. The server
creates every package's set at start-up (``gateway.server.telemetry.create_families``), so
``/metrics`` lists every family from the first scrape. Labels stay bounded and are documented
by each family's help text and in the README's metric table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway import __version__

__all__ = ["LATENCY_BUCKETS", "Metrics"]

# Request/response latencies (HTTP, WeChat API calls, proxy upstreams), in seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

F = TypeVar("F")


class Metrics:
    """The registry of one gateway process, its HTTP families and its packages' family sets."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "wxgate_http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "wxgate_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.http_in_flight = Gauge(
            "wxgate_http_requests_in_flight", "HTTP requests being answered now.", registry=r
        )
        self.build_info = Gauge(
            "wxgate_build_info", "Build information (always 1).", ["version"], registry=r
        )
        self.build_info.labels(version=__version__).set(1)
        self._http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._sets: dict[Callable[[CollectorRegistry], object], object] = {}

    def of(self, families: Callable[[CollectorRegistry], F]) -> F:
        """The family set ``families`` (a class whose constructor takes the registry and creates
        its families on it) on this registry: created on the first call, the same instance on
        every later one. Pass the class itself; it is the cache key."""
        found = self._sets.get(families)
        if found is None:
            found = self._sets[families] = families(self.registry)
        return cast(F, found)

    def http_children(self, route: str, method: str, status: int) -> tuple[Any, Any]:
        """The request counter and duration histogram for these labels, cached: ``labels()``
        costs more than the ``inc()`` it precedes on every request, and the label values are
        bounded (route templates, methods, statuses), so the cache is too."""
        key = (route, method, status)
        found = self._http_children.get(key)
        if found is None:
            found = self._http_children[key] = (
                self.http_requests.labels(route, method, str(status)),
                self.http_duration.labels(route),
            )
        return found

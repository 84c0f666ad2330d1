"""The server's own metric families (reverse proxy, forward auth) and the list of every
package's family set, created together when the application is built.

The HTTP families live on ``Metrics`` itself (the middleware counts every request); the other
packages define theirs next to the code that counts (``gateway.tokens.metrics``,
``gateway.wechat.metrics``, ``gateway.login.metrics``, ``gateway.store.metrics``).
``create_families(metrics)`` creates them all on the one injected registry, so ``/metrics``
shows every family from the first scrape, before any service has counted anything.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway.admin import AdminMetrics
from gateway.authz import AuthzMetrics
from gateway.limits import LimitMetrics
from gateway.login import FollowMetrics, LoginMetrics, ScanMetrics
from gateway.metrics import LATENCY_BUCKETS, Metrics
from gateway.oidc import OidcMetrics
from gateway.store import StoreMetrics
from gateway.tokens import TokenMetrics
from gateway.wechat import WeChatMetrics

__all__ = ["FAMILY_SETS", "ListenerMetrics", "ProxyMetrics", "create_families"]


class ProxyMetrics:
    """Families of the reverse proxy and forward auth; ask ``metrics.of(ProxyMetrics)``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "wxgate_proxy_requests_total",
            "Proxied requests, by route prefix and status.",
            ["route", "status"],
            registry=registry,
        )
        self.upstream_duration = Histogram(
            "wxgate_proxy_upstream_duration_seconds",
            "Time until the upstream's response headers arrived.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.upstream_errors = Counter(
            "wxgate_proxy_upstream_errors_total",
            "Upstream failures, by route prefix and kind (connect, timeout, protocol).",
            ["route", "kind"],
            registry=registry,
        )
        self.forward_auth_decisions = Counter(
            "wxgate_forward_auth_decisions_total",
            "Forward-auth answers, by result "
            "(allowed, unauthenticated, forbidden, redirect, invalid).",
            ["result"],
            registry=registry,
        )


class ListenerMetrics:
    """Families of the main listener; ask ``metrics.of(ListenerMetrics)``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.closed = Counter(
            "wxgate_http_connections_closed_total",
            "Client connections the gateway closed early, by reason "
            "(header_timeout, per_address_limit).",
            ["reason"],
            registry=registry,
        )
        self.open = Gauge(
            "wxgate_http_connections_open",
            "Client connections open on the main listener.",
            registry=registry,
        )


# Every package's family set, in the README's order.
FAMILY_SETS = (
    StoreMetrics,
    TokenMetrics,
    LoginMetrics,
    WeChatMetrics,
    ScanMetrics,
    ProxyMetrics,
    OidcMetrics,
    AdminMetrics,
    AuthzMetrics,
    FollowMetrics,
    LimitMetrics,
    ListenerMetrics,
)


def create_families(metrics: Metrics) -> tuple[object, ...]:
    """Create every family set of ``FAMILY_SETS`` on ``metrics`` (idempotent) and return them."""
    return tuple(metrics.of(families) for families in FAMILY_SETS)

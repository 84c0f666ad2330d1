"""Every ``wxgate_`` metric family, created on an injected ``CollectorRegistry`` (no globals).

One object holds them all so labels stay bounded and documented in one place; the core
packages receive it and count, the server exposes the registry at ``/metrics``.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway import __version__

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_FAST_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1)
_HUMAN_BUCKETS = (1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300)


class Metrics:
    """All metric families of one gateway process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # -- HTTP (issue: foundation)
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
            buckets=_LATENCY_BUCKETS,
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
        self.store_errors = Counter(
            "wxgate_store_errors_total",
            "Store operations that failed (backend unreachable or timed out).",
            ["op"],
            registry=r,
        )
        # -- tokens
        self.tokens_issued = Counter(
            "wxgate_tokens_issued_total", "Tokens issued, by kind.", ["kind"], registry=r
        )
        self.token_verifications = Counter(
            "wxgate_token_verifications_total",
            "Access token verifications, by result.",
            ["result"],
            registry=r,
        )
        self.refresh_reuse = Counter(
            "wxgate_refresh_reuse_detected_total",
            "Already-rotated refresh tokens presented again (the family was revoked).",
            registry=r,
        )
        self.signing_keys = Gauge(
            "wxgate_signing_keys", "Signing keys in the ring, by state.", ["state"], registry=r
        )
        # -- WeChat and login flows
        self.logins = Counter(
            "wxgate_logins_total",
            "Login attempts, by flow, app and result.",
            ["flow", "app", "result"],
            registry=r,
        )
        self.wechat_requests = Counter(
            "wxgate_wechat_api_requests_total",
            "Calls to WeChat APIs, by api, outcome and errcode (bounded).",
            ["api", "outcome", "errcode"],
            registry=r,
        )
        self.wechat_duration = Histogram(
            "wxgate_wechat_api_duration_seconds",
            "Duration of WeChat API calls including retries.",
            ["api"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.wechat_token_refreshes = Counter(
            "wxgate_wechat_access_token_refreshes_total",
            "Server access token refreshes, by app and result.",
            ["app", "result"],
            registry=r,
        )
        self.wechat_config_errors = Counter(
            "wxgate_wechat_config_errors_total",
            "WeChat answers that mean the gateway is misconfigured (alert on any increase).",
            ["app", "errcode"],
            registry=r,
        )
        self.users_created = Counter(
            "wxgate_users_created_total", "Users created in the directory.", registry=r
        )
        # -- scan login
        self.scan_tickets = Counter(
            "wxgate_scan_tickets_total",
            "Scan-login ticket events, by result.",
            ["result"],
            registry=r,
        )
        self.scan_waiters = Gauge(
            "wxgate_scan_waiters",
            "PC pages waiting on a scan ticket, by transport.",
            ["transport"],
            registry=r,
        )
        self.scan_time_to_scan = Histogram(
            "wxgate_scan_time_to_scan_seconds",
            "Time from ticket creation to the phone's scan.",
            buckets=_HUMAN_BUCKETS,
            registry=r,
        )
        self.scan_time_to_confirm = Histogram(
            "wxgate_scan_time_to_confirm_seconds",
            "Time from the phone's scan to its confirmation.",
            buckets=_HUMAN_BUCKETS,
            registry=r,
        )
        self.scan_notify_latency = Histogram(
            "wxgate_scan_notify_latency_seconds",
            "Time from a committed ticket transition to the frame written to a waiter.",
            ["transport"],
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        # -- proxy and forward auth
        self.proxy_requests = Counter(
            "wxgate_proxy_requests_total",
            "Proxied requests, by route prefix and status.",
            ["route", "status"],
            registry=r,
        )
        self.proxy_upstream_duration = Histogram(
            "wxgate_proxy_upstream_duration_seconds",
            "Time until the upstream's response headers arrived.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.proxy_upstream_errors = Counter(
            "wxgate_proxy_upstream_errors_total",
            "Upstream failures, by route prefix and kind (connect, timeout, protocol).",
            ["route", "kind"],
            registry=r,
        )
        self.forward_auth_decisions = Counter(
            "wxgate_forward_auth_decisions_total",
            "Forward-auth answers, by result (allowed, unauthenticated, forbidden, redirect).",
            ["result"],
            registry=r,
        )

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

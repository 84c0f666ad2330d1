"""The WeChat client's metric families (``wxgate_wechat_*``), created on the process's registry
through ``Metrics.of(WeChatMetrics)``. ``errcode`` label values are bounded by
``gateway.wechat.errors.errcode_label``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway.metrics import LATENCY_BUCKETS

__all__ = ["WeChatMetrics"]


class WeChatMetrics:
    """Families of ``gateway.wechat``; ask ``metrics.of(WeChatMetrics)``, never construct twice
    on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "wxgate_wechat_api_requests_total",
            "Calls to WeChat APIs, by api, outcome and errcode (bounded).",
            ["api", "outcome", "errcode"],
            registry=registry,
        )
        self.duration = Histogram(
            "wxgate_wechat_api_duration_seconds",
            "Duration of WeChat API calls including retries.",
            ["api"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.token_refreshes = Counter(
            "wxgate_wechat_access_token_refreshes_total",
            "Server access token refreshes, by app and result.",
            ["app", "result"],
            registry=registry,
        )
        self.circuit_state = Gauge(
            "wxgate_wechat_circuit_state",
            "Circuit breaker state by WeChat API: 0 closed, 1 half-open, 2 open.",
            ["api"],
            registry=registry,
        )
        self.circuit_rejected = Counter(
            "wxgate_wechat_circuit_rejected_total",
            "WeChat calls answered 503 without being sent because the API's circuit is open.",
            ["api"],
            registry=registry,
        )
        self.config_errors = Counter(
            "wxgate_wechat_config_errors_total",
            "WeChat answers that mean the gateway is misconfigured (alert on any increase).",
            ["app", "errcode"],
            registry=registry,
        )

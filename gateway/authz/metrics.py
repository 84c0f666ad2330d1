"""The authorization metric family, created on the process's registry through
``Metrics.of(AuthzMetrics)``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

__all__ = ["AuthzMetrics"]


class AuthzMetrics:
    """Families of ``gateway.authz``; ask ``metrics.of(AuthzMetrics)``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            "wxgate_authz_decisions_total",
            "Route policy decisions on authenticated callers, by route (its configured name, "
            "else host + prefix) and result (allowed, denied).",
            ["route", "result"],
            registry=registry,
        )

"""The administration metric families, created through ``Metrics.of(AdminMetrics)``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

__all__ = ["AdminMetrics"]


class AdminMetrics:
    """``wxgate_admin_actions_total{action}`` and ``wxgate_audit_events_total{kind}``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.actions = Counter(
            "wxgate_admin_actions_total",
            "Administrator actions carried out (admin API, admin page, CLI), by action "
            "(grant_role, revoke_role, disable, enable, revoke_session, revoke_sessions).",
            ["action"],
            registry=registry,
        )
        self.audit_events = Counter(
            "wxgate_audit_events_total",
            "Audit log entries written, by kind "
            "(login, logout, revocation, refresh_reuse, policy_denial, admin).",
            ["kind"],
            registry=registry,
        )

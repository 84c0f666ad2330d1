"""The login flows' metric families, created on the process's registry through ``Metrics.of``:
``LoginMetrics`` (logins of every flow, users created), ``FollowMetrics`` (official-account
pushes, flow E) and ``ScanMetrics`` (scan-login tickets,
waiters and their timings; ``notify_latency`` is observed by the server's waiter transports)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["FollowMetrics", "LoginMetrics", "ScanMetrics"]

# Seconds a person takes (to scan, to confirm) and seconds a push takes to reach a waiter.
_HUMAN_BUCKETS = (1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300)
_FAST_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1)


class LoginMetrics:
    """Families of the login flows (A, B, C, D); ask ``metrics.of(LoginMetrics)``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.logins = Counter(
            "wxgate_logins_total",
            "Login attempts, by flow, app and result.",
            ["flow", "app", "result"],
            registry=registry,
        )
        self.users_created = Counter(
            "wxgate_users_created_total", "Users created in the directory.", registry=registry
        )


class ScanMetrics:
    """Families of scan login (flows D and E); ask ``metrics.of(ScanMetrics)``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.tickets = Counter(
            "wxgate_scan_tickets_total",
            "Scan-login ticket events, by flow (scan: the gateway's own QR, flow D; follow: the "
            "official account's parametric QR, flow E) and result.",
            ["flow", "result"],
            registry=registry,
        )
        self.waiters = Gauge(
            "wxgate_scan_waiters",
            "PC pages waiting on a scan ticket, by transport.",
            ["transport"],
            registry=registry,
        )
        self.time_to_scan = Histogram(
            "wxgate_scan_time_to_scan_seconds",
            "Time from ticket creation to the phone's scan.",
            buckets=_HUMAN_BUCKETS,
            registry=registry,
        )
        self.time_to_confirm = Histogram(
            "wxgate_scan_time_to_confirm_seconds",
            "Time from the phone's scan to its confirmation.",
            buckets=_HUMAN_BUCKETS,
            registry=registry,
        )
        self.notify_latency = Histogram(
            "wxgate_scan_notify_latency_seconds",
            "Time from a committed ticket transition to the frame written to a waiter.",
            ["transport"],
            buckets=_FAST_BUCKETS,
            registry=registry,
        )


class FollowMetrics:
    """Families of follow-the-account login (flow E); ask ``metrics.of(FollowMetrics)``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "wxgate_wechat_events_total",
            "Official-account pushes to /auth/wechat/{app}/events, by app, event (subscribe, "
            "SCAN, unsubscribe, other, handshake, unknown) and result (accepted, duplicate, "
            "bad_signature, stale, replay, malformed, unknown_scene).",
            ["app", "event", "result"],
            registry=registry,
        )

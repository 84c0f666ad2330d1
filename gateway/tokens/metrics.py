"""The token service's metric families (``wxgate_tokens_*``, verifications, refresh reuse,
signing keys), created on the process's registry through ``Metrics.of(TokenMetrics)``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["TokenMetrics"]


class TokenMetrics:
    """Families of ``gateway.tokens``; ask ``metrics.of(TokenMetrics)``, never construct twice
    on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.issued = Counter(
            "wxgate_tokens_issued_total", "Tokens issued, by kind.", ["kind"], registry=registry
        )
        self.verifications = Counter(
            "wxgate_token_verifications_total",
            "Access token verifications, by result.",
            ["result"],
            registry=registry,
        )
        self.refresh_reuse = Counter(
            "wxgate_refresh_reuse_detected_total",
            "Already-rotated refresh tokens presented again (the family was revoked).",
            registry=registry,
        )
        self.key_reload_errors = Counter(
            "wxgate_signing_key_reload_errors_total",
            "Key directory reloads refused (a bad, unreadable or missing key file): the keys "
            "already loaded stay in use, but a restart would fail.",
            registry=registry,
        )
        self.signing_keys = Gauge(
            "wxgate_signing_keys",
            "Signing keys in the ring, by state.",
            ["state"],
            registry=registry,
        )

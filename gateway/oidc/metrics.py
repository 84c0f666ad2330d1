"""The OpenID Provider's metric families (on the one injected registry: ``metrics.of``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

__all__ = ["OidcMetrics"]


class OidcMetrics:
    """``wxgate_oidc_*``: authorizations, token-endpoint grants, back-channel logouts."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.authorizations = Counter(
            "wxgate_oidc_authorizations_total",
            "Authorization requests answered, by client and result (code, login, consent, "
            "login_required, consent_required, error; and from the consent form: allowed, "
            "denied).",
            ["client", "result"],
            registry=registry,
        )
        self.tokens = Counter(
            "wxgate_oidc_tokens_total",
            "Token-endpoint requests of OpenID Provider clients, by grant, client and result "
            "(ok or the OAuth error code).",
            ["grant", "client", "result"],
            registry=registry,
        )
        self.backchannel_logout = Counter(
            "wxgate_oidc_backchannel_logout_total",
            "Back-channel logout deliveries, by client and result (delivered, retried, failed).",
            ["client", "result"],
            registry=registry,
        )

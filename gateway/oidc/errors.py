"""OAuth 2.0 / OpenID Connect errors, as the gateway renders them.

Token-endpoint errors are ``GatewayError``s (RFC 6749 §5.2: JSON, 400, ``invalid_client`` 401).
Authorization-endpoint errors (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6) are either shown as a
page — the client or its redirect URI is not known, so the browser must never be sent there —
or sent back to the client's redirect URI with ``error``, ``error_description``, ``state`` and
``iss`` (RFC 9207).
"""

from __future__ import annotations

from gateway.errors import GatewayError

__all__ = ["AuthorizeError", "InvalidScope", "UnauthorizedClient"]


class UnauthorizedClient(GatewayError):
    error = "unauthorized_client"
    status = 400
    default_description = "the client may not use this grant type"


class InvalidScope(GatewayError):
    error = "invalid_scope"
    status = 400
    default_description = "the requested scope is invalid or not allowed for this client"


class AuthorizeError(Exception):
    """An authorization request refused.

    ``redirect_uri`` is None when the client or its redirect URI could not be trusted: the
    error is shown on a page and the browser is never redirected. Otherwise the error goes back
    to ``redirect_uri`` with ``state``.
    """

    def __init__(
        self,
        error: str,
        description: str,
        *,
        redirect_uri: str | None = None,
        state: str | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.redirect_uri = redirect_uri
        self.state = state

"""The GatewayError tree: raised in the core, rendered once as JSON by the server middleware.

Each class carries ``error`` (a machine code, RFC 6749 §5.2 names where they apply) and
``status`` (the HTTP status). ``description`` is the human text shown to the client, so it must
never contain a secret, a token or a code.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "AccessDenied",
    "AccountDisabled",
    "BadGateway",
    "Conflict",
    "GatewayError",
    "GatewayTimeout",
    "InsufficientScope",
    "InvalidClient",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidToken",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServerError",
    "StoreUnavailable",
    "TemporarilyUnavailable",
    "UnsupportedGrantType",
]


class GatewayError(Exception):
    """Base of every error the gateway turns into a JSON response."""

    error = "server_error"
    status = 500
    default_description = "internal error"

    def __init__(
        self, description: str | None = None, *, headers: Mapping[str, str] | None = None
    ) -> None:
        self.description = description or self.default_description
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.description)


class InvalidRequest(GatewayError):
    error = "invalid_request"
    status = 400
    default_description = "the request is missing a parameter or is malformed"


class InvalidGrant(GatewayError):
    error = "invalid_grant"
    status = 400
    default_description = "the grant is invalid, expired or already used"


class UnsupportedGrantType(GatewayError):
    error = "unsupported_grant_type"
    status = 400
    default_description = "grant_type is not supported"


class InvalidClient(GatewayError):
    error = "invalid_client"
    status = 401
    default_description = "client authentication failed"


class InvalidToken(GatewayError):
    """RFC 6750 §3.1: the access token is missing, malformed, expired or revoked."""

    error = "invalid_token"
    status = 401
    default_description = "the access token is missing, invalid or expired"


class InsufficientScope(GatewayError):
    error = "insufficient_scope"
    status = 403
    default_description = "the token does not grant access to this resource"


class AccessDenied(GatewayError):
    error = "access_denied"
    status = 403
    default_description = "access denied"


class AccountDisabled(AccessDenied):
    """The person's account was disabled by an operator: no login until it is enabled."""

    error = "account_disabled"
    default_description = "this account has been disabled; contact the administrator"


class NotFound(GatewayError):
    error = "not_found"
    status = 404
    default_description = "no such resource"


class Conflict(GatewayError):
    error = "conflict"
    status = 409
    default_description = "the resource is not in a state that allows this"


class PayloadTooLarge(GatewayError):
    error = "payload_too_large"
    status = 413
    default_description = "request body too large"


class RateLimited(GatewayError):
    error = "rate_limited"
    status = 429
    default_description = "too many requests; slow down"

    def __init__(self, description: str | None = None, *, retry_after: int = 60) -> None:
        super().__init__(description, headers={"Retry-After": str(max(1, int(retry_after)))})
        self.retry_after = retry_after


class ServerError(GatewayError):
    error = "server_error"
    status = 500
    default_description = "internal error"


class BadGateway(GatewayError):
    error = "bad_gateway"
    status = 502
    default_description = "the upstream service could not be reached"


class TemporarilyUnavailable(GatewayError):
    error = "temporarily_unavailable"
    status = 503
    default_description = "a service the gateway depends on is unavailable; try again shortly"


class StoreUnavailable(TemporarilyUnavailable):
    default_description = "the shared state store is unavailable"


class GatewayTimeout(GatewayError):
    error = "gateway_timeout"
    status = 504
    default_description = "the upstream service did not answer in time"

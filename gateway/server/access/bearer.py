"""Bearer tokens for API endpoints (RFC 6750): the header, verified, or a 401."""

from __future__ import annotations

from aiohttp import web

from gateway.errors import InvalidToken
from gateway.server.keys import TOKENS
from gateway.tokens.claims import AccessClaims

__all__ = ["bearer_token", "require_bearer"]

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="wxgate", error="invalid_token"'}


def bearer_token(request: web.BaseRequest) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (RFC 6750 §2.1, scheme case-insensitive):
    "" when the header names the scheme without a token (a malformed credential, refused with
    ``error="invalid_token"``), None without such a header (no credential at all)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def _verify(request: web.Request, token: str | None) -> AccessClaims:
    if token is None:
        raise InvalidToken(
            "a bearer token is required", headers={"WWW-Authenticate": 'Bearer realm="wxgate"'}
        )
    try:
        return request.app[TOKENS].verify(token)
    except InvalidToken as exc:
        for name, value in _CHALLENGE.items():  # keep a fuller challenge the verifier gave
            exc.headers.setdefault(name, value)
        raise


def require_bearer(request: web.Request) -> AccessClaims:
    """The verified claims of the request's bearer token; 401 ``invalid_token`` otherwise."""
    return _verify(request, bearer_token(request))

"""The bearer credential of a request (RFC 6750 §2.1)."""

from __future__ import annotations

from aiohttp import web

__all__ = ["bearer_token"]


def bearer_token(request: web.BaseRequest) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (scheme case-insensitive): "" when the
    header names the scheme without a token (a malformed credential, refused with
    ``error="invalid_token"``), None without such a header (no credential at all)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()

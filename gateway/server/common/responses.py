"""Response pieces every room shares."""

from __future__ import annotations

from aiohttp import web

__all__ = ["NO_STORE", "redirect"]

# RFC 6749 §5.1 / RFC 9111 §5.2.2.5: responses with tokens, tickets or personal data are never
# stored by a cache (``Pragma`` for HTTP/1.0 caches).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def redirect(location: str, status: int = 302) -> web.Response:
    """A redirect that handlers can decorate with cookies before returning it (not cached)."""
    return web.Response(status=status, headers={"Location": location, **NO_STORE})

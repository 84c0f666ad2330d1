"""Response pieces every room shares."""

from __future__ import annotations

from aiohttp import hdrs, web

__all__ = ["NO_STORE", "drop_server_header", "redirect"]

# RFC 6749 §5.1 / RFC 9111 §5.2.2.5: responses with tokens, tickets or personal data are never
# stored by a cache (``Pragma`` for HTTP/1.0 caches).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def redirect(location: str, status: int = 302) -> web.Response:
    """A redirect that handlers can decorate with cookies before returning it (not cached)."""
    return web.Response(status=status, headers={"Location": location, **NO_STORE})


async def drop_server_header(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: no ``Server`` header (aiohttp's names the Python and aiohttp
    versions; an upstream's is not passed on either, as nginx does not)."""
    response.headers.popall(hdrs.SERVER, None)

"""CSRF tokens bound to a browser session, for calls a session cookie authenticates.

The admin API's mutating calls accept a session cookie only with ``X-CSRF-Token``, and the
account page's forms carry the same token in a hidden field. The token is random, kept in the
Store under the session's ``sid`` (``admin:csrf:<sid>``) for as long as an access token of the
session may live, and handed only to a same-origin page (``GET /admin/api/csrf`` answers JSON
without CORS, the account page embeds it): another site's page can make the browser send the
cookie, never read the token. Bearer callers need none (a browser never attaches a bearer).
"""

from __future__ import annotations

import hmac
import secrets

from gateway.store import Store

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "check_csrf", "csrf_token"]

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_TTL = 12 * 3600.0


def _key(sid: str) -> str:
    return f"admin:csrf:{sid}"


async def csrf_token(store: Store, sid: str) -> str:
    """The session's CSRF token (created on first use)."""
    fresh = secrets.token_urlsafe(32)
    if await store.set(_key(sid), fresh, _TTL, only_if_absent=True):
        return fresh
    return await store.get(_key(sid)) or await _replace(store, sid, fresh)


async def _replace(store: Store, sid: str, fresh: str) -> str:
    await store.set(_key(sid), fresh, _TTL)  # expired between the two calls
    return fresh


async def check_csrf(store: Store, sid: str, presented: str | None) -> bool:
    """True when ``presented`` is the session's CSRF token."""
    if not presented or not sid:
        return False
    expected = await store.get(_key(sid))
    return expected is not None and hmac.compare_digest(expected.encode(), presented.encode())

"""Who may use the admin API: an administrator, by role or by the admin token.

- ``Authorization: Bearer <the token of [admin] token_file>``: actor ``admin-token``;
- otherwise the one authentication decision (a bearer access token, or the session cookie):
  no valid credential → 401; a user without ``[admin] role`` (read from the user directory,
  so a grant or a removal counts at once) → 403 ``access_denied``;
- a mutating call authenticated by the session cookie must carry ``X-CSRF-Token`` (the page's
  token, ``csrf``), else 403 ``csrf_required``: a cross-site form can make the browser send
  the cookie, never the header.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from gateway.admin import ADMIN_TOKEN_ACTOR, is_admin_token
from gateway.errors import AccessDenied
from gateway.server.access import Policy, bearer_token
from gateway.server.admin.csrf import CSRF_HEADER, check_csrf
from gateway.server.caller import authenticated
from gateway.server.keys import CONFIG, STORE, USERS

__all__ = ["ADMIN_POLICY", "Admin", "CsrfRequired", "require_admin"]

# the gateway's own API; the session cookie counts (the /admin/ page), checked for CSRF below
ADMIN_POLICY = Policy(own=True)


class CsrfRequired(AccessDenied):
    error = "csrf_required"
    default_description = f"a call authenticated by the session cookie needs {CSRF_HEADER}"


@dataclass(frozen=True, slots=True)
class Admin:
    """The administrator making the call: ``actor`` for the audit log, ``sid`` of their
    session ("" for the admin token)."""

    actor: str
    sid: str


async def require_admin(request: web.Request, *, mutating: bool) -> Admin:
    """The administrator calling, or 401/403 (module doc)."""
    config = request.app[CONFIG]
    token = bearer_token(request)
    if token and is_admin_token(config.admin, token):
        return Admin(ADMIN_TOKEN_ACTOR, "")
    claims = await authenticated(request, ADMIN_POLICY)
    user = await request.app[USERS].get(claims.sub)
    if user is None or user.disabled or config.admin.role not in user.roles:
        raise AccessDenied(f"the admin API needs the role {config.admin.role!r}")
    if mutating and token is None:  # the session cookie authenticated this call
        presented = request.headers.get(CSRF_HEADER)
        if not await check_csrf(request.app[STORE], claims.sid, presented):
            raise CsrfRequired()
    return Admin(claims.sub, claims.sid)

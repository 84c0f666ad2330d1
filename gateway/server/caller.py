"""Who is calling: the one authentication decision (``server.access``) applied to a request.

Every room learns its caller here, ``authenticate(request, policy)`` (or ``authenticated`` for
the claims under a required policy). A renewed session cookie, or the expiry of a dead one, is
data on the ``Caller``, left on the request (``keys.CALLER``); ``write_cookie_change``, the one
``on_response_prepare`` hook, writes it on whatever response follows (a proxied stream, a
redirect, a page or an error), so no handler writes it by hand.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from gateway.server.access import (
    AccessRefused,
    AuthenticationRequired,
    Caller,
    Policy,
    clear_session,
    set_session,
)
from gateway.server.keys import ACCESS, ADMIN, CALLER, CONFIG
from gateway.tokens import AccessClaims

__all__ = ["authenticate", "authenticated", "write_cookie_change"]

_DEAD_SESSION = Caller("anonymous", clear_cookie=True)


async def authenticate(request: web.Request, policy: Policy) -> Caller:
    """The caller of ``request`` under ``policy`` (``Access.decide``). A renewed session, or a
    dead one, is left on the request for ``write_cookie_change`` — also when the decision
    refuses the request."""
    try:
        caller = await request.app[ACCESS].decide(request, policy)
    except AuthenticationRequired as exc:
        if exc.clear_cookie:
            request[CALLER] = _DEAD_SESSION
        raise
    except AccessRefused as exc:  # refused after renewing: the new cookie still goes out
        if exc.caller is not None and exc.caller.renewed is not None:
            request[CALLER] = exc.caller
        admin = request.app.get(ADMIN)
        if admin is not None:  # the audit trail, rate-limited per subject and route
            await admin.audit.denied(exc.claims.sub, exc.route or request.path)
        raise
    if caller.renewed is not None or caller.clear_cookie:
        request[CALLER] = caller
    return caller


async def authenticated(request: web.Request, policy: Policy) -> AccessClaims:
    """The verified claims of the caller under a ``required`` policy (401 otherwise)."""
    claims = (await authenticate(request, policy)).claims
    if claims is None:  # a required policy never decides "anonymous"
        raise AuthenticationRequired(presented=False)
    return claims


async def write_cookie_change(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the renewed session cookie (or the expiry of a dead one) that
    the request's decision left, written on the response about to be sent."""
    caller = request.get(CALLER)
    if caller is None:
        return
    config = request.app[CONFIG]
    # The hook runs after aiohttp turned the response's cookies into headers: the cookie is
    # built by the same functions on a scratch response and added as a header.
    scratch = web.StreamResponse()
    if caller.renewed is not None:
        set_session(scratch, config, caller.renewed.access_token, caller.renewed.refresh_token)
    elif caller.clear_cookie:
        clear_session(scratch, config)
    for morsel in scratch.cookies.values():
        response.headers.add(hdrs.SET_COOKIE, morsel.output(header="")[1:])

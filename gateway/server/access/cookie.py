"""The browser session cookie: the access token plus the refresh token that renews it.

Value: ``<access JWT>~<refresh token>`` (``~`` appears in neither). HttpOnly, SameSite from
config (Lax by default, so the login redirect back from WeChat carries it), Secure outside dev
mode, Path=/. Named ``Config.session_cookie_name``: ``__Host-`` + ``session.cookie_name`` when
Secure with no Domain, so no other host and no http page can plant or shadow it. The cookie
lives as long as the refresh token; the access token inside expires sooner and is renewed
transparently by the decision (``access.decision``); the change is left on the request and
written by ``server.caller.write_cookie_change`` (an ``on_response_prepare`` hook) on whatever
response the request ends with.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from gateway.config import Config

__all__ = [
    "SessionCookie",
    "clear_session",
    "is_session_cookie_present",
    "read_session",
    "set_session",
]

_SEP = "~"


@dataclass(frozen=True, slots=True)
class SessionCookie:
    access_token: str
    refresh_token: str

    def __repr__(self) -> str:  # never show token values in logs or tracebacks
        return "SessionCookie(<redacted>)"


def read_session(request: web.BaseRequest, config: Config) -> SessionCookie | None:
    """The session cookie of this request, or None when absent or malformed."""
    name = config.session_cookie_name
    if name not in request.headers.get("Cookie", ""):  # parse cookies only when ours is there
        return None
    raw = request.cookies.get(name)
    if not raw or raw.count(_SEP) != 1:
        return None
    access, refresh = raw.split(_SEP)
    if not access or not refresh:
        return None
    return SessionCookie(access, refresh)


def is_session_cookie_present(request: web.BaseRequest, config: Config) -> bool:
    """True when the request carries a cookie of the session's name (well-formed or not)."""
    name = config.session_cookie_name
    return name in request.headers.get("Cookie", "") and bool(request.cookies.get(name))


def set_session(
    response: web.StreamResponse, config: Config, access_token: str, refresh_token: str
) -> None:
    """Attach the session cookie to ``response``."""
    response.set_cookie(
        config.session_cookie_name,
        f"{access_token}{_SEP}{refresh_token}",
        max_age=config.tokens.refresh_ttl,
        path="/",
        domain=config.session.domain or None,
        secure=config.cookie_secure,
        httponly=True,
        samesite=config.session.samesite,
    )


def clear_session(response: web.StreamResponse, config: Config) -> None:
    """Expire the session cookie in the browser."""
    response.del_cookie(
        config.session_cookie_name,
        path="/",
        domain=config.session.domain or None,
        secure=config.cookie_secure,
        httponly=True,
        samesite=config.session.samesite,
    )

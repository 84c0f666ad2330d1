"""The one authentication decision, shared by the reverse proxy and forward auth.

``Authenticator.decide(request, route)`` finds the credential — ``Authorization: Bearer`` first,
else the session cookie's access token — verifies it with ``TokenService.verify`` (synchronous,
cached, revocation-aware: no Store round-trip on the happy path) for the route's audience
(``route.audience`` or ``tokens.audience``), checks that every ``route.scopes`` entry is in the
token's ``scope``, and returns a ``Decision``:

- ``authenticated``: ``claims`` and the verified ``token``;
- ``refreshed``: the cookie's access token was no longer valid but its refresh token was, so the
  session was renewed; the caller must attach ``pair`` as the new cookie (``apply_cookie``).
  Renewal is single-flight per refresh token within the process: a burst of parallel requests
  performs one ``TokenService.refresh`` and every request gets its result; the result is kept
  for ``tokens.refresh_reuse_grace`` seconds (at least 1 s) for requests still carrying the old
  cookie (across processes the token service's grace window does the same);
- ``anonymous``: no usable credential on a route that does not require one.

On a ``required`` route (and on no route at all, for forward auth) a missing or invalid
credential raises ``AuthenticationRequired`` (401 ``invalid_token``, RFC 6750 §3:
``WWW-Authenticate: Bearer realm="wxgate"`` when no token was presented, with
``error="invalid_token"`` when one was); a valid token lacking the audience or a scope raises
``InsufficientScope`` (403, ``error="insufficient_scope"``). On an ``optional`` route every
failure is anonymity. ``public`` routes are not authenticated at all (callers skip ``decide``).

Browsers (``Accept`` includes ``text/html``) are sent to the login page instead of a 401 by the
proxy: ``login_redirect``. Forward auth answers 401 unless redirects were asked for.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

from aiohttp import web

from gateway.clock import Clock
from gateway.config import Config
from gateway.errors import InsufficientScope, InvalidGrant, InvalidToken
from gateway.server.access.bearer import bearer_token
from gateway.server.access.cookie import clear_session, set_session
from gateway.server.access.routes import Route
from gateway.server.keys import CLOCK, CONFIG, TOKENS
from gateway.tokens.claims import AccessClaims

if TYPE_CHECKING:
    from gateway.tokens.refresh import TokenPair
    from gateway.tokens.service import TokenService

__all__ = [
    "ANONYMOUS",
    "AUTH",
    "AuthenticationRequired",
    "Authenticator",
    "Decision",
    "auth_ctx",
    "is_browser",
    "login_redirect",
]

LOGIN_PATH = "/auth/login"
_NO_TOKEN_CHALLENGE = 'Bearer realm="wxgate"'
_INVALID_CHALLENGE = 'Bearer realm="wxgate", error="invalid_token"'
_SCOPE_CHALLENGE = 'Bearer realm="wxgate", error="insufficient_scope"'


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of ``Authenticator.decide`` (see module doc)."""

    outcome: Literal["authenticated", "refreshed", "anonymous"]
    claims: AccessClaims | None = None
    token: str | None = None
    pair: TokenPair | None = None
    from_cookie: bool = False
    clear_cookie: bool = False  # the cookie is dead: expire it on the response


ANONYMOUS = Decision("anonymous")


class AuthenticationRequired(InvalidToken):
    """401 ``invalid_token`` on a route that requires authentication."""

    def __init__(self, *, presented: bool, clear_cookie: bool = False, detail: str = "") -> None:
        challenge = _INVALID_CHALLENGE if presented else _NO_TOKEN_CHALLENGE
        description = detail or (
            "the access token is invalid or expired" if presented else "authentication required"
        )
        super().__init__(description, headers={"WWW-Authenticate": challenge})
        self.presented = presented
        self.clear_cookie = clear_cookie


def _insufficient(detail: str) -> InsufficientScope:
    return InsufficientScope(detail, headers={"WWW-Authenticate": _SCOPE_CHALLENGE})


def is_browser(request: web.BaseRequest) -> bool:
    """True when the client asked for HTML (a browser navigation, not an API call)."""
    return "text/html" in request.headers.get("Accept", "")


def login_redirect(return_to: str, *, base: str = "") -> web.Response:
    """302 to ``<base>/auth/login?return_to=<return_to>`` (not cacheable)."""
    location = f"{base}{LOGIN_PATH}?return_to={quote(return_to, safe='/')}"
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


class _Refresher:
    """Single-flight session renewal per refresh token, with a short memory of results."""

    def __init__(self, tokens: TokenService, clock: Clock, remember: float) -> None:
        self._tokens = tokens
        self._clock = clock
        self._remember = remember
        self._inflight: dict[str, asyncio.Task[TokenPair | None]] = {}
        self._recent: OrderedDict[str, tuple[float, TokenPair | None]] = OrderedDict()

    async def refresh(self, refresh_token: str) -> TokenPair | None:
        """The renewed pair, or None when the refresh token is no good (InvalidGrant)."""
        recent = self._recent.get(refresh_token)
        if recent is not None and recent[0] > self._clock.monotonic():
            return recent[1]
        task = self._inflight.get(refresh_token)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._run(refresh_token))
            task.add_done_callback(_retrieve)
            self._inflight[refresh_token] = task
        return await asyncio.shield(task)

    async def _run(self, refresh_token: str) -> TokenPair | None:
        try:
            pair: TokenPair | None = await self._tokens.refresh(refresh_token)
        except InvalidGrant:
            pair = None
        finally:
            self._inflight.pop(refresh_token, None)
        self._recent[refresh_token] = (self._clock.monotonic() + self._remember, pair)
        while len(self._recent) > 10_000:
            self._recent.popitem(last=False)
        return pair


def _retrieve(task: asyncio.Task[TokenPair | None]) -> None:
    if not task.cancelled():
        task.exception()  # awaited by the callers; never "exception was never retrieved"


class Authenticator:
    """The decision for one application (one per process; holds the refresh single-flight)."""

    def __init__(self, config: Config, tokens: TokenService, clock: Clock) -> None:
        self._config = config
        self._tokens = tokens
        self._cookie = config.session.cookie_name
        remember = max(1.0, config.tokens.refresh_reuse_grace)
        self._refresher = _Refresher(tokens, clock, remember)

    async def decide(self, request: web.BaseRequest, route: Route) -> Decision:
        """The decision for ``request`` under ``route``'s policy (see module doc)."""
        required = route.auth != "optional"
        token = bearer_token(request)  # "" for a "Bearer" header without a token: invalid
        if token is not None:
            try:
                return Decision("authenticated", self.verify(token, route), token)
            except InsufficientScope:
                if required:
                    raise
                return ANONYMOUS
            except InvalidToken as exc:
                if required:
                    raise AuthenticationRequired(presented=True) from exc
                return ANONYMOUS
        return await self._from_cookie(request, route, required)

    async def _from_cookie(
        self, request: web.BaseRequest, route: Route, required: bool
    ) -> Decision:
        header = request.headers.get("Cookie", "")  # parse cookies only when ours is there
        raw = request.cookies.get(self._cookie) if self._cookie in header else None
        access, sep, refresh = raw.partition("~") if raw else ("", "", "")
        if not (access and sep and refresh) or "~" in refresh:
            if required:
                raise AuthenticationRequired(presented=bool(raw))
            return ANONYMOUS
        try:
            return Decision("authenticated", self.verify(access, route), access, from_cookie=True)
        except InsufficientScope:
            if required:
                raise
            return ANONYMOUS
        except InvalidToken:
            pass
        return await self._renew(refresh, route, required)

    async def _renew(self, refresh_token: str, route: Route, required: bool) -> Decision:
        pair = await self._refresher.refresh(refresh_token)
        if pair is None:
            if required:
                raise AuthenticationRequired(presented=True, clear_cookie=True)
            return Decision("anonymous", clear_cookie=True)
        try:
            claims = self.verify(pair.access_token, route)
        except InsufficientScope:
            if required:
                raise
            return Decision("anonymous", pair=pair, from_cookie=True)
        except InvalidToken as exc:
            if required:
                raise AuthenticationRequired(presented=True) from exc
            return ANONYMOUS
        return Decision("refreshed", claims, pair.access_token, pair, from_cookie=True)

    def verify(self, token: str, route: Route) -> AccessClaims:
        """Verified claims of ``token`` for ``route``: InvalidToken (401) or InsufficientScope
        (403, the token is valid but not for this audience or lacks a scope)."""
        try:
            claims = self._tokens.verify(token, audience=route.audience)
        except InvalidToken as exc:
            if getattr(exc, "reason", None) != "wrong_audience":
                raise
            if route.audience is not None:
                self._check_default_audience(token)  # an expired or revoked token stays a 401
            raise _insufficient("the token is not meant for this service") from exc
        if route.scopes and not route.scopes <= claims.scopes:
            missing = " ".join(sorted(route.scopes - claims.scopes))
            raise _insufficient(f"the token lacks the scope: {missing}")
        return claims

    def _check_default_audience(self, token: str) -> None:
        try:
            self._tokens.verify(token)
        except InvalidToken as exc:
            if getattr(exc, "reason", None) != "wrong_audience":
                raise

    def apply_cookie(self, response: web.StreamResponse, decision: Decision) -> None:
        """Attach the renewed session cookie (or expire a dead one) to ``response``."""
        if decision.pair is not None:
            set_session(
                response, self._config, decision.pair.access_token, decision.pair.refresh_token
            )
        elif decision.clear_cookie:
            clear_session(response, self._config)


AUTH = web.AppKey("authenticator", Authenticator)


async def auth_ctx(app: web.Application) -> AsyncIterator[None]:
    """Create the application's ``Authenticator`` (after the token service's context)."""
    app[AUTH] = Authenticator(app[CONFIG], app[TOKENS], app[CLOCK])
    yield

"""The one authentication decision: who is calling, under a ``Policy``.

``authenticate(request, policy)`` (or ``Access.decide``) finds the credential —
``Authorization: Bearer`` first, else (when the policy allows it) the session cookie's access
token — verifies it with ``TokenService.verify`` (synchronous, cached, revocation-aware: no
Store round-trip on the happy path) for the policy's audience (``policy.audience`` or
``tokens.audience``), checks that every ``policy.scopes`` entry is in the token's ``scope``,
and returns a ``Caller``:

- ``authenticated``: ``claims`` and the verified ``token``;
- ``refreshed``: the cookie's access token was no longer valid but its refresh token was, so
  the session was renewed; ``renewed`` holds the new pair. Renewal is single-flight per
  refresh token within the process: a burst of parallel requests performs one
  ``TokenService.refresh`` and every request gets its result; the result is kept for
  ``tokens.refresh_reuse_grace`` seconds (at least 1 s) for requests still carrying the old
  cookie (across processes the token service's grace window does the same);
- ``anonymous``: no usable credential on a policy that does not require one.

``access.request.authenticate`` leaves the caller on the request (``keys.CALLER``): a renewed
cookie, or the expiry of a dead one, is written on whatever response follows by
``write_cookie_change``; no handler writes it by hand.

A policy with a ``rule`` (who is allowed: roles, subjects...) is applied to every verified
token (``verify``): an authenticated caller it refuses raises ``AccessRefused`` (403
``access_denied``, never a login redirect: logging in again would not change the answer),
carrying the caller so a session renewed on the way still reaches the browser.

On a ``required`` policy a missing or invalid credential raises ``AuthenticationRequired``
(401 ``invalid_token``, RFC 6750 §3); a valid token lacking the audience or a scope raises
``InsufficientScope`` (403) — or, for the gateway's own API (``policy.own``), a token for
another audience is a 401 like any token that is not ours. On an ``optional`` policy every
failure is anonymity. ``public`` policies are not authenticated at all (callers skip this).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Literal

from aiohttp import web

from gateway.clock import Clock
from gateway.config import Config
from gateway.errors import AccessDenied, InsufficientScope, InvalidGrant, InvalidToken
from gateway.server.access.bearer import bearer_token
from gateway.server.access.cookie import is_session_cookie_present, read_session
from gateway.server.access.errors import AuthenticationRequired, insufficient_scope
from gateway.server.access.policy import Policy
from gateway.singleflight import SingleFlight
from gateway.tokens import AccessClaims, WrongAudience

if TYPE_CHECKING:
    from gateway.tokens import TokenPair, TokenService

__all__ = ["ANONYMOUS", "Access", "AccessRefused", "Caller"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling (see module doc). ``renewed`` / ``clear_cookie``: the session cookie
    change the response must carry (written by ``cookie.write_cookie_change``)."""

    outcome: Literal["authenticated", "refreshed", "anonymous"]
    claims: AccessClaims | None = None
    token: str | None = None
    from_cookie: bool = False
    renewed: TokenPair | None = None
    clear_cookie: bool = False


ANONYMOUS = Caller("anonymous")


class AccessRefused(AccessDenied):
    """403 ``access_denied``: authenticated, but the policy's rule does not allow the caller.
    ``claims``: whom it refused; ``route``: the rule's label (for an audit trail);
    ``caller``: set when a session was renewed on the way (the response must still carry it)."""

    def __init__(self, claims: AccessClaims, route: str, caller: Caller | None = None) -> None:
        super().__init__("you are logged in but not allowed to access this resource")
        self.claims = claims
        self.route = route
        self.caller = caller


class Access:
    """The decision for one application (one per process; holds the refresh single-flight)."""

    def __init__(self, config: Config, tokens: TokenService, clock: Clock) -> None:
        self._config = config
        self._tokens = tokens
        remember = max(1.0, config.tokens.refresh_reuse_grace)
        self._renewals: SingleFlight[str, TokenPair | None] = SingleFlight(
            clock, remember=remember, capacity=10_000, name="session-refresh"
        )

    async def decide(self, request: web.BaseRequest, policy: Policy) -> Caller:
        """The caller of ``request`` under ``policy`` (module doc); ``authenticate`` is the
        entry point that also leaves the cookie change on the request."""
        required = policy.auth != "optional"
        token = bearer_token(request)  # "" for a "Bearer" header without a token: invalid
        if token is not None:
            try:
                return Caller("authenticated", self.verify(token, policy), token)
            except InsufficientScope:
                if required:
                    raise
                return ANONYMOUS
            except InvalidToken as exc:
                if required:
                    raise AuthenticationRequired(presented=True, rejection=exc) from exc
                return ANONYMOUS
        if not policy.cookie:
            if required:
                raise AuthenticationRequired(presented=False)
            return ANONYMOUS
        return await self._from_cookie(request, policy, required)

    async def _from_cookie(
        self, request: web.BaseRequest, policy: Policy, required: bool
    ) -> Caller:
        session = read_session(request, self._config)
        if session is None:
            if required:
                presented = is_session_cookie_present(request, self._config)
                raise AuthenticationRequired(presented=presented)
            return ANONYMOUS
        access = session.access_token
        try:
            return Caller("authenticated", self.verify(access, policy), access, from_cookie=True)
        except InsufficientScope:
            if required:
                raise
            return ANONYMOUS
        except InvalidToken:
            pass
        return await self._renew(session.refresh_token, policy, required)

    async def _renew(self, refresh_token: str, policy: Policy, required: bool) -> Caller:
        pair = await self._renewals.run(refresh_token, partial(self._refresh, refresh_token))
        if pair is None:
            if required:
                raise AuthenticationRequired(presented=True, clear_cookie=True)
            return Caller("anonymous", clear_cookie=True)
        try:
            claims = self.verify(pair.access_token, policy)
        except AccessRefused as exc:  # the renewed session must still reach the browser
            refused = Caller("refreshed", None, pair.access_token, from_cookie=True, renewed=pair)
            raise AccessRefused(exc.claims, exc.route, refused) from exc
        except InsufficientScope:
            if required:
                raise
            return Caller("anonymous", renewed=pair, from_cookie=True)
        except InvalidToken as exc:
            if required:
                raise AuthenticationRequired(presented=True, rejection=exc) from exc
            return ANONYMOUS
        return Caller("refreshed", claims, pair.access_token, from_cookie=True, renewed=pair)

    async def _refresh(self, refresh_token: str) -> TokenPair | None:
        """The renewed pair, or None when the refresh token is no good."""
        try:
            return await self._tokens.refresh(refresh_token)
        except InvalidGrant:
            return None

    def verify(self, token: str, policy: Policy) -> AccessClaims:
        """Verified claims of ``token`` under ``policy``: InvalidToken (401),
        InsufficientScope (403: the token is valid but not for this audience or lacks a
        scope) or AccessRefused (403: the policy's rule does not allow the caller)."""
        try:
            claims = self._tokens.verify(token, audience=policy.audience)
        except WrongAudience:
            claims = self._other_audience(token, policy)
        if policy.scopes and not policy.scopes <= claims.scopes:
            missing = " ".join(sorted(policy.scopes - claims.scopes))
            raise insufficient_scope(f"the token lacks the scope: {missing}")
        rule = policy.rule
        if rule is not None and not rule.decide(claims):
            raise AccessRefused(claims, rule.label)
        return claims

    def _other_audience(self, token: str, policy: Policy) -> AccessClaims:
        """A token not for ``policy.audience``: good for one of ``policy.also``, else refused
        (401 on the gateway's own API, 403 on a route: see module doc)."""
        for audience in policy.also:
            with contextlib.suppress(WrongAudience):
                return self._tokens.verify(token, audience=audience)
        if policy.own:
            raise WrongAudience()
        if policy.audience is not None:
            self._check_default_audience(token)  # an expired or revoked token stays a 401
        raise insufficient_scope("the token is not meant for this service")

    def _check_default_audience(self, token: str) -> None:
        with contextlib.suppress(WrongAudience):
            self._tokens.verify(token)

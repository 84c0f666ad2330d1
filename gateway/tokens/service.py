"""``TokenService``: the one object the server uses for everything about tokens.

Open it once per process (``await TokenService.open(config, store, metrics, clock)``) and close
it on shutdown. It owns the key ring (and its reload task), the revocation list (and its pub/sub
follower), the issuer, the verifier with its cache, and the refresh-token families.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.clock import Clock
from gateway.config import Config
from gateway.errors import InvalidToken
from gateway.limits import Limiter
from gateway.metrics import Metrics
from gateway.store import Store
from gateway.tokens.admin import open_ring
from gateway.tokens.admission import RolesSource
from gateway.tokens.claims import AccessClaims
from gateway.tokens.events import EventListener
from gateway.tokens.issuer import CLIENT_ID, AccessTokenIssuer, new_id
from gateway.tokens.keys import KeyRing
from gateway.tokens.refresh import RefreshTokens, TokenPair
from gateway.tokens.revocation import Kind, RevocationList
from gateway.tokens.session import Session, SessionClient
from gateway.tokens.usersessions import UserSessions
from gateway.tokens.verifier import Verifier

__all__ = ["AccessClaims", "TokenPair", "TokenService"]

log = logging.getLogger(__name__)


class TokenService:
    """Issue, verify, refresh, revoke and describe tokens; publish the keys."""

    def __init__(
        self,
        config: Config,
        clock: Clock,
        ring: KeyRing,
        revocations: RevocationList,
        issuer: AccessTokenIssuer,
        verifier: Verifier,
        refresh_tokens: RefreshTokens,
        user_sessions: UserSessions,
    ) -> None:
        """Use ``open``; this only wires already-built parts together."""
        self._config = config
        self._clock = clock
        self._ring = ring
        self._revocations = revocations
        self._issuer = issuer
        self._verifier = verifier
        self._refresh = refresh_tokens
        self._leeway = config.tokens.leeway
        self._users = user_sessions
        revocations.on_revoke(self._forget)

    @classmethod
    async def open(
        cls,
        config: Config,
        store: Store,
        metrics: Metrics,
        clock: Clock,
        *,
        key_reload_interval: float = 15.0,
        revocation_resync_interval: float = 10.0,
    ) -> TokenService:
        """Load the keys (generating one in dev mode), load the revocation list and start
        following it. Raises KeyRingError without a usable signing key, StoreUnavailable
        when the Store cannot be read."""
        ring = open_ring(config, clock, metrics, reload_interval=key_reload_interval)
        revocations = RevocationList(store, clock, resync_interval=revocation_resync_interval)
        issuer, verifier, refresh = _assemble(config, store, metrics, clock, ring, revocations)
        await revocations.start()
        ring.start()
        refresh.expiry.start()
        users = UserSessions(store, clock, refresh, revocations)
        return cls(config, clock, ring, revocations, issuer, verifier, refresh, users)

    async def close(self) -> None:
        """Stop the background tasks (the Store is closed by its owner)."""
        await self._ring.close()
        await self._revocations.close()
        await self._refresh.expiry.close()

    async def check_ready(self) -> None:
        """Readiness check: raise KeyRingError unless a signing key is active."""
        self._ring.signing_key()

    def use_roles(self, source: RolesSource) -> None:
        """Read users' roles from ``source`` for every access token of a session (at login
        and at each refresh); without one, tokens carry no roles."""
        self._refresh.hooks.roles_of = source

    @property
    def ring(self) -> KeyRing:
        return self._ring

    def _forget(self, kind: Kind, value: str) -> None:
        if kind == "sid":
            self._verifier.forget_session(value)
        else:
            self._verifier.forget_jti(value)

    # -- issuing and verifying ------------------------------------------------------------

    async def issue_session(
        self,
        sub: str,
        amr: list[str] | tuple[str, ...],
        *,
        appid: str | None = None,
        openid: str | None = None,
        unionid: str | None = None,
        scope: str | None = None,
        client: SessionClient | None = None,
    ) -> TokenPair:
        """Start a login session for ``sub`` and return its first pair.

        ``scope`` defaults to ``tokens.scope``. ``client``: an OpenID Provider client's session
        (its tokens name the client and carry its audience; its refresh tokens work for it
        only). Raises StoreUnavailable, KeyRingError.
        """
        return await self._refresh.start_session(
            sub,
            amr,
            appid=appid,
            openid=openid,
            unionid=unionid,
            scope=scope if scope is not None else self._config.tokens.scope,
            client=client,
        )

    def issue_client_token(
        self, client_id: str, audience: str, scope: str | None
    ) -> tuple[str, int]:
        """An access token for a service account (RFC 6749 §4.4): ``sub`` = ``client_id``, no
        session and no refresh token. Returns the token and its lifetime in seconds."""
        issued = self._issuer.issue(
            client_id,
            sid=new_id(),
            amr=(),
            scope=scope or "",
            client_id=client_id,
            audience=audience,
        )
        return issued.token, issued.exp - issued.iat

    def sign_jwt(self, claims: dict[str, Any], typ: str) -> tuple[str, str]:
        """Sign an ID token (``typ="JWT"``) or a logout token (``"logout+jwt"``) with the
        active key; the token and the algorithm it was signed with."""
        return self._issuer.sign_jwt(claims, typ)

    async def get_session(self, sid: str) -> Session | None:
        """The live login session ``sid`` (user, client, auth_time...), or None."""
        return await self._refresh.get_session(sid)

    def on_session_end(self, listener: Callable[[Session], Awaitable[None]]) -> None:
        """Call ``listener`` with every session this process ends (see RefreshTokens), and
        every client session whose end this process's expiry sweep finds (``expiry``)."""
        self._refresh.on_end(listener)

    async def sweep_expired(self) -> int:
        """Run the expiry sweep now (it also runs every 30 s); sessions found expired."""
        return await self._refresh.expiry.sweep()

    def verify(self, token: str, *, audience: str | None = None) -> AccessClaims:
        """The claims of a valid access token; InvalidToken (``TokenRejected``) otherwise.
        Synchronous and Store-free: safe on every request."""
        return self._verifier.verify(token, audience=audience)

    def id_token_hint(self, token: str) -> dict[str, Any] | None:
        """The claims of an ID token signed here (expired or not), else None."""
        return self._verifier.id_token_hint(token)

    async def refresh(self, refresh_token: str, client_id: str = "") -> TokenPair:
        """RFC 6749 §6 with rotation; InvalidGrant for a bad, expired, revoked or reused
        token, or one issued to another client (``client_id`` "" = the gateway's own)."""
        return await self._refresh.refresh(refresh_token, client_id)

    # -- a user's sessions, the gate before a session starts, the audit events -------------

    def guard_sessions(self, gate: Callable[[str], Awaitable[None]]) -> None:
        """``await gate(sub)`` before every new session of ``sub``; it refuses by raising
        (e.g. AccountDisabled for a disabled user)."""
        self._refresh.hooks.guard(gate)

    def on_event(self, listener: EventListener) -> None:
        """Call ``listener(kind, sub, details)`` for each login (``result`` ok or the refusal's
        code), logout, revocation and refresh-token reuse (see ``tokens.events``)."""
        self._refresh.events.add(listener)

    async def list_sessions(self, sub: str) -> list[Session]:
        """The live sessions of user ``sub``, the newest first."""
        return await self._users.live(sub)

    async def revoke_user_session(self, sub: str, sid: str) -> bool:
        """End ``sid`` if it is a live session of ``sub``; whether it was."""
        return await self._users.end(sub, sid)

    async def revoke_user_sessions(self, sub: str, *, keep: str | None = None) -> list[str]:
        """End every live session of ``sub`` (but ``keep``) on every replica; their sids."""
        return await self._users.end_all(sub, keep=keep)

    # -- ending sessions ------------------------------------------------------------------

    async def revoke_session(self, sid: str) -> None:
        """End session ``sid`` everywhere (refresh tokens and access tokens)."""
        await self._refresh.end_session(sid)

    async def revoke(self, token: str, token_type_hint: str | None = None) -> None:
        """RFC 7009 §2.1: revoke an access token (its ``jti``) or a refresh token (its whole
        session, as §2.1 recommends). Unknown or invalid tokens are not an error; the hint
        is unnecessary (the two kinds are told apart by their form) and ignored."""
        if token.count(".") == 2:
            try:
                claims = self._verifier.verify(token)
            except InvalidToken:
                return
            await self._revocations.revoke("jti", claims.jti, claims.exp + self._leeway)
            await self._refresh.events.emit("revocation", claims.sub, {"token": "access"})
            return
        sid = await self._refresh.find_sid(token)
        if sid is not None:
            session = await self._refresh.get_session(sid)
            await self._refresh.end_session(sid)
            sub = session.sub if session else ""
            await self._refresh.events.emit("revocation", sub, {"token": "refresh", "sid": sid})

    async def logout(self, *, access_token: str | None, refresh_token: str | None) -> bool:
        """End the session the presented credentials belong to; True if one was found."""
        sid = await self._refresh.find_sid(refresh_token) if refresh_token else None
        if sid is None and access_token:
            try:
                sid = self._verifier.verify(access_token).sid
            except InvalidToken:
                sid = None
        if sid is None:
            return False
        session = await self._refresh.get_session(sid)
        await self._refresh.end_session(sid)
        if session is not None:
            await self._refresh.events.emit("logout", session.sub, {"sid": sid})
        return True

    async def introspect(self, token: str, token_type_hint: str | None = None) -> dict[str, Any]:
        """RFC 7662 §2.2: ``{"active": true, ...claims}`` or exactly ``{"active": false}``."""
        if token.count(".") == 2:
            try:
                claims = self._verifier.verify(token)
            except InvalidToken:
                return {"active": False}
            return {**claims.raw, "active": True, "token_type": "Bearer"}
        info = await self._refresh.introspect(token)
        if info["active"]:
            info.update(iss=self._config.issuer, client_id=CLIENT_ID)
        return info

    # -- publishing -----------------------------------------------------------------------

    def jwks_document(self) -> tuple[bytes, str]:
        """The JWKS (only public members of every published key) and its strong ETag."""
        return self._ring.jwks()


def _assemble(
    config: Config,
    store: Store,
    metrics: Metrics,
    clock: Clock,
    ring: KeyRing,
    revocations: RevocationList,
) -> tuple[AccessTokenIssuer, Verifier, RefreshTokens]:
    """The issuer, the verifier and the refresh-token families, configured from
    ``config.tokens``."""
    t = config.tokens
    a = config.authz
    issuer = AccessTokenIssuer(ring, issuer=config.issuer, audience=t.audience,
                               access_ttl=t.access_ttl, scope=t.scope, clock=clock,
                               metrics=metrics, roles_claim=a.roles_claim,
                               max_roles=a.max_roles)  # fmt: skip
    verifier = Verifier(ring, revocations, issuer=config.issuer, audience=t.audience,
                        leeway=t.leeway, max_lifetime=t.max_lifetime,
                        max_token_bytes=t.max_token_bytes,
                        cache_size=t.verify_cache_size, clock=clock, metrics=metrics,
                        roles_claim=a.roles_claim)  # fmt: skip
    refresh = RefreshTokens(store, issuer, revocations, clock, metrics,
                            refresh_ttl=t.refresh_ttl, sliding=t.refresh_sliding,
                            grace=t.refresh_reuse_grace,
                            revoke_for=t.access_ttl + t.leeway,
                            limiter=Limiter(store, config.limits, metrics))  # fmt: skip
    return issuer, verifier, refresh

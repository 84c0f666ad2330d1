"""Opaque refresh tokens: sessions (families), rotation on use, reuse detection.

A refresh token is 256 random bits, base64url (43 characters). The Store holds only its
SHA-256 (``tokens:refresh:<hash>``) with its family (``sid``), user and expiry; the family is a
record too (``tokens:session:<sid>``) carrying the identity claims to put in new access tokens.

Lifetime (``tokens.refresh_sliding``):

- ``false`` (default, absolute): the session ends ``refresh_ttl`` after login, however often it
  is refreshed; every refresh token of the family expires then, and access tokens are capped to
  it too.
- ``true`` (sliding): each rotation extends the session to ``refresh_ttl`` from now; an idle
  session ends ``refresh_ttl`` after its last refresh. There is no absolute cap besides
  revocation.

Rotation (RFC 9700 §4.14.2): each use mints a new pair and moves the old record ``active ->
rotated`` with one atomic ``Store.transition``; of concurrent users of one token exactly one
wins. The winner's pair is sealed under the old token (``successor``) into the old record, so a
request with the same old token within ``tokens.refresh_reuse_grace`` seconds gets the *same*
pair back (two tabs refreshing at once stay logged in). A rotated token presented after the
grace window is reuse: the whole family is revoked (its refresh tokens and, through the
revocation list, its access tokens), logged without the token, and counted. With a grace of 0
every concurrent loser counts as reuse (strict RFC 9700 behaviour).

Around this: ``admission`` (the gates before a session starts or renews, the roles its tokens
carry, the event listeners), ``ending`` (ending sessions and those linked to them, telling the
listeners), ``successor`` (the sealed successor pair), ``expiry`` (the sweep of client sessions
that ran out).
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from gateway.clock import Clock
from gateway.errors import GatewayError, InvalidGrant
from gateway.limits import Limiter
from gateway.logs import current_client
from gateway.metrics import Metrics
from gateway.store import Store
from gateway.tokens.admission import SessionHooks
from gateway.tokens.ending import SessionEnding
from gateway.tokens.expiry import SessionExpiry
from gateway.tokens.issuer import CLIENT_ID, AccessTokenIssuer, new_id
from gateway.tokens.jws import is_b64url
from gateway.tokens.metrics import TokenMetrics
from gateway.tokens.revocation import RevocationList
from gateway.tokens.session import (
    Session,
    SessionClient,
    TokenPair,
    refresh_key,
    session_key,
    user_sessions_key,
)
from gateway.tokens.successor import open_successor, seal_successor

__all__ = ["RefreshTokens", "Session", "TokenPair", "refresh_key", "session_key"]

_KEEP_AFTER_END = 7200.0

log = logging.getLogger(__name__)


class RefreshTokens:
    """Sessions and their refresh tokens in the Store."""

    def __init__(
        self,
        store: Store,
        issuer: AccessTokenIssuer,
        revocations: RevocationList,
        clock: Clock,
        metrics: Metrics,
        *,
        refresh_ttl: int,
        sliding: bool,
        grace: float,
        revoke_for: float,
        limiter: Limiter | None = None,
    ) -> None:
        self._limiter = limiter
        self._store = store
        self._issuer = issuer
        self._revocations = revocations
        self._clock = clock
        self._metrics = metrics.of(TokenMetrics)
        self._ttl = refresh_ttl
        # a session's record outlives its end a little, so the expiry sweep still finds it
        # (its end is ``expires_at``, checked on every use, not the record's lifetime)
        self._keep = refresh_ttl + _KEEP_AFTER_END
        self._sliding = sliding
        self._grace = grace
        self._ending = SessionEnding(store, revocations, clock, linked_ttl=refresh_ttl,
                                     revoke_for=revoke_for)  # fmt: skip
        self.hooks = SessionHooks()  # gates, roles and event listeners (``admission``)
        self.events = self.hooks.events
        self.expiry = SessionExpiry(store, clock, self._ending.ended)

    async def start_session(
        self,
        sub: str,
        amr: Sequence[str],
        *,
        appid: str | None = None,
        openid: str | None = None,
        unionid: str | None = None,
        scope: str | None = None,
        client: SessionClient | None = None,
    ) -> TokenPair:
        """A new session for ``sub`` and its first pair (None or "" for unknown claims);
        ``client``: the session of an OpenID Provider client, bound to it. Every gate
        (``guard``) is asked first and may refuse (e.g. AccountDisabled). The client address
        and User-Agent of the request being served are recorded with it."""
        flow = {"flow": ",".join(amr), "app": appid or "",
                "client_id": client.client_id if client else ""}  # fmt: skip
        await self.hooks.admit(sub, flow)
        now = self._clock.time()
        client_ip, user_agent = current_client()
        session = Session(
            client.sid if client and client.sid else new_id(),
            sub,
            tuple(amr),
            now,
            now + self._ttl,
            appid=appid or "",
            openid=openid or "",
            unionid=unionid or "",
            scope=scope or "",
            client_id=client.client_id if client else "",
            audience=client.audience if client else "",
            auth_time=str(client.auth_time) if client else "",
            op_sid=client.op_sid if client else "",
            client_ip=client_ip,
            user_agent=user_agent,
        )
        await self._store.create_record(session_key(session.sid), session.record(), self._keep)
        await self._index(session)
        if session.op_sid:
            await self._ending.link(session)
        if session.client_id:  # its client is told when it ends, expiry included
            await self.expiry.index(session)
        pair, _, _ = await self._mint(session, now)
        await self.events.emit("login", sub, {**flow, "result": "ok", "sid": session.sid})
        return pair

    async def _index(self, session: Session) -> None:
        """List ``session`` under its user until it ends (``user_sessions_key``)."""
        key = user_sessions_key(session.sub)
        await self._store.expiring_set_add(key, session.sid, session.expires_at)

    async def _mint(self, session: Session, now: float) -> tuple[TokenPair, str, int]:
        """A new refresh token (stored) and access token; also the refresh record's key and
        the access token's ``exp``."""
        token = secrets.token_urlsafe(32)
        key = refresh_key(token)
        expires_at = session.expires_at
        fields = {"state": "active", "sid": session.sid, "sub": session.sub}
        fields.update(issued_at=str(now), expires_at=str(expires_at))
        roles = await self.hooks.roles(session)
        await self._store.create_record(key, fields, max(1.0, expires_at - now))
        access = self._issuer.issue(
            session.sub,
            sid=session.sid,
            amr=session.amr,
            appid=session.appid or None,
            openid=session.openid or None,
            unionid=session.unionid or None,
            scope=session.scope or None,
            not_after=session.expires_at,
            client_id=session.client_id or CLIENT_ID,
            audience=session.audience or None,
            auth_time=float(session.auth_time) if session.auth_time else session.created_at,
            roles=roles,
        )
        self._metrics.issued.labels(kind="refresh").inc()
        pair = TokenPair(
            access_token=access.token,
            expires_in=access.exp - access.iat,
            refresh_token=token,
            sid=session.sid,
            scope=session.scope or None,
            client_id=session.client_id,
        )
        return pair, key, access.exp

    async def refresh(self, token: str, client_id: str = "") -> TokenPair:
        """Rotate ``token``: a new pair, or the same pair again within the grace window.

        ``client_id``: the authenticated OpenID Provider client presenting it ("" for the
        gateway's own sessions); a refresh token is only good for the client it was issued to
        (RFC 6749 §6), and another client's attempt changes nothing.
        Raises InvalidGrant for an unknown, expired, revoked, reused or foreign token.
        """
        if not _plausible(token):
            raise InvalidGrant()
        key = refresh_key(token)
        record = await self._store.get_record(key)
        if record is None:
            raise InvalidGrant()
        now = self._clock.time()
        session = await self._live_session(record.get("sid", ""), now)
        if session.client_id != client_id:
            raise InvalidGrant("the refresh token was not issued to this client")
        if self._limiter is not None:  # per user: only once the token is known to be good
            await self._limiter.hit("refresh_user", session.sub)
        if record.get("state") == "active":
            await self._still_admitted(session)
            return await self._rotate(token, key, session, now)
        return await self._replay(token, key, record, session, now)

    async def _still_admitted(self, session: Session) -> None:
        """The gates again before a rotation: a session a gate now refuses (its user was
        disabled, and it escaped the ending: older than the per-user index, or racing it) is
        ended here and renews no more."""
        try:
            await self.hooks.check(session.sub)
        except GatewayError as exc:
            await self.end_session(session.sid)
            raise InvalidGrant(exc.description) from exc

    async def _rotate(self, token: str, key: str, session: Session, now: float) -> TokenPair:
        if self._sliding:
            session = dataclasses.replace(session, expires_at=now + self._ttl)
        pair, new_key, exp = await self._mint(session, now)
        sealed = seal_successor(token, key, pair, exp)
        moved = await self._store.transition(
            key,
            from_states=("active",),
            to_state="rotated",
            fields={"rotated_at": str(now), "successor": sealed},
            unexpired_at=now,
        )
        if moved.ok:
            await self._touch(session, now)
            return pair
        await self._store.delete(new_key)  # lost the race: this pair was never handed out
        if moved.record is None:
            raise InvalidGrant()
        return await self._replay(token, key, moved.record, session, now)

    async def _replay(
        self, token: str, key: str, record: dict[str, str], session: Session, now: float
    ) -> TokenPair:
        if record.get("state") != "rotated":
            raise InvalidGrant()
        if now - float(record.get("rotated_at", "0")) < self._grace:
            return open_successor(token, key, record.get("successor", ""), now, session.client_id)
        log.warning(
            "refresh token reuse detected; ending session %s of user %s", session.sid, session.sub
        )
        self._metrics.refresh_reuse.inc()
        await self.end_session(session.sid)
        await self.events.emit("refresh_reuse", session.sub, {"sid": session.sid})
        raise InvalidGrant("the refresh token was already used; the session has been ended")

    async def _live_session(self, sid: str, now: float) -> Session:
        record = await self._store.get_record(session_key(sid)) if sid else None
        if record is None or record.get("state") != "active":
            raise InvalidGrant()
        try:
            session = Session.from_record(record)
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidGrant() from exc
        if session.expires_at <= now or self._revocations.is_revoked(sid=sid):
            raise InvalidGrant()
        return session

    async def _touch(self, session: Session, now: float) -> None:
        """Record the rotation on the session (and, when sliding, its new end)."""
        fields = {"refreshed_at": str(now)}
        if self._sliding:
            fields["expires_at"] = str(session.expires_at)
        await self._store.transition(
            session_key(session.sid),
            from_states=("active",),
            to_state="active",
            fields=fields,
            ttl=self._keep if self._sliding else None,
        )
        if self._sliding:
            await self._index(session)

    def on_end(self, listener: Callable[[Session], Awaitable[None]]) -> None:
        """Call ``listener`` with every session this process ends (logout, revocation, reuse,
        the end of the browser session it was authorized in), once per session."""
        self._ending.on_end(listener)

    async def end_session(self, sid: str) -> None:
        """End session ``sid``: its refresh tokens stop working and its access tokens are
        refused by every replica (through the revocation list). Client sessions authorized in
        it end too. Unknown sids are fine."""
        await self._ending.end_session(sid)

    async def get_session(self, sid: str) -> Session | None:
        """The live session ``sid``, or None."""
        try:
            return await self._live_session(sid, self._clock.time())
        except InvalidGrant:
            return None

    async def find_sid(self, token: str) -> str | None:
        """The session of refresh token ``token`` (used or not), or None if unknown."""
        if not _plausible(token):
            return None
        record = await self._store.get_record(refresh_key(token))
        return record.get("sid") if record else None

    async def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 §2.2 members for a refresh token; ``{"active": False}`` unless it is
        unused, unexpired and its session is live."""
        record = await self._store.get_record(refresh_key(token)) if _plausible(token) else None
        if record is None or record.get("state") != "active":
            return {"active": False}
        try:
            session = await self._live_session(record.get("sid", ""), self._clock.time())
        except InvalidGrant:
            return {"active": False}
        return {
            "active": True,
            "sub": session.sub,
            "sid": session.sid,
            "exp": int(float(record["expires_at"])),
            "iat": int(float(record["issued_at"])),
        }


def _plausible(token: str) -> bool:
    return isinstance(token, str) and 32 <= len(token) <= 128 and is_b64url(token)

"""A user's sessions: list them (for the account page, the admin API and the CLI) and end them.

The index is ``tokens:user:<sub>`` (``session.user_sessions_key``), an expiring set written when
a session starts (and again when a sliding session is extended): each sid expires with its
session, so the index needs no cleanup. Ending every session of a user ends each one through
``RefreshTokens.end_session``, i.e. the revocation list's pub/sub fan-out: every replica refuses
their access tokens within milliseconds (tests/tokens/test_propagation.py).
"""

from __future__ import annotations

from gateway.clock import Clock
from gateway.store import Store
from gateway.tokens.refresh import RefreshTokens
from gateway.tokens.revocation import RevocationList
from gateway.tokens.session import Session, session_key, user_sessions_key

__all__ = ["UserSessions"]


class UserSessions:
    """The live sessions of each user, from the per-user index."""

    def __init__(
        self, store: Store, clock: Clock, refresh: RefreshTokens, revocations: RevocationList
    ) -> None:
        self._store = store
        self._clock = clock
        self._refresh = refresh
        self._revocations = revocations

    async def live(self, sub: str) -> list[Session]:
        """The user's live sessions, the newest first."""
        members = await self._store.expiring_set_members(user_sessions_key(sub))
        now = self._clock.time()
        found: list[Session] = []
        for sid in members:
            record = await self._store.get_record(session_key(sid))
            if record is None or record.get("state") != "active":
                continue
            try:
                session = Session.from_record(record)
            except (KeyError, ValueError, TypeError):
                continue
            live = session.expires_at > now and not self._revocations.is_revoked(sid=sid)
            if session.sub == sub and live:
                found.append(session)
        found.sort(key=lambda s: (-s.created_at, s.sid))
        return found

    async def end(self, sub: str, sid: str) -> bool:
        """End session ``sid`` if it is a live session of ``sub``; whether it was."""
        if not any(s.sid == sid for s in await self.live(sub)):
            return False
        await self._refresh.end_session(sid)
        return True

    async def end_all(self, sub: str, *, keep: str | None = None) -> list[str]:
        """End every live session of ``sub`` (but ``keep``); the sids ended."""
        ended = [s.sid for s in await self.live(sub) if s.sid != keep]
        for sid in ended:
            await self._refresh.end_session(sid)
        return ended

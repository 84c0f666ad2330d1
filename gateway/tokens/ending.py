"""The end of sessions: single logout across linked sessions, and who is told.

``end_session`` moves a session's record ``active -> revoked`` and puts its ``sid`` on the
revocation list (so every replica refuses its access tokens); client sessions authorized in it
(linked by ``link``, keyed by the browser session's ``op_sid``) end with it. Each session this
process ends is announced once to the ``on_end`` listeners (a listener's failure never stops a
logout); the expiry sweep (``expiry``) announces the client sessions that simply ran out.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from gateway.clock import Clock
from gateway.store import Store
from gateway.tokens.revocation import RevocationList
from gateway.tokens.session import Session, linked_key, session_key

__all__ = ["SessionEnding"]

log = logging.getLogger("gateway.tokens.refresh")


class SessionEnding:
    """Ends sessions (and the sessions linked to them) and tells the listeners."""

    def __init__(
        self,
        store: Store,
        revocations: RevocationList,
        clock: Clock,
        *,
        linked_ttl: float,
        revoke_for: float,
    ) -> None:
        self._store = store
        self._revocations = revocations
        self._clock = clock
        self._linked_ttl = linked_ttl
        self._revoke_for = revoke_for  # access_ttl + leeway: how long a sid stays denied
        self._listeners: list[Callable[[Session], Awaitable[None]]] = []

    def on_end(self, listener: Callable[[Session], Awaitable[None]]) -> None:
        self._listeners.append(listener)

    async def link(self, session: Session) -> None:
        """Remember that client session ``session`` was authorized in browser session
        ``op_sid``, so ending the browser session ends it too (single logout)."""
        key = linked_key(session.op_sid)
        await self._store.create_record(key, {"state": "active"}, self._linked_ttl)
        await self._store.transition(
            key,
            from_states=("active",),
            to_state="active",
            fields={f"c:{session.sid}": session.client_id},
        )

    async def end_session(self, sid: str) -> None:
        """End session ``sid`` and the client sessions linked to it (module doc)."""
        now = self._clock.time()
        moved = await self._store.transition(
            session_key(sid),
            from_states=("active",),
            to_state="revoked",
            fields={"revoked_at": str(now)},
        )
        await self._revocations.revoke("sid", sid, now + self._revoke_for)
        if moved.ok and moved.record is not None:
            await self.ended(moved.record)
        linked = await self._store.get_record(linked_key(sid))
        if linked:
            await self._store.delete(linked_key(sid))
            for name in linked:
                if name.startswith("c:"):
                    await self.end_session(name[2:])

    async def ended(self, record: dict[str, str]) -> None:
        """Tell every listener that the session of ``record`` ended."""
        try:
            session = Session.from_record(record)
        except (KeyError, ValueError, TypeError):
            return
        for listener in self._listeners:
            try:
                await listener(session)
            except Exception:  # a listener's failure never stops a logout
                log.exception("session-end listener failed")

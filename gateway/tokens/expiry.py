"""The end of client sessions by expiry, noticed: so back-channel logout also covers a session
that simply ran out (Back-Channel Logout 1.0 §2: the OP tells the RP when the session ends).

Each OpenID Provider client session is indexed, when it starts, in a per-minute bucket of its
end (``tokens:expiring:<minute>``, a record whose fields are the sids). A sweeper on every
replica looks at each minute once it has passed; of the replicas, the one that claims a bucket
first (``Store.set(..., only_if_absent=True)``) handles it: every session in it that is still
``active`` but past its end is moved to ``expired`` (atomically: one replica, once) and its
end is announced to the listeners. A sliding session that was extended meanwhile is indexed
again under its new end. On start a sweeper looks back ``lookback`` minutes (sessions that
ended while every replica was down for longer are not announced).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from gateway.clock import Clock
from gateway.errors import GatewayError
from gateway.store import Store
from gateway.tokens.session import Session, session_key

__all__ = ["SessionExpiry"]

log = logging.getLogger(__name__)
_MINUTE = 60.0


def _bucket_key(bucket: int) -> str:
    return f"tokens:expiring:{bucket}"


class SessionExpiry:
    """Index client sessions by their end; sweep the minutes that have passed."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        on_expired: Callable[[dict[str, str]], Awaitable[None]],
        *,
        interval: float = 30.0,
        lookback: int = 60,
    ) -> None:
        self._store = store
        self._clock = clock
        self._on_expired = on_expired
        self._interval = interval
        self._next = int(clock.time() // _MINUTE) - lookback  # the first bucket not swept
        self._task: asyncio.Task[None] | None = None

    async def index(self, session: Session) -> None:
        """Remember that ``session`` ends at its ``expires_at``."""
        bucket = int(session.expires_at // _MINUTE)
        key = _bucket_key(bucket)
        keep = max(_MINUTE, session.expires_at - self._clock.time()) + 3600.0
        await self._store.create_record(key, {"state": "open"}, keep)
        await self._store.transition(
            key, from_states=("open",), to_state="open", fields={session.sid: "1"}
        )

    async def sweep(self) -> int:
        """Handle every whole minute that has passed since the last sweep; the number of
        sessions found expired."""
        now = self._clock.time()
        current = int(now // _MINUTE)
        found = 0
        while self._next < current:
            claim = f"tokens:expiring-claimed:{self._next}"
            if await self._store.set(claim, "1", 2 * 3600.0, only_if_absent=True):
                found += await self._sweep_bucket(self._next, now)
            self._next += 1  # after the work: a Store failure leaves the minute for later
        return found

    async def _sweep_bucket(self, bucket: int, now: float) -> int:
        record = await self._store.get_record(_bucket_key(bucket)) or {}
        found = 0
        for sid in (name for name in record if name != "state"):
            session = await self._store.get_record(session_key(sid))
            if session is None or session.get("state") != "active":
                continue  # revoked (already announced) or gone
            if float(session.get("expires_at", "0")) > now:  # extended (sliding)
                with contextlib.suppress(KeyError, ValueError, TypeError):
                    await self.index(Session.from_record(session))
                continue
            moved = await self._store.transition(
                session_key(sid), from_states=("active",), to_state="expired"
            )
            if moved.ok and moved.record is not None:
                found += 1
                await self._on_expired(moved.record)
        await self._store.delete(_bucket_key(bucket))
        return found

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="session-expiry")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.sweep()
            except GatewayError as exc:  # the Store is down: the minutes wait for the next try
                log.warning("session expiry sweep: %s", type(exc).__name__)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

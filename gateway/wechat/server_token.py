"""Server access_token cache in the shared Store, refreshed by one caller across all replicas.

Reference §2.12/§6.6: one central cache, refreshed ``expires_in - 300 s`` before expiry, with a
single-flight lock across instances. How:

- Store key ``wechat:token:<appid>`` holds ``{"t": token, "exp": epoch, "ref": epoch}`` with a
  TTL of ``expires_in``; ``ref`` is when to refresh (``exp - 300``).
- In one process, concurrent callers share one refresh per appid (a ``SingleFlight``: its own
  task, which a caller that goes away does not cancel).
- Across processes the task first takes ``wechat:token-lock:<appid>`` with
  ``set(only_if_absent=True)`` and a TTL longer than a fetch with all its retries. Losers
  subscribe to ``wechat:token:<appid>`` and re-read the Store on each message (``ok``/``error``)
  and at least every ``poll_interval`` seconds; when the lock vanishes without a new token
  (the holder died) they compete for it again.
- While the cached token is still valid (more than ``min_validity`` seconds left) callers get
  it at once and the refresh runs in the background.

The lock is released with get-then-delete (the Store has no compare-and-delete); the window in
which a late holder could delete a successor's lock only costs one extra ``stable_token`` call,
which is harmless: normal-mode ``stable_token`` returns the same token (reference §2.13).
Waiting deadlines use the event loop's clock; token expiry uses the injected ``Clock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from gateway.clock import Clock
from gateway.errors import StoreUnavailable, TemporarilyUnavailable
from gateway.metrics import Metrics
from gateway.singleflight import SingleFlight
from gateway.store import MessagesLost, Store
from gateway.wechat.metrics import WeChatMetrics
from gateway.wechat.models import ServerToken

__all__ = ["REFRESH_MARGIN", "ServerTokenCache"]

log = logging.getLogger("gateway.wechat")
REFRESH_MARGIN = 300.0  # reference §6.6: refresh at expires_in - 300 s


@dataclass(frozen=True, slots=True)
class _Entry:
    token: str
    expires_at: float
    refresh_at: float


class ServerTokenCache:
    """Server access_tokens per appid; ``fetch(app_name)`` asks WeChat for a new one."""

    def __init__(
        self,
        store: Store,
        fetch: Callable[[str], Awaitable[ServerToken]],
        clock: Clock,
        metrics: Metrics,
        *,
        lock_ttl: float,
        wait_timeout: float,
        poll_interval: float = 0.25,
        min_validity: float = 30.0,
    ) -> None:
        self._store = store
        self._fetch = fetch
        self._clock = clock
        self._metrics = metrics.of(WeChatMetrics)
        self._lock_ttl = lock_ttl
        self._wait_timeout = wait_timeout
        self._poll = poll_interval
        self._min_validity = min_validity
        self._flights: SingleFlight[str, str] = SingleFlight(name="wechat-token")

    async def get(self, app: str, appid: str) -> str:
        """A usable token for ``appid``, refreshing it (once, everywhere) when due."""
        entry = await self._read(appid)
        now = self._clock.time()
        if entry is not None and now < entry.refresh_at:
            return entry.token
        refresh = partial(self._refresh, app, appid)
        if entry is not None and now < entry.expires_at - self._min_validity:
            self._flights.start(appid, refresh)  # runs in the background
            return entry.token  # still valid for a while
        return await self._flights.run(appid, refresh)

    async def invalidate(self, appid: str, token: str) -> None:
        """Forget ``token`` after WeChat rejected it, unless a newer one is already cached."""
        entry = await self._read(appid)
        if entry is not None and entry.token == token:
            await self._store.delete(_key(appid))

    async def close(self) -> None:
        """Cancel background refreshes (call on shutdown)."""
        await self._flights.close()

    async def _refresh(self, app: str, appid: str) -> str:
        try:
            return await self._refresh_once_everywhere(app, appid)
        except Exception:
            # Logged here: a background refresh may have no caller to report it.
            log.warning("wechat access token refresh failed appid=%s", appid)
            raise

    async def _refresh_once_everywhere(self, app: str, appid: str) -> str:
        deadline = asyncio.get_running_loop().time() + self._wait_timeout
        owner = secrets.token_hex(8)
        while True:
            if await self._store.set(_lock(appid), owner, self._lock_ttl, only_if_absent=True):
                try:
                    return await self._fetch_locked(app, appid)
                finally:
                    await self._release(appid, owner)
            token = await self._await_other(appid, deadline)
            if token is not None:
                return token

    async def _fetch_locked(self, app: str, appid: str) -> str:
        entry = await self._read(appid)
        if entry is not None and self._clock.time() < entry.refresh_at:
            return entry.token  # another replica refreshed between our read and the lock
        try:
            fresh = await self._fetch(app)
        except Exception:
            self._metrics.token_refreshes.labels(app=app, result="error").inc()
            await self._store.publish(_key(appid), "error")
            raise
        await self._write(appid, fresh)
        await self._store.publish(_key(appid), "ok")
        self._metrics.token_refreshes.labels(app=app, result="ok").inc()
        log.info("wechat access token refreshed app=%s expires_in=%d", app, fresh.expires_in)
        return fresh.access_token

    async def _await_other(self, appid: str, deadline: float) -> str | None:
        loop = asyncio.get_running_loop()
        async with self._store.subscribe(_key(appid)) as sub:
            while True:
                entry = await self._read(appid)
                if entry is not None and self._clock.time() < entry.refresh_at:
                    return entry.token
                if await self._store.get(_lock(appid)) is None:
                    return None  # the holder finished without a token or died: compete again
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TemporarilyUnavailable("timed out waiting for a WeChat access token")
                # MessagesLost: the Store reconnected (an "ok" may be gone): read again above
                with contextlib.suppress(TimeoutError, MessagesLost):
                    message = await asyncio.wait_for(sub.get(), min(self._poll, remaining))
                    if message == "error":
                        raise TemporarilyUnavailable("WeChat access token refresh failed")

    async def _release(self, appid: str, owner: str) -> None:
        with contextlib.suppress(StoreUnavailable):  # the lock's TTL frees it anyway
            if await self._store.get(_lock(appid)) == owner:
                await self._store.delete(_lock(appid))

    async def _read(self, appid: str) -> _Entry | None:
        raw = await self._store.get(_key(appid))
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return _Entry(str(data["t"]), float(data["exp"]), float(data["ref"]))
        except (ValueError, KeyError, TypeError):
            return None

    async def _write(self, appid: str, token: ServerToken) -> None:
        now = self._clock.time()
        expires_at = now + token.expires_in
        if token.expires_in > 2 * REFRESH_MARGIN:
            refresh_at = expires_at - REFRESH_MARGIN
        else:  # a short-lived token (stable_token's last minutes, §2.13): use half its life
            refresh_at = now + token.expires_in / 2
        value = json.dumps({"t": token.access_token, "exp": expires_at, "ref": refresh_at})
        await self._store.set(_key(appid), value, float(token.expires_in))


def _key(appid: str) -> str:
    return f"wechat:token:{appid}"


def _lock(appid: str) -> str:
    return f"wechat:token-lock:{appid}"

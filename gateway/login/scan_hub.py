"""The local waiter hub: one Store subscription per ticket per process, fanned out in memory.

The first waiter of a ticket starts a reader task that subscribes to the ticket's channel,
*then* reads the record (so no transition can fall between the two), and from then on applies
each published record. Every waiter of that ticket shares it; the last one out cancels it,
which releases the subscription. A waiter gets the current state at once on joining, then
every later state, in order (events never go backwards: ``seq`` only grows).

Expiry needs no transition: the reader's wait on the channel carries a deadline at the ticket's
``expires_at``; when it passes, the hub asks ``on_expire`` to record it (best effort: a Store
failure does not hold the event back) and tells its waiters ``expired``. ``poke()`` re-checks
every deadline at once (tests that move a ManualClock).

Two caps, each per process (``TooManyWaiters``, HTTP 429): waiters per ticket, and waiters
per client address across every ticket and transport (one address holding a thousand streams
would otherwise hold a thousand sockets and queues). A waiter counts from the moment it starts
joining until it leaves.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.clock import Clock
from gateway.errors import NotFound, RateLimited, StoreUnavailable, TemporarilyUnavailable
from gateway.login.metrics import ScanMetrics
from gateway.login.scan_ticket import EXPIRED, SEQ, Ticket, TicketEvent, ticket_channel
from gateway.metrics import Metrics
from gateway.store import MessagesLost, Store

__all__ = ["TooManyWaiters", "Waiter", "WaiterClosed", "WaiterHub"]

log = logging.getLogger("gateway.scan")

Loader = Callable[[str], Awaitable[Ticket | None]]


class TooManyWaiters(RateLimited):
    """429: the ticket already has ``max_waiters_per_ticket`` waiters in this process, or the
    client address ``limits.waiters_per_address``."""

    default_description = "too many connections are waiting on this ticket"


class WaiterClosed(Exception):
    """The hub is shutting down, or the ticket's subscription failed: stop waiting."""


class _Channel:
    __slots__ = ("current", "failed", "joining", "ready", "task", "ticket", "timeout", "waiters")

    def __init__(self, ticket: str) -> None:
        self.ticket = ticket
        self.waiters: set[Waiter] = set()
        self.joining = 0
        self.failed = False
        self.current: TicketEvent | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None
        self.timeout: asyncio.Timeout | None = None


class Waiter:
    """One connection waiting on one ticket; use as an async context manager."""

    __slots__ = ("_channel", "_queue", "client", "hub", "ticket", "transport")

    def __init__(self, hub: WaiterHub, ticket: str, transport: str, client: str) -> None:
        self.hub = hub
        self.ticket = ticket
        self.transport = transport
        self.client = client
        self._channel: _Channel | None = None
        self._queue: asyncio.Queue[TicketEvent | None] = asyncio.Queue()

    async def __aenter__(self) -> Waiter:
        await self.hub._join(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hub._leave(self)

    def _push(self, event: TicketEvent | None) -> None:
        self._queue.put_nowait(event)

    def close(self) -> None:
        """Make the pending (or next) ``next()`` raise WaiterClosed (client went away)."""
        self._queue.put_nowait(None)

    async def next(self, timeout: float | None = None) -> TicketEvent | None:
        """The next event; None after ``timeout`` seconds without one; WaiterClosed at the end.

        The first call returns the state current when the waiter joined.
        """
        try:
            async with asyncio.timeout(timeout):
                event = await self._queue.get()
        except TimeoutError:
            return None
        if event is None:
            self._queue.put_nowait(None)  # every later call ends too
            raise WaiterClosed()
        return event


class WaiterHub:
    """Waiters of this process, grouped by ticket (see module doc)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        metrics: Metrics,
        *,
        load: Loader,
        on_expire: Loader,
        max_waiters: int,
        max_per_client: int,
    ) -> None:
        self._store = store
        self._clock = clock
        self._metrics = metrics.of(ScanMetrics)
        self._load = load
        self._on_expire = on_expire
        self._max = max(1, max_waiters)
        self._max_per_client = max(1, max_per_client)
        self._per_client: dict[str, int] = {}  # waiters joined or joining, by client address
        self._channels: dict[str, _Channel] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- public -----------------------------------------------------------------------

    def watch(self, ticket: str, transport: str, client: str) -> Waiter:
        """A waiter on ``ticket`` for the client address ``client`` (joins on ``async with``:
        NotFound, TooManyWaiters)."""
        return Waiter(self, ticket, transport, client)

    @property
    def channel_count(self) -> int:
        return len(self._channels)

    @property
    def waiter_count(self) -> int:
        return sum(len(c.waiters) for c in self._channels.values())

    def waiters_from(self, client: str) -> int:
        """The waiters of the client address ``client`` (joined or joining)."""
        return self._per_client.get(client, 0)

    def poke(self) -> None:
        """Re-check every ticket's expiry now (after a test moved the clock)."""
        now = asyncio.get_running_loop().time()
        for channel in self._channels.values():
            timeout, channel.timeout = channel.timeout, None
            if timeout is not None and not timeout.expired():
                timeout.reschedule(now)

    def shutdown(self) -> None:
        """Tell every waiter to stop (server shutdown: handlers finish promptly)."""
        self._closed = True
        for channel in self._channels.values():
            for waiter in channel.waiters:
                waiter.close()

    async def close(self) -> None:
        """Stop every reader task and release every subscription."""
        self.shutdown()
        channels = list(self._channels.values())
        self._channels.clear()
        for channel in channels:
            self._stop(channel)
        while self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)

    # -- joining and leaving ----------------------------------------------------------

    async def _join(self, waiter: Waiter) -> None:
        if self._closed:
            raise TemporarilyUnavailable("the server is shutting down; try again")
        held = self._per_client.get(waiter.client, 0)
        if held >= self._max_per_client:
            raise TooManyWaiters(
                "too many connections are waiting from this address", retry_after=5
            )
        channel = self._channels.get(waiter.ticket)
        if channel is None:
            channel = self._open(waiter.ticket)
        if len(channel.waiters) + channel.joining >= self._max:
            raise TooManyWaiters(retry_after=5)
        self._per_client[waiter.client] = held + 1
        channel.joining += 1
        try:
            await asyncio.shield(channel.ready)
        except BaseException:
            channel.joining -= 1
            self._release(waiter.client)
            self._maybe_drop(channel)
            raise
        channel.joining -= 1
        if channel.failed or channel.current is None:
            self._release(waiter.client)
            self._maybe_drop(channel)
            raise StoreUnavailable("waiting on the ticket failed; try again")
        channel.waiters.add(waiter)
        waiter._channel = channel
        self._metrics.waiters.labels(waiter.transport).inc()
        # The snapshot: whatever is current once the subscription is live (fresh expires_in).
        waiter._push(channel.current)

    async def _leave(self, waiter: Waiter) -> None:
        channel, waiter._channel = waiter._channel, None
        if channel is None:
            return
        channel.waiters.discard(waiter)
        self._release(waiter.client)
        self._metrics.waiters.labels(waiter.transport).dec()
        task = self._maybe_drop(channel)
        if task is not None:  # wait until the subscription is released (without raising
            await asyncio.wait({task})  # the reader's CancelledError as if it were ours)

    def _release(self, client: str) -> None:
        """One waiter of ``client`` fewer (the entry goes with the last)."""
        left = self._per_client[client] - 1
        if left:
            self._per_client[client] = left
        else:
            del self._per_client[client]

    def _open(self, ticket: str) -> _Channel:
        channel = _Channel(ticket)
        self._channels[ticket] = channel
        channel.task = asyncio.get_running_loop().create_task(
            self._read(channel), name=f"wxgate-scan-{ticket[:6]}"
        )
        return channel

    def _maybe_drop(self, channel: _Channel) -> asyncio.Task[None] | None:
        """Stop the channel once nobody waits or joins; the task being stopped, if any."""
        if channel.waiters or channel.joining:
            return None
        if self._channels.get(channel.ticket) is channel:
            del self._channels[channel.ticket]
        return self._stop(channel)

    def _stop(self, channel: _Channel) -> asyncio.Task[None] | None:
        task, channel.task = channel.task, None
        if task is None or task.done():
            return None
        task.cancel()
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)
        return task

    # -- the reader -------------------------------------------------------------------

    async def _read(self, channel: _Channel) -> None:
        try:
            async with self._store.subscribe(ticket_channel(channel.ticket)) as sub:
                ticket = await self._load(channel.ticket)
                if ticket is None:
                    raise NotFound("no such ticket (unknown, or expired long ago)")
                channel.current = TicketEvent.of(ticket, self._clock.time(), pushed=False)
                channel.ready.set_result(None)
                while True:
                    try:
                        message = await self._next_message(channel, sub.get)
                    except MessagesLost:  # re-subscribed after a reconnect: read it again
                        await self._reload(channel)
                        continue
                    if message is not None:
                        self._apply(channel, self._parse(channel.ticket, message))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._fail(channel, exc)

    async def _next_message(
        self, channel: _Channel, get: Callable[[], Awaitable[str]]
    ) -> str | None:
        """The next published record, or None after handling an expiry deadline."""
        current = channel.current
        assert current is not None
        when = None
        if not current.terminal:
            loop = asyncio.get_running_loop()
            when = loop.time() + max(0.0, current.expires_at - self._clock.time())
        try:
            async with asyncio.timeout_at(when) as timeout:
                channel.timeout = timeout
                try:
                    return await get()
                finally:
                    channel.timeout = None
        except TimeoutError:
            await self._expire(channel)
            return None

    async def _reload(self, channel: _Channel) -> None:
        """Apply the stored record: transitions published while the subscriber was
        reconnecting (a Redis restart or failover) were lost."""
        ticket = await self._load(channel.ticket)
        if ticket is not None:
            self._apply(channel, TicketEvent.of(ticket, self._clock.time(), pushed=False))

    def _parse(self, ticket_id: str, message: str) -> TicketEvent:
        record: dict[str, Any] = json.loads(message)
        ticket = Ticket(ticket_id, {str(k): str(v) for k, v in record.items()})
        return TicketEvent.of(ticket, self._clock.time(), pushed=True)

    async def _expire(self, channel: _Channel) -> None:
        current = channel.current
        if current is None or current.terminal or self._clock.time() < current.expires_at:
            return  # woken early (poke) or the deadline moved
        try:
            ticket = await self._on_expire(channel.ticket)
        except Exception as exc:  # the Store may be down: the clock alone decides expiry
            log.warning("scan: recording the expiry failed: %s", type(exc).__name__)
            ticket = None
        now = self._clock.time()
        if ticket is None:  # gone, or the Store did not answer: the clock decides
            ticket_event = TicketEvent(channel.ticket, EXPIRED, SEQ[EXPIRED],
                                       current.expires_at, now, pushed=False)  # fmt: skip
        else:  # expired now, or meanwhile extended by a scan / moved on by a transition
            ticket_event = TicketEvent.of(ticket, now, pushed=False)
        self._apply(channel, ticket_event)

    def _apply(self, channel: _Channel, event: TicketEvent) -> None:
        current = channel.current
        if current is not None:
            if current.terminal or event.seq < current.seq:
                return
            if event.seq == current.seq:
                if event.expires_at > current.expires_at:
                    channel.current = event  # same state, later deadline: nothing to tell
                return
        channel.current = event
        for waiter in channel.waiters:
            waiter._push(event)

    def _fail(self, channel: _Channel, exc: Exception) -> None:
        channel.failed = True
        if not channel.ready.done():
            channel.ready.set_exception(exc)
            channel.ready.exception()  # retrieved by the joiners; never "never retrieved"
            if self._channels.get(channel.ticket) is channel:
                del self._channels[channel.ticket]  # the next waiter tries afresh
            return
        log.warning("scan: waiting on a ticket failed: %s", type(exc).__name__)
        if self._channels.get(channel.ticket) is channel:
            del self._channels[channel.ticket]
        for waiter in channel.waiters:
            waiter.close()

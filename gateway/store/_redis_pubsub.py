"""One Redis subscriber connection shared by every local subscription of a RedisStore.

Why not ``redis.asyncio.client.PubSub``: it reconnects from whichever task touches it
(``subscribe`` in one task, ``get_message`` in another), so two tasks can reconnect the same
``Connection`` at once; and it may run a synchronous PING health check that reads from the
socket while the reader task is reading. Here exactly one task (the reader) connects and
reads, one task (the writer) sends, and every SUBSCRIBE/UNSUBSCRIBE goes through a FIFO
outbox, so commands reach Redis in the order the subscriptions changed.

Confirmation: the writer follows each batch of commands with ``PING <token>``. Redis answers
commands on one connection in order, so the pong for that token proves every SUBSCRIBE
before it took effect; ``join`` returns only then, and a message published afterwards by any
client is delivered. After a reconnect the reader re-subscribes every active channel, and the
pong that follows confirms every join that was still waiting.

Messages published while the connection is down are lost (Redis pub/sub is at most once):
waiters must re-read the state they wait on after ``join`` returns, and again when ``get``
raises ``MessagesLost``, which each subscription of a channel gets once the channel is
re-subscribed after a reconnect (a restart, a Sentinel failover, another cluster node).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import random
from collections.abc import Callable
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from gateway.errors import StoreUnavailable
from gateway.store._channels import LocalBroker, MessageQueue

__all__ = ["PubSubHub"]

log = logging.getLogger(__name__)

HEALTH_INTERVAL = 5.0  # seconds of silence before the reader PINGs; twice that = dead
BACKOFF_MIN = 0.05
BACKOFF_MAX = 2.0
_HEALTH_TOKEN = b"hc"

Command = tuple[str | bytes, ...]


class PubSubHub:
    """Channel subscriptions over one connection made by ``connect`` (bytes, no retries).

    ``join`` waits at most ``timeout`` seconds for Redis to confirm, else StoreUnavailable;
    while the connection is known to be down it fails at once.
    """

    def __init__(self, connect: Callable[[], AbstractConnection], timeout: float) -> None:
        self._connect = connect
        self._timeout = timeout
        self._local = LocalBroker()
        self._ready: dict[str, asyncio.Future[None]] = {}  # channel -> confirmation
        self._outbox: list[Command] = []
        self._unsent: list[asyncio.Future[None]] = []  # confirmations not yet followed by PING
        self._pending: dict[bytes, list[asyncio.Future[None]]] = {}  # token -> confirmations
        self._tokens = itertools.count()
        self._wake = asyncio.Event()
        self._conn: AbstractConnection | None = None
        self._down = False
        self._closed = False
        self._tasks: list[asyncio.Task[None]] = []

    # -- local side ---------------------------------------------------------------------

    async def join(self, channel: str) -> MessageQueue:
        """A queue receiving ``channel``'s messages, once Redis confirmed the subscription."""
        self._check_open()
        if self._conn is None and self._down:
            raise StoreUnavailable()
        self._start()
        queue, first = self._local.add(channel)
        if first:
            ready = self._ready[channel] = asyncio.get_running_loop().create_future()
            self._unsent.append(ready)
            self._send(("SUBSCRIBE", channel))
        else:
            ready = self._ready[channel]
            if ready.done():  # the channel is already subscribed and confirmed
                return queue
        try:
            await asyncio.wait_for(asyncio.shield(ready), self._timeout)
            self._check_open()
        except BaseException as exc:
            self.leave(channel, queue)
            if isinstance(exc, TimeoutError):
                raise StoreUnavailable() from exc
            raise
        return queue

    def leave(self, channel: str, queue: MessageQueue) -> None:
        """Release ``queue``; the last one out unsubscribes the channel in Redis."""
        if self._local.remove(channel, queue):
            del self._ready[channel]
            self._send(("UNSUBSCRIBE", channel))

    def channels(self) -> list[str]:
        """Channels with at least one local subscription."""
        return self._local.channels()

    async def close(self) -> None:
        """Stop both tasks, drop the connection, wake subscribers with StoreUnavailable."""
        self._closed = True
        self._wake.set()
        # Both loops also stop on _closed: on Python 3.11, asyncio.wait_for (used inside
        # redis-py's send_packed_command) can swallow a cancellation that races completion.
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._local.close()
        for future in [*self._ready.values(), *self._unsent]:
            if not future.done():
                future.set_result(None)  # joiners then see _closed and raise

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("the shared state store was closed")

    def _start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._read_forever(), name="wxgate-pubsub-reader"),
                asyncio.create_task(self._write_forever(), name="wxgate-pubsub-writer"),
            ]

    def _send(self, command: Command) -> None:
        if not self._closed:
            self._outbox.append(command)
            self._wake.set()

    # -- writer task --------------------------------------------------------------------

    async def _write_forever(self) -> None:
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            conn = self._conn
            if self._closed or conn is None or not conn.is_connected:
                continue  # when it reconnects, the reader re-sends what is needed
            if not (self._outbox or self._unsent):
                continue
            batch, self._outbox = self._outbox, []
            if self._unsent:
                token = b"b%d" % next(self._tokens)
                self._pending[token], self._unsent = self._unsent, []
                batch.append(("PING", token))
            try:
                await conn.send_packed_command(conn.pack_commands(batch), check_health=False)
            except (RedisError, OSError):
                log.debug("pub/sub write failed; the reader reconnects")

    # -- reader task --------------------------------------------------------------------

    async def _read_forever(self) -> None:
        delay = BACKOFF_MIN
        while not self._closed:
            conn = self._connect()
            try:
                await conn.connect()  # type: ignore[no-untyped-call]
                self._attach(conn)
                delay = BACKOFF_MIN
                await self._read(conn)
            except (RedisError, OSError) as exc:
                # Warn once per outage, not once per reconnect attempt.
                log.log(logging.DEBUG if self._down else logging.WARNING, "redis pub/sub: %s", exc)
                self._down = True
            except Exception:
                # A bug or an unexpected reply must not end delivery for every subscriber.
                log.exception("redis pub/sub reader failed; reconnecting")
            finally:
                self._detach()
                with contextlib.suppress(RedisError, OSError):
                    await conn.disconnect()
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, BACKOFF_MAX)

    def _detach(self) -> None:
        """Forget the connection; channels count as unconfirmed until re-subscribed."""
        self._conn = None
        loop = asyncio.get_running_loop()
        for channel, ready in self._ready.items():
            if ready.done():
                fresh = self._ready[channel] = loop.create_future()
                fresh.add_done_callback(functools.partial(self._resumed, channel))
                self._unsent.append(fresh)

    def _resumed(self, channel: str, _: asyncio.Future[None]) -> None:
        """``channel`` is subscribed again: its subscriptions may have missed messages."""
        if not self._closed:
            self._local.lost(channel)

    def _attach(self, conn: AbstractConnection) -> None:
        """Make ``conn`` current and queue one SUBSCRIBE for every active channel.

        Runs without awaiting, so the re-subscription is exactly the set of channels now;
        commands queued for the old connection are superseded by it, and every confirmation
        still waiting is answered by the PING the writer sends after it.
        """
        waiting = [f for futures in self._pending.values() for f in futures]
        self._unsent = waiting + self._unsent
        self._pending.clear()
        channels = self._local.channels()
        self._outbox = [("SUBSCRIBE", *channels)] if channels else []
        self._conn = conn
        if self._down:
            log.warning("redis pub/sub: reconnected, %d channels re-subscribed", len(channels))
        self._down = False
        self._wake.set()

    async def _read(self, conn: AbstractConnection) -> None:
        silent = False
        while not self._closed:
            reply = await conn.read_response(timeout=HEALTH_INTERVAL, disconnect_on_error=False)
            if reply is None:  # nothing for HEALTH_INTERVAL seconds
                if silent:
                    raise RedisConnectionError("no answer to a pub/sub health check")
                silent = True
                self._send(("PING", _HEALTH_TOKEN))
                continue
            silent = False
            self._dispatch(reply)

    def _dispatch(self, reply: Any) -> None:
        if isinstance(reply, bytes):  # PING outside subscribed mode answers a bare string
            self._confirm(reply)
            return
        kind = reply[0]
        if kind == b"message":
            message = reply[2].decode("utf-8", errors="replace")
            self._local.publish(reply[1].decode("utf-8", errors="replace"), message)
        elif kind == b"pong":
            self._confirm(reply[1])

    def _confirm(self, token: bytes) -> None:
        for future in self._pending.pop(token, ()):
            if not future.done():
                future.set_result(None)

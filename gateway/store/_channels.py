"""In-process fan-out of channel messages to subscriptions, shared by both backends.

``LocalBroker`` keeps one unbounded asyncio queue per active subscription; the memory
backend publishes into it directly, the Redis backend from its single pub/sub reader task.
``ChannelSubscription`` is the ``Subscription`` both backends hand out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from gateway.errors import StoreUnavailable
from gateway.store.contract import MessagesLost

__all__ = ["ChannelSubscription", "LocalBroker", "MessageQueue"]


class _Lost:
    """The "messages may have been lost here" marker (the subscriber re-subscribed)."""


LOST = _Lost()
# None is the "store closed" marker: published messages are always str.
MessageQueue = asyncio.Queue[str | _Lost | None]


class LocalBroker:
    """Channel name -> queues of the subscriptions currently active on it."""

    def __init__(self) -> None:
        self._queues: dict[str, set[MessageQueue]] = {}

    def add(self, channel: str) -> tuple[MessageQueue, bool]:
        """A new queue on ``channel``, and whether it is the channel's first."""
        queue: MessageQueue = asyncio.Queue()
        members = self._queues.get(channel)
        first = members is None
        if members is None:
            members = self._queues[channel] = set()
        members.add(queue)
        return queue, first

    def remove(self, channel: str, queue: MessageQueue) -> bool:
        """Drop ``queue``; True when ``channel`` has no subscription left."""
        members = self._queues.get(channel)
        if members is None or queue not in members:
            return False
        members.discard(queue)
        if members:
            return False
        del self._queues[channel]
        return True

    def publish(self, channel: str, message: str) -> int:
        """Queue ``message`` for every subscription active now; the number reached."""
        members = self._queues.get(channel, ())
        for queue in members:
            queue.put_nowait(message)
        return len(members)

    def lost(self, channel: str) -> None:
        """Tell every subscription on ``channel`` that messages may have been lost."""
        for queue in self._queues.get(channel, ()):
            queue.put_nowait(LOST)

    def channels(self) -> list[str]:
        """Channels with at least one subscription."""
        return list(self._queues)

    def has(self, channel: str) -> bool:
        return channel in self._queues

    def close(self) -> None:
        """Wake every waiting ``get`` with StoreUnavailable and forget all subscriptions."""
        for members in self._queues.values():
            for queue in members:
                queue.put_nowait(None)
        self._queues.clear()


class ChannelSubscription:
    """A ``Subscription``: enter to join the channel, leave to release it.

    ``join`` returns only once the subscription is active (for Redis: the server confirmed
    SUBSCRIBE), so a message published after ``__aenter__`` returns is delivered. After the
    context is left, ``get`` still returns messages that arrived while it was active, then
    raises RuntimeError. When the store is closed, ``get`` raises StoreUnavailable.
    """

    __slots__ = ("_channel", "_join", "_leave", "_left", "_queue")

    def __init__(
        self,
        channel: str,
        join: Callable[[str], Awaitable[MessageQueue]],
        leave: Callable[[str, MessageQueue], None],
    ) -> None:
        self._channel = channel
        self._join = join
        self._leave = leave
        self._queue: MessageQueue | None = None
        self._left = False

    async def __aenter__(self) -> ChannelSubscription:
        if self._queue is not None or self._left:
            raise RuntimeError("a subscription can be entered only once")
        self._queue = await self._join(self._channel)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._queue is not None and not self._left:
            self._left = True
            self._leave(self._channel, self._queue)

    def __aiter__(self) -> ChannelSubscription:
        return self

    async def __anext__(self) -> str:
        return await self.get()

    async def get(self) -> str:
        """The next message (waits while the subscription is active)."""
        queue = self._queue
        if queue is None:
            raise RuntimeError("subscription used before its context was entered")
        if self._left and queue.empty():
            raise RuntimeError("subscription already left")
        message = await queue.get()
        if message is None:
            queue.put_nowait(None)  # every later get() sees the closed store too
            raise StoreUnavailable("the shared state store was closed")
        if isinstance(message, _Lost):
            raise MessagesLost()
        return message

"""The in-process Store: one dict, expiry by the injected clock (dev default, one process).

Every operation runs without awaiting in between, so each is atomic with respect to other
tasks on the event loop, which is what the Redis backend gets from Lua scripts. Expired keys
are dropped when touched, and a periodic sweep (amortised over writes) bounds memory.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from gateway.clock import Clock
from gateway.errors import StoreUnavailable
from gateway.store._channels import ChannelSubscription, LocalBroker, MessageQueue
from gateway.store._common import encode_record, from_states, require_fields, ttl_ms
from gateway.store.contract import Subscription, Transition

__all__ = ["MemoryStore"]

# A sweep runs after this many writes, or after as many writes as there are keys if more,
# so its cost is amortised O(1) per write and expired keys never exceed the live ones for long.
SWEEP_EVERY = 1024


@dataclass(slots=True)
class _Entry:
    deadline: float | None  # clock.monotonic() reading after which the key is gone


@dataclass(slots=True)
class _Value(_Entry):
    text: str


@dataclass(slots=True)
class _Record(_Entry):
    fields: dict[str, str]


@dataclass(slots=True)
class _ExpiringSet(_Entry):
    members: dict[str, float] = field(default_factory=dict)  # member -> expires_at (epoch)


E = TypeVar("E", bound=_Entry)


class MemoryStore:
    """``Store`` for one process. Time comes from ``clock`` so tests can move it."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._broker = LocalBroker()
        self._writes = 0
        self._closed = False

    # -- keyspace -----------------------------------------------------------------------

    def _deadline(self, ttl: float) -> float:
        return self._clock.monotonic() + ttl_ms(ttl) / 1000

    def _live(self, key: str, kind: type[E]) -> E | None:
        """The unexpired entry at ``key``; TypeError if it holds another kind (WRONGTYPE)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.deadline is not None and entry.deadline <= self._clock.monotonic():
            del self._entries[key]
            return None
        if not isinstance(entry, kind):
            raise TypeError(f"key holds a {type(entry).__name__}, not a {kind.__name__}")
        return entry

    def _put(self, key: str, entry: _Entry) -> None:
        self._entries[key] = entry
        self._writes += 1
        if self._writes >= max(SWEEP_EVERY, len(self._entries)):
            self._sweep()

    def _sweep(self) -> None:
        now = self._clock.monotonic()
        expired = [
            k for k, e in self._entries.items() if e.deadline is not None and e.deadline <= now
        ]
        for key in expired:
            del self._entries[key]
        self._writes = 0

    # -- values and counters ------------------------------------------------------------

    async def get(self, key: str) -> str | None:
        entry = self._live(key, _Value)
        return None if entry is None else entry.text

    async def set(self, key: str, value: str, ttl: float, *, only_if_absent: bool = False) -> bool:
        deadline = self._deadline(ttl)
        if only_if_absent and self._live(key, _Entry) is not None:
            return False
        self._put(key, _Value(deadline, value))
        return True

    async def delete(self, key: str) -> bool:
        present = self._live(key, _Entry) is not None
        self._entries.pop(key, None)
        return present

    async def take(self, key: str) -> str | None:
        entry = self._live(key, _Value)
        if entry is None:
            return None
        del self._entries[key]
        return entry.text

    async def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        deadline = self._deadline(ttl)
        entry = self._live(key, _Value)
        if entry is None:
            entry = _Value(deadline, "0")
            self._put(key, entry)
        elif entry.deadline is None:
            entry.deadline = deadline
        value = int(entry.text) + amount
        entry.text = str(value)
        return value

    async def ttl(self, key: str) -> float | None:
        entry = self._live(key, _Entry)
        if entry is None or entry.deadline is None:
            return None
        return max(0.0, entry.deadline - self._clock.monotonic())

    # -- records ------------------------------------------------------------------------

    async def create_record(self, key: str, fields: Mapping[str, str], ttl: float) -> bool:
        record = require_fields(fields)
        deadline = self._deadline(ttl)
        if self._live(key, _Entry) is not None:
            return False
        self._put(key, _Record(deadline, record))
        return True

    async def get_record(self, key: str) -> dict[str, str] | None:
        entry = self._live(key, _Record)
        return None if entry is None else dict(entry.fields)

    async def transition(
        self,
        key: str,
        *,
        from_states: Collection[str],
        to_state: str,
        fields: Mapping[str, str] | None = None,
        ttl: float | None = None,
        unexpired_at: float | None = None,
        channel: str | None = None,
    ) -> Transition:
        """See ``Store.transition``; atomic because nothing here awaits."""
        allowed = _states(from_states)
        deadline = None if ttl is None else self._deadline(ttl)
        entry = self._live(key, _Record)
        if entry is None:
            return Transition(False, None)
        if entry.fields.get("state") not in allowed or not _unexpired(entry, unexpired_at):
            return Transition(False, dict(entry.fields))
        entry.fields.update(fields or {})
        entry.fields["state"] = to_state
        if deadline is not None:
            entry.deadline = deadline
        record = dict(entry.fields)
        if channel is not None:
            self._broker.publish(channel, encode_record(record))
        return Transition(True, record)

    # -- expiring sets ------------------------------------------------------------------

    async def expiring_set_add(self, key: str, member: str, expires_at: float) -> None:
        now = self._clock.time()
        entry = self._live(key, _ExpiringSet)
        if entry is None:
            entry = _ExpiringSet(None)
            self._put(key, entry)
        entry.members[member] = expires_at
        entry.members = {m: exp for m, exp in entry.members.items() if exp > now}
        if not entry.members:
            del self._entries[key]
            return
        # The key outlives its last member by nothing: relative, like the Redis backend.
        entry.deadline = self._clock.monotonic() + (max(entry.members.values()) - now)

    async def expiring_set_members(self, key: str) -> dict[str, float]:
        now = self._clock.time()
        entry = self._live(key, _ExpiringSet)
        if entry is None:
            return {}
        return {m: exp for m, exp in entry.members.items() if exp > now}

    # -- pub/sub and lifecycle ----------------------------------------------------------

    async def publish(self, channel: str, message: str) -> None:
        self._broker.publish(channel, message)

    def subscribe(self, channel: str) -> Subscription:
        return ChannelSubscription(channel, self._join, self._leave)

    async def _join(self, channel: str) -> MessageQueue:
        if self._closed:
            raise StoreUnavailable("the shared state store was closed")
        queue, _first = self._broker.add(channel)
        return queue

    def _leave(self, channel: str, queue: MessageQueue) -> None:
        self._broker.remove(channel, queue)

    async def ping(self) -> None:
        if self._closed:
            raise StoreUnavailable("the shared state store was closed")

    async def close(self) -> None:
        """Wake waiting subscribers with StoreUnavailable; the data stays readable."""
        self._closed = True
        self._broker.close()


def _states(states: Collection[str]) -> frozenset[str]:
    return frozenset(from_states(states))


def _unexpired(entry: _Record, unexpired_at: float | None) -> bool:
    """True unless ``unexpired_at`` is given and the record's ``expires_at`` is not after it."""
    if unexpired_at is None:
        return True
    try:
        return float(entry.fields.get("expires_at", "")) > unexpired_at
    except ValueError:
        return False

"""The Store contract: the protocol both backends implement, and what its methods return."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from gateway.errors import StoreUnavailable

__all__ = ["MessagesLost", "Store", "Subscription", "Transition"]


class MessagesLost(StoreUnavailable):
    """Raised once by ``Subscription.get`` when messages may have been lost: the backend's
    subscriber lost its connection and has subscribed again (pub/sub is at most once). The
    subscription stays usable; re-read the state you wait on, then ``get`` again."""

    default_description = (
        "messages published while the shared state store was unreachable were lost"
    )


@dataclass(frozen=True, slots=True)
class Transition:
    """Outcome of ``Store.transition``.

    ``ok`` is True when the record moved; ``record`` is then the new record. When ``ok`` is
    False, ``record`` is the record as it stands (None if it does not exist or has expired).
    """

    ok: bool
    record: dict[str, str] | None


@runtime_checkable
class Subscription(Protocol):
    """Messages published on one channel after the subscription became active.

    Use as ``async with store.subscribe(ch) as sub: msg = await sub.get()`` or
    ``async for msg in sub``. Leaving the context releases everything it held. ``get`` raises
    ``MessagesLost`` once after the backend re-subscribed following a lost connection.
    """

    async def __aenter__(self) -> Subscription: ...

    async def __aexit__(self, *exc: object) -> None: ...

    def __aiter__(self) -> AsyncIterator[str]: ...

    async def get(self) -> str:
        """The next message (waits)."""
        ...


class Store(Protocol):
    """The shared-state contract. Every method may raise ``StoreUnavailable``."""

    async def get(self, key: str) -> str | None:
        """The value, or None when absent or expired."""
        ...

    async def set(self, key: str, value: str, ttl: float, *, only_if_absent: bool = False) -> bool:
        """Store ``value`` for ``ttl`` seconds; with ``only_if_absent`` return False if present."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove a value or record; True if something was there."""
        ...

    async def take(self, key: str) -> str | None:
        """Atomically get and delete a value (one-time use): exactly one caller gets it."""
        ...

    async def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        """Add to a counter and return the new value; the expiry is set when it is created
        (a fixed window: the counter disappears ``ttl`` seconds after its first increment)."""
        ...

    async def ttl(self, key: str) -> float | None:
        """Seconds left before the key expires; None when absent or without expiry."""
        ...

    async def create_record(self, key: str, fields: Mapping[str, str], ttl: float) -> bool:
        """Create a record unless one exists; False if it already existed."""
        ...

    async def get_record(self, key: str) -> dict[str, str] | None:
        """The record, or None when absent or expired."""
        ...

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
        """Atomically move a record from one of ``from_states`` to ``to_state``.

        The record's ``state`` field must be in ``from_states``; ``fields`` are merged in and
        ``state`` is set to ``to_state``. ``ttl`` replaces the expiry when given (else it is
        kept). With ``unexpired_at`` the record's ``expires_at`` field (epoch seconds) must be
        greater than that time. With ``channel`` the new record, JSON-encoded, is published on
        that channel as part of the same atomic step. Of many concurrent callers from the same
        state exactly one succeeds.
        """
        ...

    async def expiring_set_add(self, key: str, member: str, expires_at: float) -> None:
        """Add ``member`` to a set until ``expires_at`` (epoch seconds)."""
        ...

    async def expiring_set_members(self, key: str) -> dict[str, float]:
        """Members not yet expired, with their expiry times."""
        ...

    async def publish(self, channel: str, message: str) -> None:
        """Deliver ``message`` to every current subscriber of ``channel`` (any process)."""
        ...

    def subscribe(self, channel: str) -> Subscription:
        """A subscription to ``channel``; active once its context has been entered."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the backend answers."""
        ...

    async def close(self) -> None:
        """Release connections and background tasks."""
        ...

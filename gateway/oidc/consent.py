"""Remembered consent: a person agreed that a third-party client may have these scopes.

Store key ``oidc:consent:<sub>:<client_id>`` → the granted scopes (space-separated, sorted),
for ``oidc.consent_ttl`` seconds. A request whose scopes are all among the granted ones needs
no consent page; ``revoke`` forgets it (the next authorization asks again).
"""

from __future__ import annotations

from gateway.store import Store

__all__ = ["ConsentStore"]


def _key(sub: str, client_id: str) -> str:
    return f"oidc:consent:{sub}:{client_id}"


class ConsentStore:
    def __init__(self, store: Store, ttl: float) -> None:
        self._store = store
        self._ttl = ttl

    async def covers(self, sub: str, client_id: str, scopes: tuple[str, ...]) -> bool:
        granted = await self._store.get(_key(sub, client_id))
        return granted is not None and set(scopes) <= set(granted.split())

    async def grant(self, sub: str, client_id: str, scopes: tuple[str, ...]) -> None:
        previous = await self._store.get(_key(sub, client_id)) or ""
        merged = sorted(set(previous.split()) | set(scopes))
        await self._store.set(_key(sub, client_id), " ".join(merged), self._ttl)

    async def revoke(self, sub: str, client_id: str) -> None:
        await self._store.delete(_key(sub, client_id))

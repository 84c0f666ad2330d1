"""Authorization codes (RFC 6749 §4.1.2, §10.5): single use, short-lived, bound to everything
the token request must repeat.

A code is 256 random bits; the Store holds only its SHA-256 (``oidc:code:<hash>``, a JSON
``Grant``, lifetime ``oidc.code_ttl``). Redeeming is ``Store.take`` — atomic on every backend,
so of two replicas racing with one code exactly one gets it. The taker leaves a marker
(``oidc:code-used:<hash>`` → the session id the code was to start) for a while, so a replayed
code is recognised and the session it produced is revoked (RFC 6749 §4.1.2: "the
authorization server ... SHOULD revoke (when possible) all tokens previously issued based on
that authorization code").
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from dataclasses import dataclass

from gateway.store import Store

__all__ = ["CodeStore", "Grant", "Redemption"]

_USED_FOR = 600.0  # seconds a redeemed code is remembered, to recognise a replay


@dataclass(frozen=True, slots=True)
class Grant:
    """What an authorization code stands for."""

    client_id: str
    redirect_uri: str
    redirect_given: bool  # the request named redirect_uri (then the token request must too)
    scope: str
    code_challenge: str | None
    nonce: str | None
    sub: str
    amr: tuple[str, ...]
    auth_time: float
    op_sid: str  # the browser session it was authorized in
    sid: str  # the client session the code starts
    appid: str | None = None
    openid: str | None = None
    unionid: str | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> Grant:
        data = json.loads(raw)
        data["amr"] = tuple(data["amr"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Redemption:
    """``grant`` when the code was good; else ``replayed_sid``: the session a second use of
    an already redeemed code must revoke (None for a code that never existed or expired)."""

    grant: Grant | None
    replayed_sid: str | None = None


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class CodeStore:
    """Issue and redeem authorization codes in the shared Store."""

    def __init__(self, store: Store, ttl: float) -> None:
        self._store = store
        self._ttl = ttl

    async def issue(self, grant: Grant) -> str:
        code = secrets.token_urlsafe(32)
        await self._store.set(f"oidc:code:{_hash(code)}", grant.to_json(), self._ttl)
        return code

    async def redeem(self, code: str) -> Redemption:
        if not code or len(code) > 128:
            return Redemption(None)
        digest = _hash(code)
        raw = await self._store.take(f"oidc:code:{digest}")
        if raw is None:
            return Redemption(None, await self._store.get(f"oidc:code-used:{digest}"))
        grant = Grant.from_json(raw)
        await self._store.set(f"oidc:code-used:{digest}", grant.sid, _USED_FOR)
        return Redemption(grant)

"""Back-Channel Logout 1.0: when a client's session ends — the person logged out, their
browser session ended, its refresh token was reused, an operator revoked it — the client is
POSTed a signed ``logout_token`` at its ``backchannel_logout_uri``.

The token (§2.4): header ``typ: logout+jwt``; claims ``iss``, ``aud`` (the client id), ``iat``,
``exp`` (``oidc.logout_token_ttl``), ``jti``, ``sub`` (as the client sees it), ``sid`` (the
``sid`` of the ID tokens of that session) and ``events`` with the back-channel logout event; no
``nonce``. Delivery runs in the background (never delaying the person's logout): a 200/204 is
done; anything else is tried again ``oidc.backchannel_retries`` times with exponential back-off
(0.5 s, 1 s, 2 s...), each POST bounded by ``oidc.backchannel_timeout``. Each outcome is
counted per client: ``delivered``, ``retried``, ``failed``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.clock import Clock
from gateway.config import OidcConfig
from gateway.oidc.clients import Client, ClientRegistry
from gateway.tokens import Session

__all__ = ["BACKCHANNEL_EVENT", "BackchannelLogout", "Post", "logout_token_claims"]

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# POST ``form`` to ``url`` within ``timeout`` seconds; the HTTP status (raise on no answer)
Post = Callable[[str, dict[str, str], float], Awaitable[int]]
Sign = Callable[[dict[str, Any], str], tuple[str, str]]
Count = Callable[[str, str], None]

log = logging.getLogger(__name__)


def logout_token_claims(
    *, issuer: str, client_id: str, sub: str, sid: str, now: float, ttl: int
) -> dict[str, Any]:
    """The claims of a logout token (Back-Channel Logout 1.0 §2.4)."""
    iat = int(now)
    return {
        "iss": issuer,
        "aud": client_id,
        "iat": iat,
        "exp": iat + ttl,
        "jti": secrets.token_urlsafe(16),
        "sub": sub,
        "sid": sid,
        "events": {BACKCHANNEL_EVENT: {}},
    }


class BackchannelLogout:
    """Tell clients that their sessions ended (a ``tokens`` session-end listener)."""

    def __init__(
        self,
        config: OidcConfig,
        issuer: str,
        clients: ClientRegistry,
        subject_for: Callable[[Client, str], str],
        sign: Sign,
        post: Post,
        clock: Clock,
        count: Count,
    ) -> None:
        self._config = config
        self._issuer = issuer
        self._clients = clients
        self._subject_for = subject_for  # (client, local sub) -> the sub the client sees
        self._sign = sign
        self._post = post
        self._clock = clock
        self._count = count
        self._tasks: set[asyncio.Task[None]] = set()

    async def session_ended(self, session: Session) -> None:
        """Start telling the session's client, if it asked to be told; returns at once."""
        client = self._clients.get(session.client_id) if session.client_id else None
        if client is None or not client.config.backchannel_logout_uri:
            return
        claims = logout_token_claims(
            issuer=self._issuer,
            client_id=client.client_id,
            sub=self._subject_for(client, session.sub),
            sid=session.sid,
            now=self._clock.time(),
            ttl=self._config.logout_token_ttl,
        )
        token, _ = self._sign(claims, "logout+jwt")
        task = asyncio.get_running_loop().create_task(
            self._deliver(client.client_id, client.config.backchannel_logout_uri, token),
            name="backchannel-logout",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, client_id: str, url: str, token: str) -> None:
        delay = 0.5
        for attempt in range(self._config.backchannel_retries + 1):
            try:
                status = await self._post(url, {"logout_token": token},
                                          self._config.backchannel_timeout)  # fmt: skip
            except Exception as exc:  # any failure to get an answer is retried
                status = 0
                log.warning("back-channel logout to %s: %s", client_id, type(exc).__name__)
            if status in (200, 204):
                self._count(client_id, "delivered")
                return
            if attempt < self._config.backchannel_retries:
                self._count(client_id, "retried")
                await asyncio.sleep(delay)
                delay *= 2
        self._count(client_id, "failed")
        log.warning("back-channel logout to %s failed (last status %s)", client_id, status)

    async def close(self) -> None:
        """Wait briefly for deliveries in flight, then cancel the rest."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self._config.backchannel_timeout)
        for task in list(self._tasks):
            task.cancel()

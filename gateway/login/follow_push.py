"""The official account's server URL: WeChat's handshake and event pushes (reference §2.15).

``handshake`` answers ``echostr`` only when ``signature`` matches (Casdoor echoes it
unchecked). ``receive`` refuses, before storing anything: a bad ``signature`` or
``msg_signature`` (constant time), a timestamp outside ±300 s, XML with a DTD or entities
(``defusedxml``), a safe-mode body that does not decrypt or whose trailing appid is another
account's (``gateway.wechat.verify_push``). Then, in the Store so it holds across replicas:
a ``(timestamp, nonce)`` pair seen in the last 600 s is a replay (refused), and an event whose
``FromUserName + CreateTime`` was seen is one of WeChat's retries (answered, not processed
again). A login event's scene is looked up at once (one Store read); the slow part (who
scanned, linking, the ticket) runs after the answer (``FollowLogin.confirm_later``), so every
push is answered well within WeChat's 5 s.

Answers: ``success`` (text/plain), or the configured ``welcome_text`` as a passive reply to a
``subscribe``/``SCAN`` event, encrypted when the push was. Refusals are ``PushRefused`` errors
(4xx JSON); each push is counted in ``wxgate_wechat_events_total{app,event,result}`` and a
refusal logged with its reason, never with the body.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from gateway.clock import Clock
from gateway.config import Config, WeChatAppConfig
from gateway.errors import AccessDenied, Conflict, GatewayError, InvalidRequest, NotFound
from gateway.login.follow import FollowLogin
from gateway.login.metrics import FollowMetrics
from gateway.metrics import Metrics
from gateway.store import Store
from gateway.wechat import (
    LOGIN_EVENTS,
    TIMESTAMP_WINDOW,
    EventMessage,
    MessageCipher,
    MessageRejected,
    Push,
    check_signature,
    encrypted_reply,
    reply_xml,
    verify_push,
)

__all__ = [
    "BadPushSignature",
    "MalformedPush",
    "PushReceiver",
    "ReplayedPush",
    "Reply",
    "StalePush",
]

log = logging.getLogger("gateway.follow")
DEDUPE_TTL = 3600.0  # WeChat's three tries span seconds; an hour is ample
_EVENTS = frozenset({"subscribe", "SCAN", "unsubscribe"})


class BadPushSignature(AccessDenied):
    error = "invalid_signature"
    default_description = "the signature does not match"


class StalePush(InvalidRequest):
    error = "stale_timestamp"
    default_description = "the timestamp is outside the ±300 s window"


class ReplayedPush(Conflict):
    error = "replayed_request"
    default_description = "this timestamp and nonce were already used"


class MalformedPush(InvalidRequest):
    error = "malformed_message"
    default_description = "the message is not acceptable"


_REFUSALS: dict[str, type[GatewayError]] = {
    "bad_signature": BadPushSignature, "stale": StalePush, "malformed": MalformedPush,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Reply:
    body: bytes
    content_type: str


SUCCESS = Reply(b"success", "text/plain")


def _cipher(app: WeChatAppConfig) -> MessageCipher | None:
    return MessageCipher(app.encoding_aes_key, app.appid) if app.encoding_aes_key else None


@dataclass(frozen=True, slots=True)
class _Endpoint:
    name: str
    app: WeChatAppConfig
    cipher: MessageCipher | None


class PushReceiver:
    """Handshakes and pushes for every official account with a ``server_token``."""

    def __init__(
        self, config: Config, store: Store, follow: FollowLogin, clock: Clock, metrics: Metrics
    ) -> None:
        self._store = store
        self._follow = follow
        self._clock = clock
        self._events = metrics.of(FollowMetrics).events
        self._endpoints = {
            name: _Endpoint(name, app, _cipher(app))
            for name, app in config.wechat.apps.items()
            if app.kind == "official_account" and app.server_token
        }

    def _endpoint(self, name: str) -> _Endpoint:
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            raise NotFound("no official account with a server URL is configured by that name")
        return endpoint

    def handshake(self, name: str, params: Mapping[str, str]) -> str:
        """``echostr`` when the signature matches; BadPushSignature otherwise."""
        ep = self._endpoint(name)
        timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
        if not check_signature(params.get("signature"), ep.app.server_token, timestamp, nonce):
            self._refuse(ep, "handshake", MessageRejected("bad_signature", "bad signature"))
        self._events.labels(name, "handshake", "accepted").inc()
        return params.get("echostr", "")

    async def receive(self, name: str, params: Mapping[str, str], body: bytes) -> Reply:
        """Verify, de-duplicate and act on one push (see module doc)."""
        ep = self._endpoint(name)
        now = self._clock.time()
        try:
            push = verify_push(params, body, token=ep.app.server_token,
                               mode=ep.app.message_mode, cipher=ep.cipher, now=now)  # fmt: skip
        except MessageRejected as exc:
            self._refuse(ep, "unknown", exc)
        message = push.message
        event = message.event if message.event in _EVENTS else "other"
        pair = f"wechat:push-nonce:{ep.app.appid}:{params['timestamp']}:{params.get('nonce', '')}"
        if not await self._store.set(pair, "1", 2 * TIMESTAMP_WINDOW, only_if_absent=True):
            self._refuse(ep, event, MessageRejected("stale", "replay"), replay=True)
        seen = f"wechat:push-event:{ep.app.appid}:{message.dedupe_key}"
        if not await self._store.set(seen, "1", DEDUPE_TTL, only_if_absent=True):
            self._events.labels(name, event, "duplicate").inc()
            return self._reply(ep, push, now)
        result = await self._act(ep, message)
        self._events.labels(name, event, result).inc()
        return self._reply(ep, push, now)

    async def _act(self, ep: _Endpoint, message: EventMessage) -> str:
        scene = message.scene
        if scene is None:
            return "accepted"  # an ordinary follow, an unfollow, anything else: nothing to do
        ticket = await self._follow.ticket_for(ep.app.appid, scene)
        if ticket is None or not ep.app.follow_login:
            log.info("follow: a scan for an unknown, used or expired scene app=%s", ep.name)
            return "unknown_scene"
        self._follow.confirm_later(ep.name, ticket, message.from_user)
        return "accepted"

    def _reply(self, ep: _Endpoint, push: Push, now: float) -> Reply:
        message = push.message
        if not ep.app.welcome_text or message.event not in LOGIN_EVENTS:
            return SUCCESS
        xml = reply_xml(message.from_user, message.to_user, int(now), ep.app.welcome_text)
        if push.encrypted and ep.cipher is not None:
            xml = encrypted_reply(ep.cipher, ep.app.server_token, xml, int(now))
        return Reply(xml, "application/xml")

    def _refuse(
        self, ep: _Endpoint, event: str, exc: MessageRejected, *, replay: bool = False
    ) -> NoReturn:
        result = "replay" if replay else exc.reason
        self._events.labels(ep.name, event, result).inc()
        log.warning("wechat push refused app=%s event=%s result=%s", ep.name, event, result)
        if replay:
            raise ReplayedPush()
        raise _REFUSALS[exc.reason](exc.text)

    def refuse_oversized(self, name: str) -> None:
        """Count and log a body over the cap (the server refuses it with 413)."""
        ep = self._endpoint(name)
        self._events.labels(ep.name, "unknown", "malformed").inc()
        log.warning("wechat push refused app=%s event=unknown result=malformed (too large)", name)

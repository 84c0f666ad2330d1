"""Simulated follow-the-account login (flow E, reference §2.15): parametric QR codes, followers
and the signed (optionally encrypted) event pushes to the gateway's server URL.

- ``cgi-bin/qrcode/create`` (server token; 48001 for an app that is not an official account,
  or while ``SimOptions.oa_unverified``): ``QR_STR_SCENE`` with a 1-64 character ``scene_str``
  or ``QR_SCENE`` with a non-zero 32-bit ``scene_id``; ``expire_seconds`` ≤ 2,592,000, 60 when
  absent. The ``url`` it returns is ``<simulator>/q/<code>``: opened in a browser it is the
  simulated phone (``follow_pages``).
- ``cgi-bin/showqrcode?ticket=``: the QR image of that url (JPEG, as ``wxacode``).
- ``cgi-bin/user/info``: ``subscribe``, ``openid``, ``unionid`` (every simulated app is bound to
  one Open Platform account), ``subscribe_scene``, ``qr_scene_str``; no nickname (2021-12-27).
- ``deliveries``: what a phone's scan makes WeChat push: ``subscribe`` + ``qrscene_<scene>``
  for a new follower, ``SCAN`` + ``<scene>`` for a follower; signed with the app's console
  token, encrypted in safe mode (compatible mode sends both forms); with switches for WeChat's
  retries (the same event up to three times, each delivery signed afresh), a bad signature and a
  stale timestamp (301 s old).
"""

from __future__ import annotations

import base64
import dataclasses
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from gateway.clock import Clock
from gateway.simulator.images import encode_block_jpeg, qr_matrix, upscale
from gateway.simulator.model import (
    AppRegistry,
    Identities,
    SimApp,
    SimError,
    SimOptions,
    random_token,
)
from gateway.simulator.server_tokens import ServerTokens
from gateway.wechat import MessageCipher, envelope_xml, event_xml, signature

__all__ = ["Delivery", "FollowService", "QrRecord"]

_MAX_EXPIRE = 2_592_000  # §2.15: 30 days


@dataclass(slots=True)
class QrRecord:
    """One parametric QR code."""

    code: str
    appid: str
    scene: str
    ticket: str
    url: str
    expires_at: float
    scans: int = 0


@dataclass(frozen=True, slots=True)
class Delivery:
    """One push as WeChat would send it: the server URL with its query, and the XML body."""

    url: str
    body: bytes = field(repr=False)


class FollowService:
    """QR codes, followers and pushes of the simulated official accounts."""

    def __init__(
        self,
        apps: AppRegistry,
        ids: Identities,
        tokens: ServerTokens,
        clock: Clock,
        options: SimOptions,
    ) -> None:
        self._apps = apps
        self._ids = ids
        self._tokens = tokens
        self._clock = clock
        self._options = options
        self.qrcodes: dict[str, QrRecord] = {}
        self._by_ticket: dict[str, str] = {}
        self.followers: set[tuple[str, str]] = set()  # (appid, user)
        self._scenes: dict[tuple[str, str], str] = {}  # (appid, user) -> last scene

    # -- the APIs -------------------------------------------------------------------------

    def create(self, params: dict[str, str], body: Any, base: str) -> dict[str, Any]:
        """``POST cgi-bin/qrcode/create`` (reference §2.15)."""
        app = self._apps.get(self._tokens.validate(params.get("access_token")))
        if app.kind != "official_account" or self._options.oa_unverified:
            raise SimError(48001, "api unauthorized")
        if not isinstance(body, dict):
            raise SimError(47001, "data format error")
        scene = _scene(body)
        expire = body.get("expire_seconds", 60)
        if not isinstance(expire, int) or not 0 < expire <= _MAX_EXPIRE:
            raise SimError(40009, "invalid expire_seconds")
        self._purge()
        code = "02" + random_token(20)
        ticket = base64.b64encode(secrets.token_bytes(45)).decode()
        url = f"{base}/q/{code}"
        record = QrRecord(code, app.appid, scene, ticket, url, self._clock.time() + expire)
        self.qrcodes[code] = record
        self._by_ticket[ticket] = code
        return {"ticket": ticket, "expire_seconds": expire, "url": url}

    def image(self, params: dict[str, str]) -> tuple[bytes, str]:
        """``GET cgi-bin/showqrcode?ticket=`` (reference §2.15)."""
        record = self.qrcodes.get(self._by_ticket.get(params.get("ticket", ""), ""))
        if record is None or self._clock.time() >= record.expires_at:
            raise SimError(40007, "invalid media_id")  # WeChat's answer to a dead ticket
        return encode_block_jpeg(upscale(qr_matrix(record.url), 3, 0, 255)), "image/jpeg"

    def user_info(self, params: dict[str, str]) -> dict[str, Any]:
        """``GET cgi-bin/user/info`` (reference §2.15)."""
        appid = self._tokens.validate(params.get("access_token"))
        owner = self._ids.owner(params.get("openid", ""))
        if owner is None or owner[0] != appid:
            raise SimError(40003, "invalid openid")
        user = owner[1]
        if (appid, user) not in self.followers:
            return {"subscribe": 0, "openid": params["openid"]}
        return {
            "subscribe": 1, "openid": params["openid"], "language": "zh_CN",
            "subscribe_time": int(self._clock.time()), "unionid": self._ids.unionid(user),
            "remark": "", "groupid": 0, "tagid_list": [], "subscribe_scene": "ADD_SCENE_QR_CODE",
            "qr_scene": 0, "qr_scene_str": self._scenes.get((appid, user), ""),
        }  # fmt: skip

    # -- the phone --------------------------------------------------------------------------

    def record(self, code: str) -> QrRecord:
        """A live QR code by its code (the last segment of its url); SimError otherwise."""
        record = self.qrcodes.get(code)
        if record is None or self._clock.time() >= record.expires_at:
            raise SimError(40007, "this QR code has expired")
        return record

    def scan(
        self,
        code: str,
        user: str,
        *,
        follower: bool | None = None,
        retries: int = 1,
        bad_signature: bool = False,
        stale: bool = False,
        server_url: str = "",
    ) -> list[Delivery]:
        """What WeChat pushes when ``user`` scans QR ``code`` (see module doc). ``follower``:
        None = as the simulated state says, False = a new follower (unfollows first).
        ``server_url`` overrides the app's (a test pushing to another replica)."""
        record = self.record(code)
        app = self._apps.get(record.appid)
        if server_url:
            app = dataclasses.replace(app, server_url=server_url)
        if not app.server_url or not app.server_token:
            raise SimError(-1, "the account has no server URL configured")
        key = (app.appid, user)
        already = key in self.followers if follower is None else follower
        self.followers.add(key)
        self._scenes[key] = record.scene
        record.scans += 1
        openid = self._ids.openid(app.appid, user)
        event, event_key = ("SCAN", record.scene) if already else (
            "subscribe", "qrscene_" + record.scene)  # fmt: skip
        now = int(self._clock.time())
        xml = event_xml(app.original_id, openid, now, event, event_key, record.ticket)
        return [
            self._delivery(app, openid, xml, now - 301 if stale else now, bad_signature)
            for _ in range(max(1, min(3, retries)))
        ]

    def unfollow(self, appid: str, user: str) -> None:
        self.followers.discard((appid, user))

    def _delivery(
        self, app: SimApp, openid: str, xml: bytes, timestamp: int, bad: bool
    ) -> Delivery:
        ts, nonce = str(timestamp), str(secrets.randbelow(10**10))
        query = {"signature": signature(app.server_token, ts, nonce), "timestamp": ts,
                 "nonce": nonce, "openid": openid}  # fmt: skip
        body = xml
        if app.message_mode != "plain" and app.encoding_aes_key:
            encrypt = MessageCipher(app.encoding_aes_key, app.appid).encrypt(xml)
            body = envelope_xml(app.original_id, encrypt)
            if app.message_mode == "compatible":  # both forms (§2.15)
                body = xml.replace(
                    b"</xml>", f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()
                )
            query |= {"encrypt_type": "aes",
                      "msg_signature": signature(app.server_token, ts, nonce, encrypt)}  # fmt: skip
        if bad:
            query["signature"] = "0" * 40
            if "msg_signature" in query:
                query["msg_signature"] = "0" * 40
        return Delivery(f"{app.server_url}?{urlencode(query)}", body)

    def _purge(self) -> None:
        now = self._clock.time()
        for code in [c for c, r in self.qrcodes.items() if r.expires_at + 600 < now]:
            self._by_ticket.pop(self.qrcodes.pop(code).ticket, None)


def _scene(body: dict[str, Any]) -> str:
    action, info = body.get("action_name"), body.get("action_info")
    scene = info.get("scene") if isinstance(info, dict) else None
    if not isinstance(scene, dict) or action not in ("QR_STR_SCENE", "QR_SCENE"):
        raise SimError(40053, "invalid action info")
    if action == "QR_STR_SCENE":
        value = scene.get("scene_str")
        if not isinstance(value, str) or not 0 < len(value) <= 64:
            raise SimError(40053, "invalid scene_str")
        return value
    number = scene.get("scene_id")
    if not isinstance(number, int) or number == 0 or not -(2**31) <= number < 2**32:
        raise SimError(40053, "invalid scene_id")
    return str(number)

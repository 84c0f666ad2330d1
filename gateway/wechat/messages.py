"""Official-account message pushes (flow E): signatures, safe-mode AES, XML. Pure, no I/O.

Reference §2.15:

- ``signature(token, timestamp, nonce[, encrypt])`` = ``sha1(''.join(sorted(parts)))`` hex;
  the URL handshake and every push carry ``signature`` over ``(token, T, N)``, safe-mode pushes
  also ``msg_signature`` over ``(token, T, N, Encrypt)``. Compared in constant time
  (``hmac.compare_digest``; wechatpy does not).
- ``MessageCipher``: ``AESKey = base64decode(EncodingAESKey + "=")`` (43 characters, 32
  bytes), AES-256-CBC with ``IV = AESKey[:16]``, PKCS#7 padding to a **32-byte** block;
  plaintext = 16 random bytes + 4-byte big-endian length + XML + appid. ``decrypt`` checks the
  trailing appid is ours.
- ``parse_xml``: ``defusedxml`` with DTDs, entity declarations and external references all
  refused (XXE and billion-laughs payloads fail before any expansion), flat ``<xml>`` only.
- ``verify_push``: the checks of one POST, in order, before anything is stored: signature,
  timestamp window (±300 s), XML, ``msg_signature`` and decryption in safe/compatible mode.
- Builders (``event_xml``, ``envelope_xml``, ``reply_xml``, ``encrypted_reply``) for the
  passive reply and for the simulator, which pushes what WeChat would.

Every refusal is a ``MessageRejected`` whose ``reason`` is a metric label
(``bad_signature``, ``stale``, ``malformed``); nothing here ever includes the body, the token
or the key in a message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import DefusedXmlException

__all__ = [
    "LOGIN_EVENTS",
    "MAX_EVENT_BODY",
    "TIMESTAMP_WINDOW",
    "EventMessage",
    "MessageCipher",
    "MessageMode",
    "MessageRejected",
    "Push",
    "check_signature",
    "encrypted_reply",
    "envelope_xml",
    "event_xml",
    "is_aes_key",
    "is_server_token",
    "parse_xml",
    "reply_xml",
    "signature",
    "verify_push",
]

MessageMode = Literal["plain", "compatible", "safe"]
Reason = Literal["bad_signature", "stale", "malformed"]
TIMESTAMP_WINDOW = 300  # §2.15: refuse timestamps outside ±300 s
MAX_EVENT_BODY = 64 * 1024  # an event is well under 2 KiB; anything near this is not WeChat
LOGIN_EVENTS = ("subscribe", "SCAN")
SCENE_PREFIX = "qrscene_"  # §2.15: a new follower's EventKey
_BLOCK = 32  # §2.15: WeChat pads to 32 bytes, not AES's 16
_AES_KEY_RE = re.compile(r"[A-Za-z0-9]{43}")
_TOKEN_RE = re.compile(r"[A-Za-z0-9]{3,32}")  # the OA console: 3-32 letters and digits


class MessageRejected(Exception):
    """A push or handshake refused; ``reason`` is its metric label, ``text`` safe to show."""

    def __init__(self, reason: Reason, text: str) -> None:
        super().__init__(text)
        self.reason: Reason = reason
        self.text = text


def is_aes_key(value: str) -> bool:
    """True for an EncodingAESKey: 43 letters and digits (§2.15)."""
    return _AES_KEY_RE.fullmatch(value) is not None


def is_server_token(value: str) -> bool:
    """True for a console Token: 3-32 letters and digits."""
    return _TOKEN_RE.fullmatch(value) is not None


def signature(token: str, timestamp: str, nonce: str, encrypt: str = "") -> str:
    """``sha1(''.join(sorted([token, timestamp, nonce(, encrypt)])))`` hex (§2.15)."""
    parts = [token, timestamp, nonce] + ([encrypt] if encrypt else [])
    return hashlib.sha1("".join(sorted(parts)).encode(), usedforsecurity=False).hexdigest()


def check_signature(
    given: str | None, token: str, timestamp: str, nonce: str, encrypt: str = ""
) -> bool:
    """True when ``given`` is the signature of the parts (constant-time comparison)."""
    expected = signature(token, timestamp, nonce, encrypt)
    return hmac.compare_digest(expected.encode(), (given or "").encode())


class MessageCipher:
    """Safe-mode AES of one official account (§2.15); ``appid`` is the account's."""

    def __init__(self, encoding_aes_key: str, appid: str) -> None:
        if not is_aes_key(encoding_aes_key):
            raise ValueError("EncodingAESKey must be 43 letters and digits")
        self._key = base64.b64decode(encoding_aes_key + "=")
        self._appid = appid.encode()

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, xml: bytes, random16: bytes | None = None) -> str:
        """The base64 ``Encrypt`` value of ``xml``."""
        plain = (random16 or secrets.token_bytes(16)) + struct.pack(">I", len(xml))
        plain += xml + self._appid
        pad = _BLOCK - len(plain) % _BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def decrypt(self, encrypt: str) -> bytes:
        """The message XML inside ``encrypt``; MessageRejected when it is not ours."""
        try:
            raw = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError):
            raise MessageRejected("malformed", "Encrypt is not base64") from None
        if not raw or len(raw) % 16:
            raise MessageRejected("malformed", "Encrypt has a bad length")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= _BLOCK or plain[-pad:] != bytes([pad]) * pad or len(plain) < 20 + pad:
            raise MessageRejected("malformed", "Encrypt does not decrypt")
        plain = plain[:-pad]
        (length,) = struct.unpack(">I", plain[16:20])
        xml, appid = plain[20 : 20 + length], plain[20 + length :]
        if len(xml) != length:
            raise MessageRejected("malformed", "Encrypt does not decrypt")
        if not hmac.compare_digest(appid, self._appid):
            raise MessageRejected("bad_signature", "the message is for another account")
        return xml


def parse_xml(body: bytes) -> dict[str, str]:
    """The children of a flat ``<xml>`` document as text; DTDs and entities refused."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    # LookupError: an XML declaration naming an encoding Python lacks ("bogus", "rot13")
    except (DefusedXmlException, ParseError, ValueError, LookupError):
        raise MessageRejected("malformed", "the body is not acceptable XML") from None
    if root.tag != "xml":
        raise MessageRejected("malformed", "the body is not an <xml> message")
    return {child.tag: (child.text or "").strip() for child in root}


@dataclass(frozen=True, slots=True)
class EventMessage:
    """One event push (§2.15). ``scene`` is the login scene it carries, if any."""

    to_user: str
    from_user: str
    create_time: str
    msg_type: str
    event: str
    event_key: str
    ticket: str

    @classmethod
    def of(cls, fields: Mapping[str, str]) -> EventMessage:
        if not fields.get("FromUserName") or not fields.get("CreateTime", "").isdigit():
            raise MessageRejected("malformed", "FromUserName and CreateTime are required")
        return cls(
            fields.get("ToUserName", ""), fields["FromUserName"], fields["CreateTime"],
            fields.get("MsgType", ""), fields.get("Event", ""), fields.get("EventKey", ""),
            fields.get("Ticket", ""),
        )  # fmt: skip

    @property
    def dedupe_key(self) -> str:
        """``FromUserName + CreateTime``: WeChat's own advice for its retries (§2.15)."""
        return f"{self.from_user}:{self.create_time}"

    @property
    def scene(self) -> str | None:
        """The parametric QR's scene: ``subscribe`` carries ``qrscene_<scene>``, ``SCAN``
        carries ``<scene>``; a ``subscribe`` without EventKey is an ordinary follow (§2.15)."""
        if self.msg_type != "event":
            return None
        if self.event == "subscribe" and self.event_key.startswith(SCENE_PREFIX):
            return self.event_key[len(SCENE_PREFIX) :] or None
        if self.event == "SCAN":
            return self.event_key or None
        return None


@dataclass(frozen=True, slots=True)
class Push:
    """A verified push: the event, and whether it came encrypted (then replies are too)."""

    message: EventMessage
    encrypted: bool


def _is_timestamp(value: str) -> bool:
    """Epoch seconds as WeChat writes them: ASCII digits, a sane length (``str.isdigit``
    also holds for "²", which ``int`` refuses, and ``int`` refuses over 4,300 digits)."""
    return 0 < len(value) <= 12 and value.isascii() and value.isdigit()


def verify_push(
    params: Mapping[str, str],
    body: bytes,
    *,
    token: str,
    mode: MessageMode,
    cipher: MessageCipher | None,
    now: float,
) -> Push:
    """Every check of one POST that needs no state (see module doc); MessageRejected."""
    timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
    if not check_signature(params.get("signature"), token, timestamp, nonce):
        raise MessageRejected("bad_signature", "signature does not match")
    if not _is_timestamp(timestamp) or abs(now - int(timestamp)) > TIMESTAMP_WINDOW:
        raise MessageRejected("stale", "timestamp outside the ±300 s window")
    fields = parse_xml(body)
    encrypted = params.get("encrypt_type") == "aes" or "Encrypt" in fields
    if mode == "safe" and not encrypted:
        raise MessageRejected("malformed", "safe mode accepts encrypted messages only")
    if encrypted:
        if cipher is None or mode == "plain":
            raise MessageRejected("malformed", "encrypted messages are not configured")
        encrypt = fields.get("Encrypt", "")
        given = params.get("msg_signature")
        if not encrypt or not check_signature(given, token, timestamp, nonce, encrypt):
            raise MessageRejected("bad_signature", "msg_signature does not match")
        fields = parse_xml(cipher.decrypt(encrypt))
    return Push(EventMessage.of(fields), encrypted)


# -- builders (the passive reply; the simulator's pushes) ----------------------------------


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def event_xml(
    to_user: str, from_user: str, create_time: int, event: str, event_key: str, ticket: str
) -> bytes:
    """A plain event push as WeChat sends it (§2.15)."""
    return (
        f"<xml><ToUserName>{_cdata(to_user)}</ToUserName>"
        f"<FromUserName>{_cdata(from_user)}</FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType>{_cdata('event')}</MsgType>"
        f"<Event>{_cdata(event)}</Event><EventKey>{_cdata(event_key)}</EventKey>"
        f"<Ticket>{_cdata(ticket)}</Ticket></xml>"
    ).encode()


def envelope_xml(to_user: str, encrypt: str) -> bytes:
    """A safe-mode push body: ``ToUserName`` and ``Encrypt`` (§2.15)."""
    return f"<xml><ToUserName>{_cdata(to_user)}</ToUserName><Encrypt>{_cdata(encrypt)}</Encrypt></xml>".encode()  # noqa: E501


def reply_xml(to_user: str, from_user: str, create_time: int, content: str) -> bytes:
    """A passive text reply (§2.15)."""
    return (
        f"<xml><ToUserName>{_cdata(to_user)}</ToUserName>"
        f"<FromUserName>{_cdata(from_user)}</FromUserName><CreateTime>{create_time}</CreateTime>"
        f"<MsgType>{_cdata('text')}</MsgType><Content>{_cdata(content)}</Content></xml>"
    ).encode()


def encrypted_reply(cipher: MessageCipher, token: str, xml: bytes, timestamp: int) -> bytes:
    """A safe-mode reply: ``Encrypt``, ``MsgSignature``, ``TimeStamp``, ``Nonce`` (§2.15)."""
    encrypt = cipher.encrypt(xml)
    nonce = str(secrets.randbelow(10**9))
    sig = signature(token, str(timestamp), nonce, encrypt)
    return (
        f"<xml><Encrypt>{_cdata(encrypt)}</Encrypt><MsgSignature>{_cdata(sig)}</MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{_cdata(nonce)}</Nonce></xml>"
    ).encode()

"""``server/wechat_events``: the official account's server URL (flow E): WeChat's handshake
and its signed event pushes."""

from __future__ import annotations

from gateway.config import Config
from gateway.server.openapi.spec import Paths, error, op, param, responses

__all__ = ["paths"]

_TAG = "wechat_events"
_TEXT = {"text/plain": {"schema": {"type": "string"}}}
_SIGNED = [param("signature"), param("timestamp"), param("nonce")]
# A flat <xml> document (reference §2.15): an event in plain mode; in safe mode only
# ToUserName and Encrypt, whose decrypted text is such a document again.
_MESSAGE = {
    "type": "object",
    "xml": {"name": "xml"},
    "properties": {
        **{name: {"type": "string"} for name in (
            "ToUserName", "MsgType", "Event", "EventKey", "Ticket", "Encrypt")},
        "FromUserName": {"type": "string", "minLength": 1},
        "CreateTime": {"type": "integer", "minimum": 0},
    },
    "anyOf": [{"required": ["FromUserName", "CreateTime"]}, {"required": ["Encrypt"]}],
}  # fmt: skip


def paths(config: Config) -> Paths:
    del config
    app = param("app", "path", description="the official account's name in config (`mp` in dev)")
    forbidden = error(403, "`invalid_signature` (`signature` or `msg_signature`), or a "
                      "safe-mode body for another account")  # fmt: skip
    reply = {"description": "`success` (text/plain), or the welcome text as a passive reply "
             "(application/xml; encrypted when the push was)",
             "content": {**_TEXT, "application/xml": {"schema": {"type": "string"}}}}  # fmt: skip
    push = {"required": False, "content": {
        "application/xml": {"schema": _MESSAGE}, "text/xml": {"schema": _MESSAGE}}}  # fmt: skip
    return {
        "/auth/wechat/{app}/events": {
            "get": op("The server URL handshake: `echostr` when `signature` matches", _TAG,
                responses(404, _200={"description": "`echostr`", "content": _TEXT},
                          _403=forbidden),
                parameters=[app, *_SIGNED, param("echostr")]),
            "post": op("An event push (`subscribe`, `SCAN`: a follow-login)", _TAG,
                responses(404, 413, 503, _200=reply, _403=forbidden,
                          _409=error(409, "`replayed_request`: this timestamp and nonce were "
                                     "seen in the last 600 s"), _400=error(
                    400, "`stale_timestamp` (over 300 s off), `malformed_message` (XML with a "
                    "DTD or entities, a missing field, a plaintext body in safe mode)")),
                parameters=[app, *_SIGNED, param("openid"),
                            param("encrypt_type", description="`aes`: safe-mode body"),
                            param("msg_signature")],
                requestBody=push),
        },
    }  # fmt: skip

"""The records behind refresh tokens: a login session (refresh family) and a token pair.

Store keys: ``tokens:session:<sid>`` holds a ``Session`` (flat string fields, ``state`` active
or revoked); ``tokens:refresh:<sha256 hex of the token>`` holds one refresh token's state. The
token itself is never stored. ``tokens:user:<sub>`` is the per-user index of sessions: an
expiring set of sids, each member expiring with its session, so the index empties itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Session",
    "SessionClient",
    "TokenPair",
    "linked_key",
    "refresh_key",
    "session_key",
    "user_sessions_key",
]


def session_key(sid: str) -> str:
    return f"tokens:session:{sid}"


def user_sessions_key(sub: str) -> str:
    """The sessions of user ``sub`` (an expiring set: sid -> the session's end)."""
    return f"tokens:user:{sub}"


def linked_key(op_sid: str) -> str:
    """The client sessions authorized in browser session ``op_sid`` (``c:<sid>`` fields)."""
    return f"tokens:linked:{op_sid}"


def refresh_key(token: str) -> str:
    return f"tokens:refresh:{hashlib.sha256(token.encode()).hexdigest()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenPair:
    """An access token and the refresh token that renews it (RFC 6749 §5.1)."""

    access_token: str = field(repr=False)
    token_type: str = "Bearer"
    expires_in: int
    refresh_token: str = field(repr=False)
    sid: str
    scope: str | None = None
    client_id: str = ""  # "" for the gateway's own sessions

    def as_response(self) -> dict[str, Any]:
        """The token endpoint's JSON body."""
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
        }
        if self.scope:
            body["scope"] = self.scope
        return body


@dataclass(frozen=True, slots=True)
class SessionClient:
    """What binds a new session to an OpenID Provider client: the client, its tokens'
    audience, when the user authenticated, the browser session it was authorized in, and the
    session id to use (chosen when the authorization code was issued, so a replayed code can
    name the session to revoke)."""

    client_id: str
    audience: str
    auth_time: float
    op_sid: str
    sid: str = ""


@dataclass(frozen=True, slots=True)
class Session:
    """A login session (refresh family) and the identity its access tokens carry."""

    sid: str
    sub: str
    amr: tuple[str, ...]
    created_at: float
    expires_at: float
    appid: str = ""
    openid: str = ""
    unionid: str = ""
    scope: str = ""
    # an OpenID Provider client's session: its client, the audience of its access tokens,
    # when the user authenticated, and the browser (OP) session it was authorized in
    client_id: str = ""
    audience: str = ""
    auth_time: str = ""
    op_sid: str = ""
    # where and how it started (for the person and their operators; never a secret), and
    # when its refresh token was last rotated ("" = never)
    client_ip: str = ""
    user_agent: str = ""
    refreshed_at: str = ""

    def record(self) -> dict[str, str]:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields.update(state="active", amr=json.dumps(list(self.amr)))
        return {k: str(v) for k, v in fields.items()}

    @classmethod
    def from_record(cls, rec: dict[str, str]) -> Session:
        """Raises KeyError/ValueError/TypeError on a record this code did not write."""
        amr = json.loads(rec["amr"])
        if not isinstance(amr, list):
            raise TypeError("amr")
        names = ("appid", "openid", "unionid", "scope", "client_id", "audience", "auth_time",
                 "op_sid", "client_ip", "user_agent", "refreshed_at")  # fmt: skip
        optional = {name: rec.get(name, "") for name in names}
        return cls(
            sid=rec["sid"],
            sub=rec["sub"],
            amr=tuple(str(a) for a in amr),
            created_at=float(rec["created_at"]),
            expires_at=float(rec["expires_at"]),
            **optional,
        )

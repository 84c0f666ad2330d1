"""Verified access-token claims, the typed rejection, and the claim rules (pure functions).

Rules (RFC 7519 §4.1, RFC 9068 §4, RFC 8725 §3): ``iss``, ``sub``, ``aud``, ``exp``, ``iat``,
``jti``, ``sid`` are required; ``iss`` must equal the configured issuer, ``aud`` (string or list)
must contain the expected audience; the token is expired once ``now >= exp + leeway``, not yet
valid while ``now + leeway < nbf`` or ``now + leeway < iat`` (an ``iat`` in the future means a
forged or badly clocked token). Numeric dates must be finite JSON numbers (not booleans,
strings, NaN or an infinity such as ``1e400`` parses to). A token whose ``exp - iat`` exceeds
``tokens.max_lifetime`` is refused (``too_long_lived``) however well it is signed, so not even
a holder of the signing key can mint a token the gateway accepts for years.
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import InvalidToken

__all__ = [
    "AccessClaims",
    "TokenExpired",
    "TokenRejected",
    "TokenRevoked",
    "WrongAudience",
    "bearer_challenge",
    "validate_claims",
]

_DESCRIPTIONS = {
    "expired": "the access token has expired",
    "revoked": "the access token has been revoked",
    "not_yet_valid": "the access token is not valid yet",
}


def bearer_challenge(
    description: str | None = None, *, error: str | None = "invalid_token"
) -> dict[str, str]:
    """``WWW-Authenticate`` for a bearer-token resource (RFC 6750 §3): ``error`` is None when
    no token was presented (§3.1: no error code then), ``invalid_token`` for a rejected one,
    ``insufficient_scope`` for a valid token that does not reach the resource."""
    value = 'Bearer realm="wxgate"'
    if error:
        value += f', error="{error}"'
    if description:
        value += f', error_description="{description}"'
    return {"WWW-Authenticate": value}


class TokenRejected(InvalidToken):
    """401 ``invalid_token``; ``reason`` is the bounded metric label (never shown to clients).

    The description is generic: it never echoes the token or says which check failed beyond
    expired/revoked/not-yet-valid, which a legitimate client needs to know.
    """

    def __init__(self, reason: str) -> None:
        description = _DESCRIPTIONS.get(reason, "the access token is invalid")
        super().__init__(description, headers=bearer_challenge(description))
        self.reason = reason


class TokenExpired(TokenRejected):
    """The token was valid once and has expired (``exp`` passed)."""

    def __init__(self) -> None:
        super().__init__("expired")


class TokenRevoked(TokenRejected):
    """The token, or its whole session, has been revoked."""

    def __init__(self) -> None:
        super().__init__("revoked")


class WrongAudience(TokenRejected):
    """A valid token, but not meant for the audience asked for (``aud``)."""

    def __init__(self) -> None:
        super().__init__("wrong_audience")


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The claims of a verified access token. ``raw`` is the full payload, read-only."""

    sub: str
    sid: str
    jti: str
    exp: int
    iat: int
    aud: tuple[str, ...]
    amr: tuple[str, ...]
    scope: str | None
    appid: str | None
    openid: str | None
    unionid: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    # the roles claim (``authz.roles_claim``): as issued (sorted), and as a set for decisions
    role_list: tuple[str, ...] = ()
    roles: frozenset[str] = frozenset()

    @property
    def scopes(self) -> frozenset[str]:
        """The space-separated ``scope`` claim as a set (RFC 6749 §3.3)."""
        return frozenset(self.scope.split()) if self.scope else frozenset()


def _required(claims: dict[str, Any]) -> tuple[str, str, str, str]:
    """``iss``, ``sub``, ``jti``, ``sid``: present (and ``aud``, ``exp``, ``iat``), non-empty
    strings."""
    get = claims.get
    iss, sub, jti, sid = get("iss"), get("sub"), get("jti"), get("sid")
    if None in (iss, sub, jti, sid, get("aud"), get("exp"), get("iat")):
        raise TokenRejected("missing_claim")
    if not (type(iss) is str and type(sub) is str and type(jti) is str and type(sid) is str):
        raise TokenRejected("malformed")
    if not (sub and jti and sid):
        raise TokenRejected("malformed")
    return iss, sub, jti, sid


def _strings(value: Any, *, allow_str: bool) -> tuple[str, ...]:
    if type(value) is str and allow_str:
        return (value,)
    if type(value) is list:
        for item in value:
            if type(item) is not str:
                raise TokenRejected("malformed")
        return tuple(value)
    raise TokenRejected("malformed")


def _is_date(value: Any) -> bool:
    """A NumericDate (RFC 7519 §2): a finite JSON number. Exact types (``type(x) is``): a bool
    is not a number here, and the check stays cheap."""
    return type(value) is int or (type(value) is float and math.isfinite(value))


def _check_times(claims: dict[str, Any], now: float, leeway: float, max_lifetime: float) -> None:
    exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf")
    if not (_is_date(exp) and _is_date(iat) and (nbf is None or _is_date(nbf))):
        raise TokenRejected("malformed")
    if exp - iat > max_lifetime:
        raise TokenRejected("too_long_lived")
    if now >= exp + leeway:
        raise TokenExpired()
    if now + leeway < iat or (nbf is not None and now + leeway < nbf):
        raise TokenRejected("not_yet_valid")


def _optional(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is not None and type(value) is not str:
        raise TokenRejected("malformed")
    return value


def validate_claims(
    claims: dict[str, Any],
    *,
    issuer: str,
    audience: str,
    now: float,
    leeway: float,
    max_lifetime: float,
    roles_claim: str = "roles",
) -> AccessClaims:
    """The typed claims of a signature-checked payload, or TokenRejected. ``claims`` is
    kept (read-only view) as ``AccessClaims.raw``: the caller must not modify it after.
    ``max_lifetime``: the longest ``exp - iat`` accepted (``tokens.max_lifetime``).
    ``roles_claim``: the claim holding the user's roles (a list of strings, or absent)."""
    iss, sub, jti, sid = _required(claims)
    if iss != issuer:
        raise TokenRejected("wrong_issuer")
    aud = _strings(claims["aud"], allow_str=True)
    if audience not in aud:
        raise WrongAudience()
    _check_times(claims, now, leeway, max_lifetime)
    amr = claims.get("amr")
    roles = claims.get(roles_claim)
    role_list = () if roles is None else _strings(roles, allow_str=False)
    return AccessClaims(
        sub=sub,
        sid=sid,
        jti=jti,
        exp=int(claims["exp"]),
        iat=int(claims["iat"]),
        aud=aud,
        amr=() if amr is None else _strings(amr, allow_str=False),
        scope=_optional(claims, "scope"),
        appid=_optional(claims, "appid"),
        openid=_optional(claims, "openid"),
        unionid=_optional(claims, "unionid"),
        raw=types.MappingProxyType(claims),
        role_list=role_list,
        roles=frozenset(role_list),
    )

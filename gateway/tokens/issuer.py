"""Minting JWT access tokens (RFC 9068 profile, RFC 7519 claims).

Header: ``{"alg", "kid", "typ": "at+jwt"}``. Claims: ``iss``, ``sub`` (the gateway's stable user
id, never a WeChat openid), ``aud`` (configured), ``exp``, ``iat``, ``jti`` (128-bit random),
``sid`` (the login session = refresh family), ``client_id`` (RFC 9068 §2.2 requires it: always
``CLIENT_ID``, the gateway itself, which obtained the token for the browser or app), ``amr``
(RFC 8176 style, e.g. ``["wechat_qr"]``), ``scope`` when configured, and ``appid``/``openid``/
``unionid`` when known, and the user's roles (``authz.roles_claim``, sorted, at most
``authz.max_roles``: the first ones in sorted order are kept, with a warning) when it has any.
An OpenID Provider client's tokens name that client and its audience, and every token carries
``auth_time`` when the login time is known.

``nbf`` is deliberately omitted: it would equal ``iat``, and a verifier whose clock runs a little
behind ours (and applies no leeway to ``nbf``) would reject a fresh token.

Signing uses ``cryptography`` directly on the pre-loaded key object (``jws.sign``); the header
segment is pre-encoded per key, so a token costs one RSA sign plus a small JSON dump.
``issue_async`` (the server's login and refresh paths) signs on the signing thread
(``jws.sign_off_loop``: the event loop serves other requests between two signatures);
``issue`` signs inline (the CLI, scripts).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Required, TypedDict, Unpack

from gateway.clock import Clock
from gateway.metrics import Metrics
from gateway.tokens.jws import b64url_encode, sign, sign_off_loop
from gateway.tokens.keyfiles import KeyFile
from gateway.tokens.keys import KeyRing
from gateway.tokens.metrics import TokenMetrics

__all__ = ["CLIENT_ID", "AccessTokenIssuer", "IssueOptions", "IssuedToken", "new_id"]

# One encoder for every token: ``json.dumps`` with non-default arguments builds a new one
# per call, which costs about as much as the encoding itself.
_compact_json = json.JSONEncoder(separators=(",", ":")).encode
log = logging.getLogger(__name__)

#: The ``client_id`` claim of every access token the gateway mints (RFC 9068 §2.2).
CLIENT_ID = "wxgate"


def new_id() -> str:
    """A fresh 128-bit random identifier (``jti``, ``sid``), URL-safe."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A freshly signed access token and the claims callers need to remember."""

    token: str = field(repr=False)
    jti: str
    sid: str
    iat: int
    exp: int


class IssueOptions(TypedDict, total=False):
    """What ``issue`` takes besides ``sub`` (see ``AccessTokenIssuer.issue``)."""

    sid: Required[str]
    amr: Required[Sequence[str]]
    appid: str | None
    openid: str | None
    unionid: str | None
    scope: str | None
    ttl: int | None
    not_after: float | None
    client_id: str
    audience: str | None
    auth_time: float | None
    roles: Collection[str]


class AccessTokenIssuer:
    """Signs access tokens with the ring's active key."""

    def __init__(
        self,
        ring: KeyRing,
        *,
        issuer: str,
        audience: str,
        access_ttl: int,
        scope: str,
        clock: Clock,
        metrics: Metrics | None = None,
        roles_claim: str = "roles",
        max_roles: int = 32,
    ) -> None:
        self._ring = ring
        self._roles_claim = roles_claim
        self._max_roles = max_roles
        self._issuer = issuer
        self._audience = audience
        self._ttl = access_ttl
        self._scope = scope
        self._clock = clock
        self._issued = metrics.of(TokenMetrics).issued.labels(kind="access") if metrics else None

    def issue(self, sub: str, **options: Unpack[IssueOptions]) -> IssuedToken:
        """Sign an access token for ``sub`` in session ``sid``.

        ``ttl`` defaults to ``tokens.access_ttl``; ``not_after`` caps ``exp`` (the end of the
        refresh family, so an access token never outlives its session). ``scope`` overrides
        the configured scope. ``client_id``/``audience``: an OpenID Provider client's token
        (its id and its audience) instead of the gateway's own. ``auth_time``: when the user
        authenticated (RFC 9068 §2.2.1). ``roles``: the user's roles (module doc). Raises
        KeyRingError when no key is active.
        """
        key, signing_input, draft = self._unsigned(sub, options)
        return self._signed(draft, signing_input, sign(key.private_key, signing_input.encode()))

    async def issue_async(self, sub: str, **options: Unpack[IssueOptions]) -> IssuedToken:
        """``issue``, signing on the signing thread (module doc)."""
        key, signing_input, draft = self._unsigned(sub, options)
        signature = await sign_off_loop(key.private_key, signing_input.encode())
        return self._signed(draft, signing_input, signature)

    def _unsigned(self, sub: str, options: IssueOptions) -> tuple[KeyFile, str, IssuedToken]:
        """The key, the JWS signing input and the token's facts (``token`` still empty)."""
        if not sub:
            raise ValueError("sub must not be empty")
        key = self._ring.signing_key()
        iat = int(self._clock.time())
        ttl = options.get("ttl")
        exp = iat + (ttl if ttl is not None else self._ttl)
        not_after = options.get("not_after")
        if not_after is not None:
            exp = max(iat + 1, min(exp, int(not_after)))
        claims: dict[str, object] = {
            "iss": self._issuer,
            "sub": sub,
            "aud": options.get("audience") or self._audience,
            "exp": exp,
            "iat": iat,
            "jti": new_id(),
            "sid": options["sid"],
            "client_id": options.get("client_id", CLIENT_ID),
            "amr": list(options["amr"]),
        }
        auth_time = options.get("auth_time")
        if auth_time is not None:
            claims["auth_time"] = int(auth_time)
        scope = options.get("scope")
        optional = {
            "scope": scope if scope is not None else self._scope,
            "appid": options.get("appid"),
            "openid": options.get("openid"),
            "unionid": options.get("unionid"),
        }
        claims.update({name: value for name, value in optional.items() if value})
        roles = options.get("roles", ())
        if roles:
            claims[self._roles_claim] = self._bounded(sub, roles)
        payload = b64url_encode(_compact_json(claims).encode())
        draft = IssuedToken("", str(claims["jti"]), options["sid"], iat, exp)
        return key, f"{key.header}.{payload}", draft

    def _signed(self, draft: IssuedToken, signing_input: str, sig: bytes) -> IssuedToken:
        if self._issued is not None:
            self._issued.inc()
        return replace(draft, token=f"{signing_input}.{b64url_encode(sig)}")

    def _bounded(self, sub: str, roles: Collection[str]) -> list[str]:
        ordered = sorted(roles)
        if len(ordered) > self._max_roles:
            log.warning(
                "user %s has %d roles; the token carries the first %d (authz.max_roles)",
                sub, len(ordered), self._max_roles,
            )  # fmt: skip
            del ordered[self._max_roles :]
        return ordered

    def sign_jwt(self, claims: Mapping[str, object], typ: str) -> tuple[str, str]:
        """Sign other JWTs of the issuer (ID tokens ``typ="JWT"``, logout tokens
        ``typ="logout+jwt"``) with the active key; returns the token and the key's alg."""
        key = self._ring.signing_key()
        header = {"alg": key.alg, "kid": key.kid, "typ": typ}
        signing_input = (
            f"{b64url_encode(_compact_json(header).encode())}."
            f"{b64url_encode(_compact_json(dict(claims)).encode())}"
        )
        signature = b64url_encode(sign(key.private_key, signing_input.encode("ascii")))
        return f"{signing_input}.{signature}", key.alg

"""Access-token verification: decode AND validate, algorithm pinned, plus a cache of results.

Full path (RFC 7515 §5.2, RFC 8725 §3.1, RFC 9068 §4):

1. size capped (``tokens.max_token_bytes``) before anything else is done with the string;
2. three base64url segments; the protected header must name the configured ``alg`` (``none``,
   ``HS*`` — including an HMAC "signed" with our public key — and the other asymmetric
   algorithms are refused before any key is touched), ``typ`` ``at+jwt`` (or
   ``application/at+jwt``), no ``crit``, and a ``kid`` published in the ring. Headers such as
   ``jwk``/``jku``/``x5u`` are never used to find a key;
3. the signature is checked with that key, and only then is the payload parsed;
4. claims are validated (``claims.validate_claims``: finite dates, ``exp - iat`` at most
   ``tokens.max_lifetime``), then revoked ``jti``/``sid`` refused. The JSON parser refuses the
   ``NaN``/``Infinity`` literals Python's ``json`` would otherwise accept.

Cache: a bounded LRU (``tokens.verify_cache_size``, 0 disables it) maps a token string to its
``AccessClaims``. An entry is used only while ``now < exp`` (no leeway), is re-checked against
the revocation sets and the requested audience on every hit, and the whole cache is cleared when
a key is dropped (``KeyRing.on_drop``). ``verify`` is synchronous; a hit costs a dict lookup.

This module never logs: not the token, not its claims.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol

from gateway.clock import Clock
from gateway.metrics import Metrics
from gateway.tokens.claims import (
    AccessClaims,
    TokenRejected,
    TokenRevoked,
    WrongAudience,
    validate_claims,
)
from gateway.tokens.jws import ACCESS_TOKEN_TYPE, b64url_decode, verify
from gateway.tokens.keyfiles import KeyFile
from gateway.tokens.keys import KeyRing
from gateway.tokens.metrics import TokenMetrics

__all__ = ["REASONS", "RevokedSets", "Verifier"]

#: Every ``result`` label ``wxgate_token_verifications_total`` can carry.
REASONS = (
    "ok",
    "expired",
    "bad_signature",
    "bad_algorithm",
    "unknown_kid",
    "revoked",
    "malformed",
    "wrong_audience",
    "wrong_issuer",
    "wrong_type",
    "not_yet_valid",
    "too_large",
    "missing_claim",
    "too_long_lived",
)
_TYPES = (ACCESS_TOKEN_TYPE, f"application/{ACCESS_TOKEN_TYPE}")


class RevokedSets(Protocol):
    """The local revocation copy: id -> expiry, mutated in place (never rebound)."""

    @property
    def jtis(self) -> Mapping[str, float]: ...

    @property
    def sids(self) -> Mapping[str, float]: ...


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):  # RFC 7515 §5.2 step 4: reject duplicate header names
        raise ValueError("duplicate member")
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # RFC 8259 §6: no NaN or Infinity


# Strict JSON (Python's json accepts NaN/Infinity/-Infinity); built once: json.loads with any
# keyword argument builds a new decoder per call, a cost on the cold verification path.
_PAYLOAD = json.JSONDecoder(parse_constant=_no_constant)
_HEADER = json.JSONDecoder(parse_constant=_no_constant, object_pairs_hook=_no_duplicates)


def _loads(data: bytes, decoder: json.JSONDecoder = _PAYLOAD) -> Any:
    """``data`` (UTF-8, RFC 7519 §7.2) parsed as strict JSON; ValueError if it is not."""
    return decoder.decode(data.decode("utf-8"))


class Verifier:
    """Verifies access tokens minted by this gateway (or any replica sharing its keys)."""

    def __init__(
        self,
        ring: KeyRing,
        revoked: RevokedSets,
        *,
        issuer: str,
        audience: str,
        leeway: float,
        max_lifetime: float,
        max_token_bytes: int,
        cache_size: int,
        clock: Clock,
        metrics: Metrics | None = None,
        roles_claim: str = "roles",
    ) -> None:
        self._ring = ring
        self._roles_claim = roles_claim
        self._revoked_jti = revoked.jtis
        self._revoked_sid = revoked.sids
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._max_lifetime = max_lifetime
        self._max_bytes = max_token_bytes
        self._cache_size = cache_size
        self._clock = clock
        self._cache: OrderedDict[str, AccessClaims] = OrderedDict()
        self._metrics = metrics.of(TokenMetrics) if metrics else None
        self._ok = self._metrics.verifications.labels(result="ok") if self._metrics else None
        ring.on_drop(self.clear_cache)

    def verify(self, token: str, *, audience: str | None = None) -> AccessClaims:
        """The claims of a valid, unrevoked token for ``audience`` (default: configured).

        Raises TokenRejected (an InvalidToken, 401) with ``reason`` as the metric label.
        """
        try:
            claims = self._verify(token, audience or self._audience)
        except TokenRejected as exc:
            if self._metrics is not None:
                self._metrics.verifications.labels(result=exc.reason).inc()
            raise
        if self._ok is not None:
            self._ok.inc()
        return claims

    def _verify(self, token: str, audience: str) -> AccessClaims:
        if not isinstance(token, str) or len(token) > self._max_bytes:
            raise TokenRejected("too_large" if isinstance(token, str) else "malformed")
        now = self._clock.time()
        if now >= self._ring.next_change:
            self._ring.update(now)  # may drop a key, which clears the cache
        claims = self._cache.get(token)
        if claims is not None and now < claims.exp:
            self._cache.move_to_end(token)
            if audience not in claims.aud:
                raise WrongAudience()
        else:
            if claims is not None:  # past exp: never served again, re-verified with leeway
                del self._cache[token]
            claims = self._decode(token, now, audience)
            self._remember(token, claims, now)
        if claims.jti in self._revoked_jti or claims.sid in self._revoked_sid:
            raise TokenRevoked()
        return claims

    def _remember(self, token: str, claims: AccessClaims, now: float) -> None:
        if self._cache_size <= 0 or now >= claims.exp:
            self._cache.pop(token, None)
            return
        self._cache[token] = claims
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _decode(self, token: str, now: float, audience: str) -> AccessClaims:
        header, sep, rest = token.partition(".")
        payload, sep2, signature = rest.partition(".")
        if not (sep and sep2) or "." in signature:
            raise TokenRejected("malformed")
        key = self._ring.by_header.get(header) or self._key_for(header)
        try:
            signing_input = token[: len(header) + 1 + len(payload)].encode("ascii")
            sig = b64url_decode(signature)
        except ValueError as exc:  # includes UnicodeEncodeError
            raise TokenRejected("malformed") from exc
        if not verify(key.public_key, sig, signing_input):
            raise TokenRejected("bad_signature")
        try:
            claims = _loads(b64url_decode(payload))
        except (ValueError, RecursionError) as exc:
            raise TokenRejected("malformed") from exc
        if not isinstance(claims, dict):
            raise TokenRejected("malformed")
        return validate_claims(
            claims,
            issuer=self._issuer,
            audience=audience,
            now=now,
            leeway=self._leeway,
            max_lifetime=self._max_lifetime,
            roles_claim=self._roles_claim,
        )

    def id_token_hint(self, token: str) -> dict[str, Any] | None:
        """The claims of an ID token this issuer signed (OIDC RP-Initiated Logout §2:
        ``id_token_hint``; it may have expired), or None for anything else."""
        header, sep, rest = token.partition(".") if len(token) <= self._max_bytes else ("", "", "")
        payload, sep2, signature = rest.partition(".")
        if not (sep and sep2) or "." in signature:
            return None
        try:
            head = _loads(b64url_decode(header))
            kid = head.get("kid") if isinstance(head, dict) else None
            key = self._ring.by_kid.get(kid) if isinstance(kid, str) else None
            if key is None or head.get("alg") != key.alg or head.get("typ") != "JWT":
                return None
            sig = b64url_decode(signature)
            signing_input = token[: len(header) + 1 + len(payload)].encode("ascii")
            if not verify(key.public_key, sig, signing_input):
                return None
            claims = _loads(b64url_decode(payload))
        except (ValueError, RecursionError, TypeError):
            return None
        if not isinstance(claims, dict) or claims.get("iss") != self._issuer:
            return None
        return claims

    def _key_for(self, segment: str) -> KeyFile:
        """The key named by a header we did not write byte-for-byte; checks every member."""
        try:
            header = _loads(b64url_decode(segment), _HEADER)
        except (ValueError, RecursionError) as exc:
            raise TokenRejected("malformed") from exc
        if not isinstance(header, dict):
            raise TokenRejected("malformed")
        if header.get("alg") != self._ring.algorithm:
            raise TokenRejected("bad_algorithm")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _TYPES:
            raise TokenRejected("wrong_type")
        if "crit" in header or header.get("b64") is not None:  # no extension is understood
            raise TokenRejected("malformed")
        kid = header.get("kid")
        key = self._ring.by_kid.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenRejected("unknown_kid")
        return key

    def clear_cache(self) -> None:
        """Forget every cached verification (a key was dropped)."""
        self._cache.clear()

    def forget_session(self, sid: str) -> None:
        """Forget cached verifications of session ``sid`` (it was revoked)."""
        for token in [t for t, c in self._cache.items() if c.sid == sid]:
            del self._cache[token]

    def forget_jti(self, jti: str) -> None:
        """Forget the cached verification of token ``jti`` (it was revoked)."""
        for token in [t for t, c in self._cache.items() if c.jti == jti]:
            del self._cache[token]

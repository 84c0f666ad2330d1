"""Claims by scope (OIDC Core §5.4), the ID token's claims (§2, §3.1.3.6) and pairwise
subjects (§8.1). Pure functions.

Scopes → claims: ``profile`` → ``nickname``, ``picture``; ``phone`` → ``phone_number``,
``phone_number_verified``; ``wechat`` (ours) → ``openid``, ``unionid``, ``appid``; ``roles``
(ours, as Keycloak's) → the user's roles under ``authz.roles_claim``. Only claims with values
are returned.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

__all__ = ["at_hash", "id_token_claims", "pairwise_subject", "scoped_claims"]


def scoped_claims(
    scopes: tuple[str, ...] | frozenset[str],
    known: Mapping[str, Any],
    roles_claim: str = "roles",
) -> dict[str, Any]:
    """The claims ``scopes`` allow out of ``known`` (nickname, picture, phone_number, openid,
    unionid, appid, roles), those with values only; the roles go under ``roles_claim``."""
    out: dict[str, Any] = {}
    if "roles" in scopes and known.get("roles"):
        out[roles_claim] = sorted(known["roles"])
    if "profile" in scopes:
        out.update(nickname=known.get("nickname"), picture=known.get("picture"))
    if "phone" in scopes and known.get("phone_number"):
        out.update(phone_number=known["phone_number"], phone_number_verified=True)
    if "wechat" in scopes:
        out.update(
            openid=known.get("openid"), unionid=known.get("unionid"), appid=known.get("appid")
        )
    return {k: v for k, v in out.items() if v not in (None, "")}


def at_hash(access_token: str) -> str:
    """OIDC Core §3.1.3.6: base64url of the left half of SHA-256 of the ASCII access token
    (the hash of the ID token's alg: RS256 and ES256 both use SHA-256)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def id_token_claims(
    *,
    issuer: str,
    sub: str,
    client_id: str,
    now: float,
    ttl: int,
    auth_time: float,
    sid: str,
    amr: tuple[str, ...],
    nonce: str | None,
    access_token: str | None,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """The ID token's claims (§2): ``aud`` = the client id; ``at_hash`` when an access token
    comes with it; ``nonce`` exactly the request's when it had one."""
    iat = int(now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": sub,
        "aud": client_id,
        "exp": iat + ttl,
        "iat": iat,
        "auth_time": int(auth_time),
        "sid": sid,
        "amr": list(amr),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if access_token is not None:
        claims["at_hash"] = at_hash(access_token)
    claims.update(extra)
    return claims


def pairwise_subject(sector: str, local_sub: str, salt: str) -> str:
    """§8.1: a stable subject per sector (the client's redirect host) that two sectors cannot
    join: HMAC-SHA-256 of sector and local subject under the secret salt, base64url."""
    mac = hmac.new(salt.encode(), f"{sector}\x00{local_sub}".encode(), hashlib.sha256)
    return "p_" + base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")

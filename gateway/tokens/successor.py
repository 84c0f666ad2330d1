"""The successor pair of a rotated refresh token, sealed into the old token's record.

The winner of a rotation seals the new pair (and its access token's ``exp``) under the old
refresh token itself (``gateway.sealed``, HKDF info ``_SUCCESSOR``, the record's key as
associated data), so only a holder of the old token can read it: a request with the same old
token within the grace window gets the same pair back (README "Behaviour worth knowing").
Pure functions.
"""

from __future__ import annotations

import json

from gateway.errors import InvalidGrant
from gateway.sealed import SealError, open_with_secret, seal_with_secret
from gateway.tokens.session import TokenPair

__all__ = ["open_successor", "seal_successor"]

# HKDF info of the sealed successor pair (see ``gateway.sealed``)
_SUCCESSOR = b"wxgate refresh successor v1"


def seal_successor(token: str, key: str, pair: TokenPair, exp: int) -> str:
    """``pair`` (whose access token expires at ``exp``) sealed under the old ``token``."""
    body = {**pair.as_response(), "sid": pair.sid, "exp": exp}
    return seal_with_secret(token, _SUCCESSOR, json.dumps(body).encode(), key.encode())


def open_successor(token: str, key: str, sealed: str, now: float, client_id: str) -> TokenPair:
    """The pair ``seal_successor`` sealed, its ``expires_in`` counted from ``now``;
    InvalidGrant when it cannot be opened with ``token``."""
    try:
        data = json.loads(open_with_secret(token, _SUCCESSOR, sealed, key.encode()))
        return TokenPair(
            access_token=data["access_token"],
            expires_in=max(0, int(data["exp"]) - int(now)),
            refresh_token=data["refresh_token"],
            sid=data["sid"],
            scope=data.get("scope"),
            client_id=client_id,
        )
    except (SealError, KeyError, ValueError, TypeError) as exc:
        raise InvalidGrant() from exc

"""The client credentials a token-endpoint request presents (RFC 6749 §2.3.1).

HTTP Basic (``client_secret_basic``; id and secret are form-urlencoded before the Basic
encoding), or ``client_id``/``client_secret`` in the body (``client_secret_post``), or
``client_id`` alone (``none``, a public client). Both Basic and a body secret: 400 (one method
per request). A malformed Basic header is ``invalid_client`` with the Basic challenge.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus

from aiohttp import web

from gateway.errors import InvalidClient, InvalidRequest
from gateway.oidc import BASIC_CHALLENGE, Credentials

__all__ = ["presented_credentials"]


def _basic(header: str) -> tuple[str, str]:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient(headers=BASIC_CHALLENGE)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClient(headers=BASIC_CHALLENGE) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient(headers=BASIC_CHALLENGE)
    return unquote_plus(client_id), unquote_plus(secret)


def presented_credentials(request: web.Request, params: dict[str, str]) -> Credentials | None:
    """The credentials of this request, or None when it names no client at all."""
    header = request.headers.get("Authorization")
    if header is not None and header.strip()[:6].lower() == "basic ":
        if "client_secret" in params:
            raise InvalidRequest("use one client authentication method, not two")
        client_id, secret = _basic(header)
        body_id = params.get("client_id")
        if body_id and body_id != client_id:
            raise InvalidRequest("client_id in the body differs from the authenticated client")
        return Credentials("client_secret_basic", client_id, secret)
    named = params.get("client_id")
    if not named:
        if "client_secret" in params:
            raise InvalidRequest("client_secret without client_id")
        return None
    if "client_secret" in params:
        return Credentials("client_secret_post", named, params["client_secret"])
    return Credentials("none", named)

"""Token endpoints: refresh, logout, revocation, introspection and userinfo.

- ``POST /auth/token`` (RFC 6749 §6): ``grant_type=refresh_token``, form-encoded or JSON; the
  new pair with ``Cache-Control: no-store`` and ``Pragma: no-cache`` (§5.1). Public clients: no
  client authentication (the refresh token is the credential). A ``scope`` parameter is
  accepted and ignored: the pair keeps the scope of the login.
- ``POST /auth/logout``: ends the session of the presented credentials (session cookie, bearer
  token or a ``refresh_token`` parameter) and clears the cookie. 204, or 303 to ``return_to``
  (a relative path or an origin from ``login.allowed_return_origins``; anything else goes to
  ``login.default_return_to``) for browser forms. Without credentials it still answers 204.
- ``POST /auth/revoke`` (RFC 7009): 200 with an empty body, even for unknown tokens.
- ``POST /auth/introspect`` (RFC 7662): clients from ``tokens.introspection_clients``
  authenticate with HTTP Basic or ``client_id``/``client_secret`` in the body (not both, RFC
  6749 §2.3.1), compared in constant time; otherwise 401 ``invalid_client``.
- ``GET``/``POST /auth/userinfo`` (OIDC Core §5.3): bearer token or session cookie; ``sub`` plus
  the WeChat identity and profile known so far.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web

from gateway.errors import InvalidClient, InvalidRequest, UnsupportedGrantType
from gateway.login import safe_return_to
from gateway.server.access import OWN_API, bearer_token, clear_session, read_session
from gateway.server.caller import authenticated
from gateway.server.common import NO_STORE, read_params, redirect
from gateway.server.keys import CONFIG, TOKENS, USERS

__all__ = ["setup_routes"]

_BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="wxgate"'}


async def token(request: web.Request) -> web.Response:
    """Refresh: a new access + refresh pair for a valid refresh token."""
    params = await read_params(request)
    grant_type = params.get("grant_type")
    if not grant_type:
        raise InvalidRequest("grant_type is required", headers=NO_STORE)
    if grant_type != "refresh_token":
        raise UnsupportedGrantType(headers=NO_STORE)
    refresh_token = params.get("refresh_token")
    if not refresh_token:
        raise InvalidRequest("refresh_token is required", headers=NO_STORE)
    pair = await request.app[TOKENS].refresh(refresh_token)
    return web.json_response(pair.as_response(), headers=NO_STORE)


async def logout(request: web.Request) -> web.StreamResponse:
    """End the presented session and clear the cookie (204, or 303 to ``return_to``)."""
    config = request.app[CONFIG]
    params = await read_params(request)
    cookie = read_session(request, config)
    access = bearer_token(request) or (cookie.access_token if cookie else None)
    refresh = params.get("refresh_token") or (cookie.refresh_token if cookie else None)
    await request.app[TOKENS].logout(access_token=access, refresh_token=refresh)
    return_to = params.get("return_to") or request.query.get("return_to")
    response: web.StreamResponse
    if return_to:
        login = config.login
        location = safe_return_to(return_to, login.allowed_return_origins, login.default_return_to)
        response = redirect(location, 303)
    else:
        response = web.Response(status=204, headers=NO_STORE)
    clear_session(response, config)
    return response


async def revoke(request: web.Request) -> web.Response:
    """RFC 7009 §2: revoke an access or refresh token; 200 whether or not it was known."""
    params = await read_params(request)
    value = params.get("token")
    if not value:
        raise InvalidRequest("token is required")
    await request.app[TOKENS].revoke(value, params.get("token_type_hint"))
    return web.Response(status=200, headers=NO_STORE)


def _basic_credentials(header: str) -> tuple[str, str]:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient(headers=_BASIC_CHALLENGE)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClient(headers=_BASIC_CHALLENGE) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient(headers=_BASIC_CHALLENGE)
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote_plus(client_id), unquote_plus(secret)


def _authenticate_client(request: web.Request, params: dict[str, str]) -> str:
    """The authenticated introspection client's id; InvalidClient (401) otherwise."""
    header = request.headers.get("Authorization")
    if header is not None:
        if "client_secret" in params:
            raise InvalidRequest("use one client authentication method, not two")
        client_id, secret = _basic_credentials(header)
    else:
        client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
    matched = False
    for client in request.app[CONFIG].tokens.introspection_clients:
        same_id = hmac.compare_digest(client.client_id.encode(), client_id.encode())
        same_secret = hmac.compare_digest(client.client_secret.encode(), secret.encode())
        matched |= same_id and same_secret
    if not (client_id and secret and matched):
        raise InvalidClient(headers=_BASIC_CHALLENGE)
    return client_id


async def introspect(request: web.Request) -> web.Response:
    """RFC 7662 §2: ``{"active": true, ...}`` or ``{"active": false}`` for an authenticated
    client."""
    params = await read_params(request)
    _authenticate_client(request, params)
    value = params.get("token")
    if not value:
        raise InvalidRequest("token is required")
    body = await request.app[TOKENS].introspect(value, params.get("token_type_hint"))
    return web.json_response(body, headers=NO_STORE)


async def userinfo(request: web.Request) -> web.Response:
    """``sub`` and what the gateway knows of the user's WeChat identity and profile (a session
    cookie is renewed if needed, as on the proxy)."""
    claims = await authenticated(request, OWN_API)
    body: dict[str, Any] = {"sub": claims.sub}
    body.update({k: v for k, v in _token_identity(claims.raw).items() if v})
    users = request.app.get(USERS)
    user = await users.get(claims.sub) if users is not None else None
    if user is not None:
        profile = {
            "unionid": user.unionid,
            "nickname": user.nickname,
            "picture": user.avatar_url,
            "phone_number": user.phone,
        }
        body.update({k: v for k, v in profile.items() if v})
        body["identities"] = [
            {"app": i.app, "appid": i.appid, "openid": i.openid, "unionid": i.unionid}
            for i in user.identities
        ]
    return web.json_response(body, headers=NO_STORE)


def _token_identity(raw: Any) -> dict[str, Any]:
    return {name: raw.get(name) for name in ("appid", "openid", "unionid", "amr")}


def setup_routes(app: web.Application) -> None:
    """Add the token endpoints under ``/auth/``."""
    app.router.add_post("/auth/token", token)
    app.router.add_post("/auth/logout", logout)
    app.router.add_post("/auth/revoke", revoke)
    app.router.add_post("/auth/introspect", introspect)
    app.router.add_get("/auth/userinfo", userinfo)
    app.router.add_post("/auth/userinfo", userinfo)

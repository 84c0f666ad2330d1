"""Token endpoints: refresh, logout, revocation, introspection and userinfo.

- ``POST /auth/token``, form-encoded or JSON; answers with ``Cache-Control: no-store`` and
  ``Pragma: no-cache`` (RFC 6749 §5.1):
  - ``refresh_token`` without client authentication (or ``client_id=wxgate``): the gateway's
    own sessions (RFC 6749 §6; the refresh token is the credential). A ``scope`` parameter is
    accepted and ignored: the pair keeps the scope of the login.
  - for OpenID Provider clients, authenticated by their registered method
    (``clientauth``): ``authorization_code`` (OIDC Core §3.1.3), ``refresh_token`` (bound to
    the client it was issued to) and ``client_credentials`` (RFC 6749 §4.4). Errors per RFC
    6749 §5.2: ``invalid_client`` is 401 with a Basic challenge.
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

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.errors import GatewayError, InvalidClient, InvalidRequest, UnsupportedGrantType
from gateway.login import safe_return_to
from gateway.oidc import BASIC_CHALLENGE, Client, Credentials, OidcMetrics, Provider
from gateway.server.access import bearer_token, clear_session, read_session
from gateway.server.caller import authenticated
from gateway.server.common import NO_STORE, client_ip, read_params, redirect
from gateway.server.keys import CONFIG, LIMITER, METRICS, OIDC, TOKENS, USERINFO_POLICY, USERS
from gateway.server.tokens.clientauth import presented_credentials
from gateway.tokens import CLIENT_ID

__all__ = ["setup_routes"]


async def token(request: web.Request) -> web.Response:
    """The token endpoint: the grant named by ``grant_type`` (module doc)."""
    params = await read_params(request)
    grant_type = params.get("grant_type")
    if not grant_type:
        raise InvalidRequest("grant_type is required", headers=NO_STORE)
    if grant_type == "refresh_token":
        await request.app[LIMITER].hit("refresh", client_ip(request))
    credentials = presented_credentials(request, params)
    if grant_type == "refresh_token" and (credentials is None or _first_party(credentials)):
        return await _first_party_refresh(request, params)
    if grant_type not in _CLIENT_GRANTS:
        raise UnsupportedGrantType(headers=NO_STORE)
    if credentials is None:
        raise InvalidClient("client authentication is required", headers=BASIC_CHALLENGE)
    provider = request.app[OIDC]
    counted = request.app[METRICS].of(OidcMetrics).tokens
    label = credentials.client_id if provider.clients.get(credentials.client_id) else "unknown"
    try:
        client = provider.clients.authenticate(credentials)
        body = await _CLIENT_GRANTS[grant_type](provider, client, params)
    except GatewayError as exc:
        counted.labels(grant_type, label, exc.error).inc()
        raise
    counted.labels(grant_type, label, "ok").inc()
    return web.json_response(body, headers=NO_STORE)


def _first_party(credentials: Credentials) -> bool:
    return credentials.method == "none" and credentials.client_id == CLIENT_ID


async def _first_party_refresh(request: web.Request, params: dict[str, str]) -> web.Response:
    """The gateway's own sessions (browser, mini-program): the refresh token is the
    credential (a public client)."""
    refresh_token = params.get("refresh_token")
    if not refresh_token:
        raise InvalidRequest("refresh_token is required", headers=NO_STORE)
    pair = await request.app[TOKENS].refresh(refresh_token)
    return web.json_response(pair.as_response(), headers=NO_STORE)


async def _authorization_code(
    provider: Provider, client: Client, params: dict[str, str]
) -> dict[str, Any]:
    code = params.get("code")
    if not code:
        raise InvalidRequest("code is required")
    return await provider.exchange_code(
        client, code, params.get("redirect_uri"), params.get("code_verifier")
    )


async def _refresh_token(
    provider: Provider, client: Client, params: dict[str, str]
) -> dict[str, Any]:
    refresh_token = params.get("refresh_token")
    if not refresh_token:
        raise InvalidRequest("refresh_token is required")
    return await provider.refresh(client, refresh_token)


async def _client_credentials(
    provider: Provider, client: Client, params: dict[str, str]
) -> dict[str, Any]:
    return provider.client_credentials(client, params.get("scope"))


_CLIENT_GRANTS: dict[
    str, Callable[[Provider, Client, dict[str, str]], Awaitable[dict[str, Any]]]
] = {
    "authorization_code": _authorization_code,
    "refresh_token": _refresh_token,
    "client_credentials": _client_credentials,
}


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


def _authenticate_client(request: web.Request, params: dict[str, str]) -> str:
    """The authenticated introspection client's id; InvalidClient (401) otherwise."""
    credentials = presented_credentials(request, params)
    client_id = credentials.client_id if credentials else ""
    secret = credentials.secret if credentials else ""
    matched = False
    for client in request.app[CONFIG].tokens.introspection_clients:
        same_id = hmac.compare_digest(client.client_id.encode(), client_id.encode())
        same_secret = hmac.compare_digest(client.client_secret.encode(), secret.encode())
        matched |= same_id and same_secret
    if not (client_id and secret and matched):
        raise InvalidClient(headers=BASIC_CHALLENGE)
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
    """OIDC Core §5.3. A client's access token: ``sub`` as that client sees it and the claims
    its scopes allow. The gateway's own sessions (bearer or cookie, renewed like the proxy's):
    ``sub`` and everything known of the user's WeChat identity and profile."""
    claims = await authenticated(request, request.app[USERINFO_POLICY])
    scoped = await request.app[OIDC].userinfo(claims)
    if scoped is not None:
        return web.json_response(scoped, headers=NO_STORE)
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

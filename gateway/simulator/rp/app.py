"""A demo relying party for dev mode: "log in with WeChat through OIDC" end to end, in a browser,
with no setup. ``create_rp(config, clock)`` builds it as an aiohttp sub-application; the server
mounts it at ``/_sim/rp`` in dev mode only. It plays every configured OIDC client whose redirect
URI is its ``/callback`` (``demo-spa`` and ``demo-rp`` in ``config/dev.toml``) and talks to the
provider over HTTP like any other client (``provider``), checking tokens itself (``jws``).

- ``GET /`` — the page: one button per client, the logged-in claims (ID token and UserInfo),
  a "Log out" link to the provider's ``end_session_endpoint`` (``id_token_hint``,
  ``post_logout_redirect_uri`` back here, ``state``: checked when the browser comes back), and
  the last back-channel logouts received.
- ``POST /login`` (``client``) — a fresh ``state``, ``nonce`` and PKCE verifier, kept in this
  browser's RP session (so a callback from another browser finds nothing: no login CSRF), then
  303 to the authorization endpoint.
- ``GET /callback`` — ``state`` must be one this browser started; ``iss`` must be the issuer
  (RFC 9207); the code is exchanged (the client's registered authentication method and the
  verifier), the ID token checked (signature against the JWKS, ``iss``, ``aud``, ``exp``,
  ``iat``, ``nonce``, ``at_hash``), UserInfo fetched (its ``sub`` must be the ID token's); then
  302 to the page.
- ``POST /backchannel-logout`` (``logout_token``, Back-Channel Logout 1.0 §2.5) — verified
  (signature, ``iss``, ``aud`` a client registered with this URI, ``events``, no ``nonce``);
  the RP sessions of that ``sid`` end; 200, or 400 with a JSON error.

State lives in memory (one process: dev mode's memory store allows no more), each browser's
under a random HttpOnly cookie on the RP's path. Tokens are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from gateway.clock import Clock, SystemClock
from gateway.config import Config
from gateway.simulator.rp.jws import TokenRefused, check_id_token, check_logout_token
from gateway.simulator.rp.page import page, with_cookie
from gateway.simulator.rp.provider import OpError, Provider
from gateway.simulator.rp.state import RP, BackchannelRecord, DemoRelyingParty, Login, Pending

__all__ = ["create_rp"]

log = logging.getLogger("gateway.simulator.rp")
_PENDING_TTL = 600.0
_MAX_PENDING = 8  # logins started and not finished, per browser
_FORM = "application/x-www-form-urlencoded"


async def _provider_ctx(app: web.Application) -> AsyncIterator[None]:
    """The RP's own HTTP session to the provider (no cookies: it is a server)."""
    rp = app[RP]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        rp.attach(Provider(http, rp.public_url, rp.issuer))
        try:
            yield
        finally:
            rp.attach(None)


def create_rp(
    config: Config, clock: Clock | None = None, *, prefix: str = "/_sim/rp"
) -> web.Application:
    """The demo relying party for ``config`` (the resolved dev config), to mount at ``prefix``."""
    app = web.Application(client_max_size=64 * 1024)
    app[RP] = DemoRelyingParty(config, clock or SystemClock(), prefix)

    app.cleanup_ctx.append(_provider_ctx)
    app.router.add_get("/", home)
    app.router.add_post("/login", start_login)
    app.router.add_get("/callback", callback)
    app.router.add_post("/backchannel-logout", backchannel_logout)
    return app


def _b64url_sha256(value: str) -> str:
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


async def start_login(request: web.Request) -> web.StreamResponse:
    """A new authorization request for the client chosen (RFC 7636 S256, OIDC ``nonce``)."""
    rp = request.app[RP]
    form = await request.post()
    client = rp.clients.get(str(form.get("client", "")))
    if client is None:
        return page(rp, None, ("error", "Unknown demo client."), status=400)
    try:
        endpoint = (await rp.op.metadata())["authorization_endpoint"]
    except OpError as exc:
        return page(rp, None, ("error", f"Discovery failed: {exc}"), status=502)
    key, session = rp.session(request, create=True)
    assert session is not None
    state, nonce, verifier = (secrets.token_urlsafe(n) for n in (32, 32, 48))
    session.pending[state] = Pending(client.client_id, nonce, verifier, rp.clock.time())
    while len(session.pending) > _MAX_PENDING:
        session.pending.popitem(last=False)
    query = urlencode({
        "response_type": "code", "client_id": client.client_id,
        "redirect_uri": rp.callback_url, "scope": client.scope, "state": state, "nonce": nonce,
        "code_challenge": _b64url_sha256(verifier), "code_challenge_method": "S256",
    })  # fmt: skip
    response = web.Response(status=303, headers={"Location": f"{endpoint}?{query}"})
    return with_cookie(response, rp, key)


async def callback(request: web.Request) -> web.StreamResponse:
    """The authorization response: checked, the code exchanged, the tokens checked."""
    rp = request.app[RP]
    _, session = rp.session(request, create=False)
    state = request.query.get("state", "")
    pending = session.pending.pop(state, None) if session is not None else None
    if session is None or pending is None or rp.clock.time() - pending.started > _PENDING_TTL:
        text = ("The state does not match a login this browser started (a forged or replayed "
                "response, or the login took too long).")  # fmt: skip
        return page(rp, session, ("error", text), status=400)
    try:
        session.login = await _complete(rp, pending, request.query)
    except (OpError, TokenRefused) as exc:
        log.warning("demo RP: login through %s refused: %s", pending.client_id, exc)
        return page(rp, session, ("error", f"Login refused: {exc}"), status=400)
    session.logout_state = secrets.token_urlsafe(16)
    session.notice = ("notice", f"Logged in through {pending.client_id}.")
    return web.Response(status=302, headers={"Location": f"{rp.path}/"})


async def _complete(rp: DemoRelyingParty, pending: Pending, query: Mapping[str, str]) -> Login:
    metadata = await rp.op.metadata()
    if (metadata.get("authorization_response_iss_parameter_supported") or "iss" in query) and (
        query.get("iss") != rp.issuer
    ):
        raise OpError("iss is missing or not the provider's issuer (RFC 9207)")
    if "error" in query:
        detail = query.get("error_description")
        raise OpError(
            f"the provider answered {query['error']}" + (f" ({detail})" if detail else "")
        )
    code = query.get("code")
    if not code:
        raise OpError("the response has no code")
    client = rp.clients[pending.client_id]
    tokens = await rp.op.exchange(client, code, rp.callback_url, pending.verifier)
    jws = await rp.op.verified(tokens["id_token"])
    check_id_token(jws.claims, issuer=rp.issuer, client_id=client.client_id,
                   nonce=pending.nonce, access_token=tokens["access_token"],
                   now=rp.clock.time())  # fmt: skip
    userinfo = await rp.op.userinfo(tokens["access_token"])
    if userinfo.get("sub") != jws.claims["sub"]:  # OIDC Core §5.3.2
        raise OpError("UserInfo's sub is not the ID token's")
    return Login(client.client_id, tokens["id_token"], jws.claims, userinfo)


async def home(request: web.Request) -> web.StreamResponse:
    """The page; coming back from RP-initiated logout, ``state`` is checked."""
    rp = request.app[RP]
    _, session = rp.session(request, create=False)
    state = request.query.get("state")
    if state is not None and session is not None and session.logout_state is not None:
        if secrets.compare_digest(state, session.logout_state):
            session.login, session.logout_state = None, None
            session.notice = ("notice", "Logged out: the provider sent you back (state checked).")
        else:
            session.notice = ("error", "A state came back that this browser did not send.")
    return page(rp, session, None)


async def backchannel_logout(request: web.Request) -> web.StreamResponse:
    """Back-Channel Logout 1.0 §2.5-§2.8."""
    rp = request.app[RP]
    if request.content_type != _FORM:
        return _refuse("the logout token must be form-encoded")
    token = (await request.post()).get("logout_token")
    if not isinstance(token, str) or not token:
        return _refuse("logout_token is required")
    audiences = [c.client_id for c in rp.clients.values() if c.backchannel]
    try:
        jws = await rp.op.verified(token)
        said = check_logout_token(jws, issuer=rp.issuer, audiences=audiences,
                                  now=rp.clock.time())  # fmt: skip
    except (OpError, TokenRefused) as exc:
        log.warning("demo RP: back-channel logout refused: %s", exc)
        return _refuse(str(exc))
    ended = rp.end_sessions(said.client_id, said.sub, said.sid)
    rp.backchannel.appendleft(
        BackchannelRecord(rp.clock.time(), said.client_id, said.sub, said.sid, ended)
    )
    return web.Response(status=200, headers={"Cache-Control": "no-store"})


def _refuse(description: str) -> web.Response:
    body = {"error": "invalid_request", "error_description": description}
    return web.json_response(body, status=400, headers={"Cache-Control": "no-store"})

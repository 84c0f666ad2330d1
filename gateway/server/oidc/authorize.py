"""The authorization endpoint, ``GET|POST /auth/authorize`` (OIDC Core §3.1.2, RFC 6749 §4.1,
RFC 7636, RFC 9207), and its consent form, ``POST /auth/authorize/consent``.

The request is checked first (``oidc.authorization``: an untrusted client or redirect URI is an
error page, never a redirect). Then the browser's wxgate session decides:

- no session, ``prompt=login``, a session older than ``max_age``, or one through a way in the
  client does not accept → the login page (in WeChat's browser: flow B), coming back here
  (without ``prompt=login`` and ``max_age``: the person has just authenticated);
  ``prompt=none`` → ``login_required``;
- a third-party client without remembered consent for these scopes → the consent page (its
  form carries a single-use handle stored with the request, bound to the browser session: that
  is the CSRF protection); ``prompt=none`` → ``consent_required``;
- else a code: 302 to the redirect URI with ``code``, ``state`` and ``iss``.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import urlencode

from aiohttp import web

from gateway.errors import AccountDisabled, InvalidRequest, NotFound
from gateway.oidc import AuthorizationRequest, AuthorizeError, BrowserLogin, OidcMetrics, Provider
from gateway.server.access import OWN_API, Policy
from gateway.server.caller import authenticate, authenticated
from gateway.server.common import LOGIN_PATH, NO_STORE, read_params, redirect
from gateway.server.keys import ADMIN, METRICS, OIDC, STORE
from gateway.server.pages import consent_page, disabled_page, oidc_error_page, page_lang
from gateway.wechat import in_wechat_browser

__all__ = ["setup_routes"]

AUTHORIZE_PATH = "/auth/authorize"
_BROWSER = Policy(auth="optional", own=True)  # the wxgate session in this browser
_CONSENT_TTL = 600.0
_FRESH_LOGIN_DROPS = ("prompt", "max_age")
_FLOW_A = "/auth/wechat/web/login"
_FLOW_B = "/auth/wechat/mp/login"


async def _params(request: web.Request) -> dict[str, str]:
    if request.method == "POST":
        if request.content_type != "application/x-www-form-urlencoded":
            raise InvalidRequest("the authorization request must be form-encoded")
        return await read_params(request)
    if any(len(request.query.getall(name)) > 1 for name in request.query):
        raise InvalidRequest("a parameter is repeated")  # RFC 6749 §3.1
    return dict(request.query)


async def authorize(request: web.Request) -> web.StreamResponse:
    response, client, result = await _authorize(request)
    request.app[METRICS].of(OidcMetrics).authorizations.labels(client, result).inc()
    return response


async def _authorize(request: web.Request) -> tuple[web.StreamResponse, str, str]:
    """The response, and the client and result it is counted under."""
    provider = request.app[OIDC]
    try:
        params = await _params(request)
    except InvalidRequest as exc:
        return oidc_error_page(request, exc.description, page_lang(request)), "unknown", "error"
    try:
        areq = provider.parse(params)
    except AuthorizeError as exc:
        known = provider.clients.get(params.get("client_id", ""))
        return _refused(request, provider, exc), known.client_id if known else "unknown", "error"
    client = areq.client.client_id
    caller = await authenticate(request, _BROWSER)
    login = BrowserLogin.of(caller.claims) if caller.claims is not None else None
    if login is None or "login" in areq.prompt or provider.needs_login(areq, login):
        if "none" in areq.prompt:
            refused = _error_redirect(provider, areq, "login_required", "the user must log in")
            return refused, client, "login_required"
        return redirect(_login_url(request, areq, params)), client, "login"
    try:  # a disabled person's sessions are ended; this closes the race with a live one
        await request.app[ADMIN].refuse_disabled(login.sub)
    except AccountDisabled:
        return disabled_page(request), client, "error"
    if await provider.needs_consent(areq, login):
        if "none" in areq.prompt:
            refused = _error_redirect(provider, areq, "consent_required", "consent is required")
            return refused, client, "consent_required"
        return await _ask_consent(request, areq, login, params), client, "consent"
    location = await provider.issue_code(areq, login, redirect_given="redirect_uri" in params)
    return redirect(location), client, "code"


def _login_url(request: web.Request, areq: AuthorizationRequest, params: dict[str, str]) -> str:
    """Where the person logs in, returning to this request as a GET (without what a fresh
    login satisfies: ``prompt=login`` and ``max_age``): inside WeChat's browser the
    official-account login (flow B), elsewhere the login page (scan QR, website QR) — among
    the ways in the client accepts (``login_flows``)."""
    back = {k: v for k, v in params.items() if k not in _FRESH_LOGIN_DROPS}
    query = urlencode({"return_to": f"{AUTHORIZE_PATH}?{urlencode(back)}"})
    client = areq.client
    if in_wechat_browser(request.headers.get("User-Agent", "")) and client.allows_flow("mp"):
        return f"{_FLOW_B}?{query}"
    if client.allows_flow("scan"):
        return f"{LOGIN_PATH}?{query}"
    return f"{_FLOW_A if client.allows_flow('web') else _FLOW_B}?{query}"


def _refused(request: web.Request, provider: Provider, exc: AuthorizeError) -> web.Response:
    if exc.redirect_uri is None:
        return oidc_error_page(request, f"{exc.error}: {exc.description}", page_lang(request))
    return redirect(provider.response_url(exc.redirect_uri, {
        "error": exc.error, "error_description": exc.description, "state": exc.state,
    }))  # fmt: skip


def _error_redirect(
    provider: Provider, areq: AuthorizationRequest, error: str, description: str
) -> web.Response:
    return redirect(provider.response_url(areq.redirect_uri, {
        "error": error, "error_description": description, "state": areq.state,
    }))  # fmt: skip


async def _ask_consent(
    request: web.Request, areq: AuthorizationRequest, login: BrowserLogin, params: dict[str, str]
) -> web.Response:
    handle = secrets.token_urlsafe(32)
    record = {"params": params, "sub": login.sub, "sid": login.sid}
    await request.app[STORE].set(f"oidc:consent-form:{handle}", json.dumps(record), _CONSENT_TTL)
    lang = page_lang(request, areq.ui_locales)
    return consent_page(request, areq.client.name, areq.scopes, handle, lang, areq.redirect_uri)


async def consent(request: web.Request) -> web.StreamResponse:
    """The consent form: allow (remembered, then a code) or deny (``access_denied``)."""
    provider = request.app[OIDC]
    try:
        form = await read_params(request)
    except InvalidRequest as exc:  # a browser's form: a page, not the JSON error
        return oidc_error_page(request, f"invalid_request: {exc.description}", page_lang(request))
    raw = await request.app[STORE].take(f"oidc:consent-form:{form.get('consent', '')}")
    caller = await authenticate(request, _BROWSER)
    if raw is None or caller.claims is None:
        return oidc_error_page(request, "the consent form expired or was already used",
                               page_lang(request))  # fmt: skip
    record = json.loads(raw)
    login = BrowserLogin.of(caller.claims)
    if record["sid"] != login.sid or record["sub"] != login.sub:  # another session's form
        return oidc_error_page(request, "the consent form belongs to another session",
                               page_lang(request))  # fmt: skip
    params: dict[str, str] = record["params"]
    try:
        areq = provider.parse(params)
    except AuthorizeError as exc:
        return _refused(request, provider, exc)
    counted = request.app[METRICS].of(OidcMetrics).authorizations
    if form.get("action") != "allow":
        counted.labels(areq.client.client_id, "denied").inc()
        await request.app[ADMIN].audit.consent_denied(login.sub, areq.client.client_id)
        return _error_redirect(provider, areq, "access_denied", "the user denied the request")
    counted.labels(areq.client.client_id, "allowed").inc()
    await provider.consents.grant(login.sub, areq.client.client_id, areq.scopes)
    location = await provider.issue_code(areq, login, redirect_given="redirect_uri" in params)
    return redirect(location)


async def revoke_consent(request: web.Request) -> web.Response:
    """``DELETE /auth/consents/{client_id}``: forget the caller's consent for a client (the
    next authorization asks again). 204 whether or not there was one; 404 for an unknown
    client. A DELETE is never sent cross-site with the session cookie (SameSite, CORS)."""
    claims = await authenticated(request, OWN_API)
    provider = request.app[OIDC]
    client = provider.clients.get(request.match_info["client_id"])
    if client is None:
        raise NotFound("no such client")
    await provider.consents.revoke(claims.sub, client.client_id)
    return web.Response(status=204, headers=NO_STORE)


def setup_routes(app: web.Application) -> None:
    app.router.add_delete("/auth/consents/{client_id}", revoke_consent)
    app.router.add_get(AUTHORIZE_PATH, authorize, allow_head=False)
    app.router.add_post(AUTHORIZE_PATH, authorize)
    app.router.add_post(AUTHORIZE_PATH + "/consent", consent)

"""RP-Initiated Logout 1.0: ``GET|POST /auth/end-session``.

Parameters: ``id_token_hint`` (recommended), ``client_id``, ``post_logout_redirect_uri``,
``state``, ``ui_locales``. The hint must be an ID token this issuer signed (it may have
expired); its ``aud`` names the client, or ``client_id`` does. ``post_logout_redirect_uri``
must exactly match one the client registered, or the browser is not redirected (§3: "the OP
MUST NOT perform post-logout redirection"). Without a hint the person confirms first (a
logout CSRF otherwise): the confirmation form carries a single-use handle stored with the
request. Logging out ends the browser's wxgate session — which ends every client session
authorized in it, and each client with a ``backchannel_logout_uri`` is told — and clears the
cookie; with a hint but no session cookie, the hinted client session is ended.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import web

from gateway.errors import InvalidRequest
from gateway.oidc import Client, Provider
from gateway.server.access import clear_session, read_session
from gateway.server.common import read_params, redirect
from gateway.server.keys import CONFIG, OIDC, STORE, TOKENS
from gateway.server.pages import logout_page, oidc_error_page, page_lang

__all__ = ["setup_routes"]

END_SESSION_PATH = "/auth/end-session"
_CONFIRM_TTL = 600.0


async def end_session(request: web.Request) -> web.StreamResponse:
    try:
        params = dict(request.query) if request.method == "GET" else await read_params(request)
    except InvalidRequest as exc:  # a browser's form: a page, not the JSON error
        return oidc_error_page(request, f"invalid_request: {exc.description}", page_lang(request))
    store = request.app[STORE]
    if request.method == "POST" and "confirm" in params:
        raw = await store.take(f"oidc:logout-form:{params['confirm']}")
        if raw is None:
            return oidc_error_page(request, "the logout form expired or was already used",
                                   page_lang(request))  # fmt: skip
        return await _log_out(request, json.loads(raw), hinted_sid=None)
    provider = request.app[OIDC]
    lang = page_lang(request, tuple((params.get("ui_locales") or "").split()))
    hint = params.get("id_token_hint")
    claims = request.app[TOKENS].id_token_hint(hint) if hint else None
    if hint and claims is None:
        return oidc_error_page(request, "invalid_request: id_token_hint is not valid", lang)
    try:
        client = _client(provider, claims, params.get("client_id"))
    except LookupError:
        return oidc_error_page(request, "invalid_request: the client is not known", lang)
    target = params.get("post_logout_redirect_uri")
    if target and (client is None or not client.allows_post_logout(target)):
        return oidc_error_page(
            request, "invalid_request: post_logout_redirect_uri is not registered", lang
        )
    plan = {"target": target, "state": params.get("state"), "lang": lang}
    if claims is None:  # no hint: ask the person first
        handle = secrets.token_urlsafe(32)
        await store.set(f"oidc:logout-form:{handle}", json.dumps(plan), _CONFIRM_TTL)
        return logout_page(request, handle, lang, target)
    return await _log_out(request, plan, hinted_sid=str(claims.get("sid") or ""))


def _client(
    provider: Provider, claims: dict[str, Any] | None, client_id: str | None
) -> Client | None:
    """The client named by the hint's ``aud`` (or ``client_id``); None when neither names
    one; LookupError when the one named is unknown or the two disagree."""
    aud = claims.get("aud") if claims else None
    named = aud if isinstance(aud, str) else (aud[0] if isinstance(aud, list) and aud else None)
    if client_id and named and client_id != named:
        raise LookupError(client_id)
    wanted = named or client_id
    if not wanted:
        return None
    client = provider.clients.get(wanted)
    if client is None:
        raise LookupError(wanted)
    return client


async def _log_out(
    request: web.Request, plan: dict[str, Any], hinted_sid: str | None
) -> web.StreamResponse:
    config, tokens = request.app[CONFIG], request.app[TOKENS]
    cookie = read_session(request, config)
    if cookie is not None:
        await tokens.logout(access_token=cookie.access_token, refresh_token=cookie.refresh_token)
    elif hinted_sid:
        await tokens.revoke_session(hinted_sid)
    target = plan.get("target")
    response: web.StreamResponse
    if target:
        url = request.app[OIDC].response_url(target, {"state": plan.get("state")}, iss=False)
        response = redirect(url)
    else:
        response = logout_page(request, None, plan.get("lang") or page_lang(request))
    clear_session(response, config)
    return response


def setup_routes(app: web.Application) -> None:
    app.router.add_get(END_SESSION_PATH, end_session, allow_head=False)
    app.router.add_post(END_SESSION_PATH, end_session)

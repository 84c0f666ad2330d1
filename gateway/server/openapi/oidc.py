"""``server/oidc``: the OpenID Provider's browser endpoints (authorize, consent, end-session)
and the consent API."""

from __future__ import annotations

from gateway.config import Config
from gateway.server.openapi.spec import HTML, Paths, op, param, responses

__all__ = ["paths"]

_TAG = "oidc"
_AUTHORIZE = (
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
    "code_challenge", "code_challenge_method", "prompt", "max_age", "ui_locales",
)  # fmt: skip
_REDIRECT = {"description": "to the client (code or error), or to the login page"}
# Errors a browser sees are pages (an invalid client or redirect URI cannot redirect).
_PAGE = {"description": "a page (consent, logout confirmation, or an error: a 403 for an "
         "account an administrator disabled)", "content": HTML}  # fmt: skip


def _form(*names: str) -> dict[str, object]:
    schema = {"type": "object", "properties": {n: {"type": "string"} for n in names}}
    return {"required": False, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def paths(config: Config) -> Paths:
    del config
    pages = responses(413, _200=_PAGE, _302=_REDIRECT, _303=_REDIRECT,
                      **{"_4XX": _PAGE})  # fmt: skip
    end_session = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state",
                   "ui_locales")  # fmt: skip
    return {
        "/auth/authorize": {
            "get": op("Authorization request (OIDC Core §3.1.2)", _TAG, pages,
                      parameters=[param(name) for name in _AUTHORIZE]),
            "post": op("Authorization request, form-posted", _TAG, pages,
                       requestBody=_form(*_AUTHORIZE)),
        },
        "/auth/authorize/consent": {"post": op("The consent form's answer", _TAG, pages,
            requestBody=_form("consent", "action"), security=[{"session": []}])},
        "/auth/end-session": {
            "get": op("RP-initiated logout (OIDC RP-Initiated Logout §2)", _TAG, pages,
                      parameters=[param(name) for name in end_session]),
            "post": op("RP-initiated logout, form-posted or confirmed", _TAG, pages,
                       requestBody=_form(*end_session, "confirm")),
        },
        "/auth/consents/{client_id}": {"delete": op("Forget the caller's consent", _TAG,
            responses(401, 403, 404, _204={"description": "forgotten (or there was none)"}),
            parameters=[param("client_id", "path")],
            security=[{"bearer": []}, {"session": []}])},
    }  # fmt: skip

"""Authorization requests (OIDC Core §3.1.2.1, RFC 6749 §4.1.1, RFC 7636 §4.3): parsed and
checked, pure.

The order decides where an error goes (OIDC Core §3.1.2.6, RFC 6749 §4.1.2.1): ``client_id``
and ``redirect_uri`` first — missing, unknown or not an exact match: an error *page*, never a
redirect. Everything after that goes back to the redirect URI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from gateway.oidc.clients import Client, ClientRegistry
from gateway.oidc.errors import AuthorizeError

__all__ = ["PROMPTS", "SCOPES", "AuthorizationRequest", "parse_authorization"]

SCOPES = ("openid", "profile", "phone", "wechat", "roles", "offline_access")
PROMPTS = frozenset({"none", "login", "consent", "select_account"})
# RFC 7636 §4.1: 43-128 characters of [A-Za-z0-9-._~]; the S256 challenge is 43 base64url
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_MAX_PARAM = 2048


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A checked authorization request."""

    client: Client
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    prompt: frozenset[str]
    max_age: int | None
    ui_locales: tuple[str, ...]
    login_hint: str | None
    response_mode: Literal["query"] = "query"

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)


def _single(params: dict[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if len(value) > _MAX_PARAM:
        raise ValueError(name)
    return value


def parse_authorization(params: dict[str, str], clients: ClientRegistry) -> AuthorizationRequest:
    """The checked request, or AuthorizeError (with ``redirect_uri`` None: show a page)."""
    client_id = params.get("client_id") or ""
    client = clients.get(client_id)
    if client is None:
        raise AuthorizeError("invalid_request", "unknown client_id")
    redirect_uri = params.get("redirect_uri") or ""
    if not redirect_uri:
        if len(client.config.redirect_uris) != 1:  # OIDC Core §3.1.2.1: REQUIRED
            raise AuthorizeError("invalid_request", "redirect_uri is required")
        redirect_uri = client.config.redirect_uris[0]
    if not client.allows_redirect(redirect_uri):
        raise AuthorizeError("invalid_request", "redirect_uri is not registered for the client")
    state = params.get("state") or None

    def fail(error: str, description: str) -> AuthorizeError:
        return AuthorizeError(error, description, redirect_uri=redirect_uri, state=state)

    try:
        return _checked(params, client, redirect_uri, state)
    except ValueError as exc:
        raise fail("invalid_request", f"{exc} is too long") from None
    except _Refused as exc:
        raise fail(exc.error, exc.description) from None


class _Refused(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _checked(
    params: dict[str, str], client: Client, redirect_uri: str, state: str | None
) -> AuthorizationRequest:
    if "request" in params:
        raise _Refused("request_not_supported", "request objects are not supported")
    if "request_uri" in params:
        raise _Refused("request_uri_not_supported", "request_uri is not supported")
    response_type = params.get("response_type")
    if not response_type:
        raise _Refused("invalid_request", "response_type is required")
    if response_type != "code":
        raise _Refused("unsupported_response_type", "only response_type=code is supported")
    mode = params.get("response_mode")
    if mode not in (None, "", "query"):
        raise _Refused("invalid_request", "only response_mode=query is supported")
    if not client.allows_grant("authorization_code"):
        raise _Refused("unauthorized_client", "the client may not use the authorization code")
    scopes = _scopes(params.get("scope") or "", client)
    challenge = _pkce(params, client)
    prompt = frozenset((params.get("prompt") or "").split())
    if not prompt <= PROMPTS:
        raise _Refused("invalid_request", "unknown prompt value")
    if "none" in prompt and len(prompt) > 1:
        raise _Refused("invalid_request", "prompt=none cannot be combined with other values")
    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        scopes=scopes,
        state=state,
        nonce=_single(params, "nonce"),
        code_challenge=challenge,
        prompt=prompt,
        max_age=_max_age(params.get("max_age")),
        ui_locales=tuple((params.get("ui_locales") or "").split()),
        login_hint=_single(params, "login_hint"),
    )


def _scopes(raw: str, client: Client) -> tuple[str, ...]:
    requested = tuple(dict.fromkeys(raw.split()))
    if "openid" not in requested:
        raise _Refused("invalid_scope", "scope must include openid")
    allowed = set(client.config.scopes)
    refused = [s for s in requested if s not in allowed]
    if refused:
        raise _Refused("invalid_scope", f"scope not allowed for this client: {refused[0]}")
    return requested


def _pkce(params: dict[str, str], client: Client) -> str | None:
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if not challenge:
        if method:
            raise _Refused("invalid_request", "code_challenge_method without code_challenge")
        if client.requires_pkce:
            raise _Refused("invalid_request", "PKCE is required: code_challenge (S256)")
        return None
    if method != "S256":  # RFC 7636 §4.3 defaults to plain, which is refused (RFC 9700 §2.1.1)
        raise _Refused("invalid_request", "code_challenge_method must be S256")
    if not _CHALLENGE.match(challenge):
        raise _Refused("invalid_request", "code_challenge is not a S256 challenge")
    return challenge


def _max_age(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 10:
        raise _Refused("invalid_request", "max_age must be a non-negative integer")
    return int(raw)

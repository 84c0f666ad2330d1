"""``server/tokens``: the token endpoint, logout, revocation, introspection, UserInfo, and the
well-known documents (JWKS, discovery)."""

from __future__ import annotations

from gateway.config import Config
from gateway.server.openapi.spec import (
    Paths,
    error,
    form_or_json,
    json_content,
    op,
    param,
    ref,
    responses,
)

__all__ = ["paths"]

_TAG = "tokens"
_OPEN = {"type": "object", "additionalProperties": True}


def _strings(*names: str, required: tuple[str, ...] = ()) -> dict[str, object]:
    return {
        "type": "object",
        "required": list(required),
        "properties": {name: {"type": "string"} for name in names},
    }


def paths(config: Config) -> Paths:
    del config
    grant = _strings("grant_type", "refresh_token", "code", "redirect_uri", "code_verifier",
                     "scope", "client_id", "client_secret", required=("grant_type",))  # fmt: skip
    token_ref = _strings("token", "token_type_hint", "client_id", "client_secret",
                         required=("token",))  # fmt: skip
    userinfo = {"type": "object", "required": ["sub"], "properties": {"sub": {"type": "string"}}}
    introspection = {"type": "object", "required": ["active"],
                     "properties": {"active": {"type": "boolean"}}}  # fmt: skip
    userinfo_op = op("UserInfo (OIDC Core §5.3)", _TAG, responses(
        401, 403, 429,
        _200={"description": "claims of the caller", "content": json_content(userinfo)}),
        security=[{"bearer": []}, {"session": []}])  # fmt: skip
    return {
        "/auth/token": {"post": op("Token endpoint (RFC 6749 §3.2)", _TAG, responses(
            400, 401, 413, 429, _403=error(403, "`account_disabled`: an operator disabled "
                                           "the user (code exchange, refresh)"),
            _200={"description": "tokens", "content": json_content(ref("TokenPair"))}),
            requestBody=form_or_json(grant), security=[{}, {"client": []}])},
        "/auth/logout": {"post": op("End the presented session", _TAG, responses(
            400, 413,
            _204={"description": "logged out (or nothing to log out)"},
            _303={"description": "logged out; to `return_to`"}),
            parameters=[param("return_to")],
            requestBody=form_or_json(_strings("refresh_token", "return_to"), required=False),
            security=[{}, {"bearer": []}, {"session": []}])},
        "/auth/revoke": {"post": op("Token revocation (RFC 7009)", _TAG, responses(
            400, 413, _200={"description": "revoked, or unknown"}),
            requestBody=form_or_json(token_ref))},
        "/auth/introspect": {"post": op("Token introspection (RFC 7662)", _TAG, responses(
            400, 401, 413,
            _200={"description": "the token's state", "content": json_content(introspection)}),
            requestBody=form_or_json(token_ref), security=[{"client": []}])},
        "/auth/userinfo": {"get": userinfo_op, "post": userinfo_op},
        "/.well-known/jwks.json": {"get": op("The signing keys (RFC 7517)", _TAG, responses(
            _200={"description": "JWK set", "content": json_content(
                {"type": "object", "required": ["keys"],
                 "properties": {"keys": {"type": "array", "items": _OPEN}}})},
            _304={"description": "unchanged (`If-None-Match`)"}),
            parameters=[param("If-None-Match", "header")])},
        "/.well-known/openid-configuration": {"get": op(
            "Provider metadata (OIDC Discovery §4)", _TAG, responses(
                _200={"description": "metadata", "content": json_content(
                    {"type": "object", "required": ["issuer"]})}))},
    }  # fmt: skip

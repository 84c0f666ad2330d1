"""The OpenID Provider metadata document (OpenID Connect Discovery 1.0 §3, RFC 8414 §2).

What the gateway is, stated honestly: an issuer of JWT access tokens (RFC 9068) verifiable
through ``jwks_uri``, with refresh (RFC 6749 §6), revocation (RFC 7009), introspection
(RFC 7662) and userinfo. Login is interactive at ``/auth/login``; it sets a session cookie and
redirects back without putting a code or token in the URL, hence ``response_types_supported``
``["none"]`` (OAuth 2.0 Multiple Response Type Encoding Practices §4) and no PKCE methods.
The token and revocation endpoints serve public clients (the refresh token is the credential);
introspection requires client authentication.
"""

from __future__ import annotations

from typing import Any

from gateway.config import Config

__all__ = ["CLAIMS_SUPPORTED", "openid_configuration"]

CLAIMS_SUPPORTED = (
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "jti",
    "sid",
    "client_id",
    "amr",
    "scope",
    "appid",
    "openid",
    "unionid",
    "nickname",
    "picture",
    "phone_number",
)


def openid_configuration(config: Config, public_url: str) -> dict[str, Any]:
    """The metadata for ``config``; endpoints are absolute URLs under ``public_url``.

    ``issuer`` is ``config.issuer`` exactly (the value of every token's ``iss``).
    """
    base = public_url.rstrip("/")
    alg = config.tokens.algorithm
    scopes = ["openid", *(s for s in config.tokens.scope.split() if s != "openid")]
    client_auth = ["client_secret_basic", "client_secret_post"]
    return {
        "issuer": config.issuer,
        "authorization_endpoint": f"{base}/auth/login",
        "token_endpoint": f"{base}/auth/token",
        "userinfo_endpoint": f"{base}/auth/userinfo",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "revocation_endpoint": f"{base}/auth/revoke",
        "introspection_endpoint": f"{base}/auth/introspect",
        "scopes_supported": scopes,
        "response_types_supported": ["none"],
        "grant_types_supported": ["refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [alg],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "introspection_endpoint_auth_methods_supported": client_auth,
        "claims_supported": list(CLAIMS_SUPPORTED),
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }

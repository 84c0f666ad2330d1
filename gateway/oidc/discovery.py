"""The OpenID Provider metadata document (OpenID Connect Discovery 1.0 §3, RFC 8414 §2).

It tells the truth about what the provider does: the authorization code flow only
(``response_types_supported ["code"]``), PKCE with S256 only, the client authentication
methods the registered clients use, RP-initiated and back-channel logout, ``iss`` in
authorization responses (RFC 9207), public and pairwise subjects, no request objects. The
gateway's own endpoints (revocation, introspection) are listed too.
"""

from __future__ import annotations

from typing import Any

from gateway.config import Config
from gateway.oidc.authorization import SCOPES

__all__ = ["CLAIMS_SUPPORTED", "openid_configuration"]

CLAIMS_SUPPORTED = (
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "amr",
    "sid",
    "nickname",
    "picture",
    "phone_number",
    "phone_number_verified",
    "openid",
    "unionid",
    "appid",
)  # and the roles claim (``authz.roles_claim``, the ``roles`` scope)
_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")


def openid_configuration(config: Config, public_url: str) -> dict[str, Any]:
    """The metadata for ``config``; endpoints are absolute URLs under ``public_url``.

    ``issuer`` is ``config.issuer`` exactly (the value of every token's ``iss``).
    """
    base = public_url.rstrip("/")
    alg = config.tokens.algorithm
    return {
        "issuer": config.issuer,
        "authorization_endpoint": f"{base}/auth/authorize",
        "token_endpoint": f"{base}/auth/token",
        "userinfo_endpoint": f"{base}/auth/userinfo",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "end_session_endpoint": f"{base}/auth/end-session",
        "revocation_endpoint": f"{base}/auth/revoke",
        "introspection_endpoint": f"{base}/auth/introspect",
        "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": [alg],
        "token_endpoint_auth_methods_supported": list(_AUTH_METHODS),
        "code_challenge_methods_supported": ["S256"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "introspection_endpoint_auth_methods_supported": list(_AUTH_METHODS[:2]),
        "claims_supported": [*CLAIMS_SUPPORTED, config.authz.roles_claim],
        "ui_locales_supported": ["zh-CN", "en"],
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }

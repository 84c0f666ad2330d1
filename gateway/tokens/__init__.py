"""Tokens: signing keys and JWKS, JWT access tokens, refresh tokens, revocation.

The only package that imports the JOSE library (joserfc). This module is the package's face:
code outside ``gateway.tokens`` imports from here. The server uses ``TokenService``
(``service``); the CLI uses the operator commands (``admin``).
"""

from gateway.tokens.admin import keys_generate, keys_list, keys_rotate, token_issue
from gateway.tokens.claims import (
    AccessClaims,
    TokenExpired,
    TokenRejected,
    TokenRevoked,
    WrongAudience,
    bearer_challenge,
)
from gateway.tokens.issuer import CLIENT_ID
from gateway.tokens.keyfiles import KeyRingError
from gateway.tokens.metrics import TokenMetrics
from gateway.tokens.service import TokenService
from gateway.tokens.session import Session, SessionClient, TokenPair

__all__ = [
    # services
    "TokenService",
    # operator commands (the CLI)
    "keys_generate",
    "keys_list",
    "keys_rotate",
    "token_issue",
    # values
    "CLIENT_ID",
    "AccessClaims",
    "Session",
    "SessionClient",
    "TokenPair",
    # errors (TokenRejected and its typed reasons) and their RFC 6750 challenge
    "KeyRingError",
    "TokenExpired",
    "TokenRejected",
    "TokenRevoked",
    "WrongAudience",
    "bearer_challenge",
    # metric families
    "TokenMetrics",
]

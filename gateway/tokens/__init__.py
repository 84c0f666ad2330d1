"""Tokens: signing keys and JWKS, JWT access tokens, refresh tokens, revocation.

The only package that imports the JOSE library (joserfc). The server uses ``TokenService``
(``gateway.tokens.service``); the CLI uses ``gateway.tokens.admin``.
"""

from gateway.tokens.claims import AccessClaims, TokenRejected
from gateway.tokens.keyfiles import KeyRingError
from gateway.tokens.refresh import TokenPair

__all__ = ["AccessClaims", "KeyRingError", "TokenPair", "TokenRejected"]

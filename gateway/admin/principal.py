"""The admin token: a shared secret from ``[admin] token_file`` for scripts and first setup.

Compared in constant time; an empty configured token matches nothing. Its holder acts as
``admin-token`` in the audit log (the token itself is never recorded).
"""

from __future__ import annotations

import hmac

from gateway.config import AdminConfig

__all__ = ["ADMIN_TOKEN_ACTOR", "is_admin_token"]

ADMIN_TOKEN_ACTOR = "admin-token"


def is_admin_token(config: AdminConfig, presented: str) -> bool:
    """True when ``presented`` is the configured admin token."""
    if not config.token or not presented:
        return False
    return hmac.compare_digest(config.token.encode(), presented.encode())

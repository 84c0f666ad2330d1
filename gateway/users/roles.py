"""Role names: what the directory stores, config rules grant and route policies require.

A role name is 1-64 characters of lower-case ASCII letters, digits and ``_ . : -``, starting
with a letter or digit (``ROLE_NAME_PATTERN``): safe in a comma-separated header
(``X-Auth-Roles``), a URL query (``allowed_roles=a,b``), a JWT claim and a log line.
"""

from __future__ import annotations

import re

from gateway.config import ROLE_NAME_PATTERN
from gateway.errors import InvalidRequest

__all__ = ["check_role", "is_role_name"]

_ROLE = re.compile(ROLE_NAME_PATTERN)


def is_role_name(name: object) -> bool:
    """True when ``name`` is a valid role name."""
    return isinstance(name, str) and _ROLE.fullmatch(name) is not None


def check_role(name: str) -> str:
    """``name`` if it is a valid role name, else ``InvalidRequest`` (400)."""
    if not is_role_name(name):
        raise InvalidRequest(
            "a role name is 1-64 characters of a-z, 0-9, '_', '.', ':' or '-' "
            "and starts with a letter or digit"
        )
    return name

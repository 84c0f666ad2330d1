"""Authorization: roles granted by config rules, and the requirements routes put on callers.

Both are compiled once at start from the config and decide with no I/O: ``RoleRules`` (the
``[[authz.role_rules]]``, applied at login) and ``Requirement`` (a route's "who is allowed",
checked against verified access-token claims on every request, counted in
``wxgate_authz_decisions_total{route,result}``). Framework-free; the server applies them in its
one decision (``server.access``).
"""

from gateway.authz.metrics import AuthzMetrics
from gateway.authz.requirement import Requirement, parse_role_list
from gateway.authz.role_rules import RoleRules
from gateway.authz.source import directory_roles

__all__ = [
    # role rules (login)
    "RoleRules",
    "directory_roles",
    # route requirements (every request)
    "Requirement",
    "parse_role_list",
    # metric families
    "AuthzMetrics",
]

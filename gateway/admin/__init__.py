"""Administration: operator actions on users, the audit trail, and who is an administrator.

No web framework here: the admin API and pages (``gateway.server.admin``) and the CLI
(``wxgate users ...``) both call ``Administration``, so every way in changes the same things,
ends sessions through the same revocation fan-out and writes the same audit entries. This module
is the package's face: code outside ``gateway.admin`` imports from here.
"""

from gateway.admin.audit import AUDIT_LOGGER, AuditLog
from gateway.admin.commands import users_command
from gateway.admin.metrics import AdminMetrics
from gateway.admin.principal import ADMIN_TOKEN_ACTOR, is_admin_token
from gateway.admin.service import Administration, UserView
from gateway.admin.views import session_json, user_json, view_json

__all__ = [
    # services
    "Administration",
    "AuditLog",
    # values
    "ADMIN_TOKEN_ACTOR",
    "AUDIT_LOGGER",
    "UserView",
    # operator commands (the CLI)
    "users_command",
    # JSON shapes
    "session_json",
    "user_json",
    "view_json",
    # who is an administrator
    "is_admin_token",
    # metric families
    "AdminMetrics",
]

"""Who is calling: the one authentication decision, bearer and cookie parsing, route policies.

The decision itself (``Access.decide``, ``Policy``, ``Caller``) and the credentials it reads.
Rooms call it through ``gateway.server.caller.authenticate(request, policy)``, which leaves a
renewed or dead session cookie on the request for ``caller.write_cookie_change`` to write on
the response. This package reads no application key, so ``server.keys`` may name its types.
"""

from gateway.server.access.bearer import bearer_token
from gateway.server.access.cookie import (
    SessionCookie,
    clear_session,
    read_session,
    set_session,
)
from gateway.server.access.decision import ANONYMOUS, Access, AccessRefused, Caller
from gateway.server.access.errors import AuthenticationRequired, insufficient_scope
from gateway.server.access.paths import PathRules, normalize_path
from gateway.server.access.policy import BEARER_API, OWN_API, Policy
from gateway.server.access.routes import (
    Route,
    RouteTable,
    default_route,
    normalize_host,
    raise_for_reserved,
)

__all__ = [
    # the decision
    "ANONYMOUS",
    "Access",
    "Caller",
    # policies, the route table and the paths it refuses
    "BEARER_API",
    "OWN_API",
    "PathRules",
    "Policy",
    "Route",
    "RouteTable",
    "default_route",
    "normalize_host",
    "normalize_path",
    "raise_for_reserved",
    # credentials
    "SessionCookie",
    "bearer_token",
    "clear_session",
    "read_session",
    "set_session",
    # refusals
    "AccessRefused",
    "AuthenticationRequired",
    "insufficient_scope",
]

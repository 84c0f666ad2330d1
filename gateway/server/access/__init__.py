"""Who is calling: the one authentication decision, bearer and cookie parsing, route policies.

Every room learns its caller here: ``authenticate(request, policy)`` (or ``authenticated`` for
the claims under a required policy). A renewed or dead session cookie is data on the decision,
written on the response by ``write_cookie_change`` (registered once by the composition root).
"""

from gateway.server.access.bearer import bearer_token
from gateway.server.access.cookie import (
    SessionCookie,
    clear_session,
    read_session,
    set_session,
    write_cookie_change,
)
from gateway.server.access.decision import (
    ANONYMOUS,
    Access,
    Caller,
    authenticate,
    authenticated,
)
from gateway.server.access.errors import AuthenticationRequired, insufficient_scope
from gateway.server.access.navigation import LOGIN_PATH, is_browser, login_redirect
from gateway.server.access.policy import BEARER_API, OWN_API, Policy
from gateway.server.access.routes import (
    Route,
    RouteTable,
    default_route,
    is_ambiguous,
    normalize_path,
    raise_for_reserved,
)

__all__ = [
    # the decision
    "ANONYMOUS",
    "Access",
    "Caller",
    "authenticate",
    "authenticated",
    # policies and the route table
    "BEARER_API",
    "OWN_API",
    "Policy",
    "Route",
    "RouteTable",
    "default_route",
    "is_ambiguous",
    "normalize_path",
    "raise_for_reserved",
    # credentials
    "SessionCookie",
    "bearer_token",
    "clear_session",
    "read_session",
    "set_session",
    "write_cookie_change",
    # refusals and browsers
    "LOGIN_PATH",
    "AuthenticationRequired",
    "insufficient_scope",
    "is_browser",
    "login_redirect",
]

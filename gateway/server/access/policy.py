"""Who may reach a resource: the policy the one authentication decision applies.

A proxy route carries one (``Route.policy``, from its config); the gateway's own endpoints
declare theirs as constants beside their handlers (the mini-program endpoints: bearer only;
``/auth/userinfo`` and the phone's pages: bearer or session cookie).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.authz import Requirement

__all__ = ["BEARER_API", "OWN_API", "Policy"]


@dataclass(frozen=True, slots=True)
class Policy:
    """What a caller must present.

    - ``auth``: ``required`` (401 without a valid credential), ``optional`` (any failure is
      anonymity) or ``public`` (not authenticated at all: callers skip the decision);
    - ``audience``: the ``aud`` the access token must carry (None: ``tokens.audience``);
    - ``scopes``: every one must be in the token's ``scope``;
    - ``cookie``: the browser session cookie counts as a credential (False: bearer only, for
      APIs a browser must never reach with its ambient cookie);
    - ``own``: the gateway's own API: a token for another audience is not ours (401
      ``invalid_token``), where a proxied route answers 403 ``insufficient_scope``;
    - ``also``: further audiences accepted (UserInfo takes the access tokens of every
      OpenID Provider client);
    - ``rule``: who is allowed beyond being authenticated (a route's roles, subjects...:
      ``authz.Requirement``); an authenticated caller it refuses gets 403 ``access_denied``.
    """

    auth: Literal["required", "optional", "public"] = "required"
    audience: str | None = None
    scopes: frozenset[str] = frozenset()
    cookie: bool = True
    own: bool = False
    also: tuple[str, ...] = ()
    rule: Requirement | None = None


# the gateway's own endpoints: a bearer token or the session cookie
OWN_API = Policy(own=True)
# the gateway's own endpoints for apps (the mini-program): a bearer token only
BEARER_API = Policy(cookie=False, own=True)

"""From a WeChat identity to a gateway session: link the user, then issue tokens.

Shared by every flow so the linking rules (users.link, reference §6.10) and the token claims
(``sub`` = the gateway's user id, never the openid; WeChat claims when known) are the same
whichever way a person logged in. The ``[[authz.role_rules]]`` are applied here, at every
login: roles a rule grants and the user lacks are stored in the directory (so the first
administrator can be bootstrapped from config), then the session's tokens carry them.

Failed logins go through here too (``failed``), for the audit trail: each flow reports its
refusal's machine code once, and the listeners (``on_failure``) record it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable

from gateway.authz import RoleRules
from gateway.errors import AccountDisabled
from gateway.login.metrics import LoginMetrics
from gateway.metrics import Metrics
from gateway.tokens import TokenPair, TokenService
from gateway.users import Identity, Profile, User, UserDirectory

__all__ = ["FailureListener", "SessionIssuer"]

log = logging.getLogger(__name__)

#: ``async (flow, appid, result)`` for a failed login: ``flow`` is the login's ``amr`` value
#: (``wechat_qr``...), ``appid`` the WeChat app's id ("" when not known yet), ``result`` the
#: refusal's machine code. Nothing secret is passed (no code, no state, no session_key).
FailureListener = Callable[[str, str, str], Awaitable[object]]


class SessionIssuer:
    """Links identities in the user directory and opens token sessions for them."""

    def __init__(
        self,
        users: UserDirectory,
        tokens: TokenService,
        metrics: Metrics,
        role_rules: RoleRules | None = None,
    ) -> None:
        self.users = users
        self.tokens = tokens
        self._metrics = metrics.of(LoginMetrics)
        self._role_rules = role_rules or RoleRules()
        self._failure_listeners: list[FailureListener] = []

    def on_failure(self, listener: FailureListener) -> None:
        """Call ``listener(flow, appid, result)`` for every failed login (module doc)."""
        self._failure_listeners.append(listener)

    async def failed(self, flow: str, appid: str, result: str) -> None:
        """A login of ``flow`` failed with machine code ``result``; never raises. A disabled
        account is not reported: the token service's gate records it, with its subject."""
        if result == AccountDisabled.error:
            return
        for listener in self._failure_listeners:
            try:
                await listener(flow, appid, result)
            except Exception:  # the audit trail never changes a login's answer
                log.exception("failed-login listener failed (%s)", result)

    async def login(
        self, identity: Identity, profile: Profile | None, amr: str
    ) -> tuple[TokenPair, User]:
        """The session (token pair) and user for ``identity``; creates the user if new."""
        user, created = await self.users.link(identity, profile)
        if created:
            self._metrics.users_created.inc()
        if self._role_rules:
            user = await self._apply_role_rules(identity, user)
        pair = await self.tokens.issue_session(
            user.sub,
            [amr],
            appid=identity.appid,
            openid=identity.openid,
            unionid=identity.unionid or user.unionid,
        )
        return pair, user

    async def _apply_role_rules(self, identity: Identity, user: User) -> User:
        """The user with the roles the role rules grant this login stored (module doc)."""
        granted = self._role_rules.granted(
            app=identity.app,
            openid=identity.openid,
            unionid=identity.unionid or user.unionid,
            held=user.roles,
        )
        for role in sorted(granted):
            if await self.users.grant_role(user.sub, role):
                log.info("role rule granted role %s to user %s", role, user.sub)
        return dataclasses.replace(user, roles=user.roles | granted) if granted else user

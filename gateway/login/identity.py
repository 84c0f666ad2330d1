"""From a WeChat identity to a gateway session: link the user, then issue tokens.

Shared by every flow so the linking rules (users.link, reference §6.10) and the token claims
(``sub`` = the gateway's user id, never the openid; WeChat claims when known) are the same
whichever way a person logged in.
"""

from __future__ import annotations

from gateway.login.metrics import LoginMetrics
from gateway.metrics import Metrics
from gateway.tokens import TokenPair, TokenService
from gateway.users import Identity, Profile, User, UserDirectory

__all__ = ["SessionIssuer"]


class SessionIssuer:
    """Links identities in the user directory and opens token sessions for them."""

    def __init__(self, users: UserDirectory, tokens: TokenService, metrics: Metrics) -> None:
        self.users = users
        self.tokens = tokens
        self._metrics = metrics.of(LoginMetrics)

    async def login(
        self, identity: Identity, profile: Profile | None, amr: str
    ) -> tuple[TokenPair, User]:
        """The session (token pair) and user for ``identity``; creates the user if new."""
        user, created = await self.users.link(identity, profile)
        if created:
            self._metrics.users_created.inc()
        pair = await self.tokens.issue_session(
            user.sub,
            [amr],
            appid=identity.appid,
            openid=identity.openid,
            unionid=identity.unionid or user.unionid,
        )
        return pair, user

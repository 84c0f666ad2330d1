"""What a token service's owner plugs in around sessions: the gates asked before a session
starts or renews, the source of the roles its access tokens carry, and the event listeners.

Gates (``guard``): ``await gate(sub)`` refuses by raising a GatewayError (AccountDisabled for a
disabled user). A refused login is an event (``login`` with ``result`` the refusal's code).
Roles (``roles_of``): read afresh for every access token minted (login and each refresh), so a
role change reaches the tokens at the next refresh at the latest; an OpenID Provider client's
session carries them only when it was granted the ``roles`` scope (``ROLES_SCOPE``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping

from gateway.errors import GatewayError
from gateway.tokens.events import EventHooks
from gateway.tokens.session import Session

__all__ = ["ROLES_SCOPE", "Gate", "RolesSource", "SessionHooks"]

#: The roles of a user, read afresh for every access token minted (module doc).
RolesSource = Callable[[str], Awaitable[Collection[str]]]
Gate = Callable[[str], Awaitable[None]]

#: The OpenID Provider scope a client needs for its tokens to carry the user's roles.
ROLES_SCOPE = "roles"


class SessionHooks:
    """The gates, the roles source and the event listeners of one token service."""

    def __init__(self) -> None:
        self._gates: list[Gate] = []
        self.events = EventHooks()
        self.roles_of: RolesSource | None = None  # set by the token service's owner

    def guard(self, gate: Gate) -> None:
        """Ask ``await gate(sub)`` before any session of ``sub`` starts or renews."""
        self._gates.append(gate)

    async def check(self, sub: str) -> None:
        """Ask every gate about ``sub``; the first refusal is raised."""
        for gate in self._gates:
            await gate(sub)

    async def admit(self, sub: str, flow: Mapping[str, str]) -> None:
        """Ask every gate before a login; a refusal is a failed login (an event) and raised."""
        try:
            await self.check(sub)
        except GatewayError as exc:
            await self.events.emit("login", sub, {**flow, "result": exc.error})
            raise

    async def roles(self, session: Session) -> Collection[str]:
        """The roles the session's access tokens carry: the gateway's own sessions always;
        an OpenID Provider client's only when it was granted the ``roles`` scope."""
        if self.roles_of is None:
            return ()
        if session.client_id and ROLES_SCOPE not in session.scope.split():
            return ()
        return await self.roles_of(session.sub)

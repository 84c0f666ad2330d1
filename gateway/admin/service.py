"""``Administration``: what an operator may do to a user, each action audited once.

Shared by the admin API, the admin page (through the API) and the CLI, so every way in does the
same thing: change the user directory, end sessions through the token service (the revocation
fan-out reaches every replica), write one audit entry (actor, target, before and after) and
count ``wxgate_admin_actions_total{action}``. An action that changes nothing (granting a role
the user holds, enabling an enabled user) is still audited, with ``result`` ``unchanged``.

``actor`` names who acted: the administrator's subject, ``admin-token`` for the token in
``[admin] token_file``, or ``cli`` (with the operator's login name when known).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.admin.audit import AuditLog
from gateway.admin.metrics import AdminMetrics
from gateway.errors import AccountDisabled, NotFound
from gateway.metrics import Metrics
from gateway.tokens import Session, TokenService
from gateway.users import User, UserDirectory, check_role

__all__ = ["Administration", "UserView"]


@dataclass(frozen=True, slots=True)
class UserView:
    """A user with their live sessions (the newest first)."""

    user: User
    sessions: tuple[Session, ...]


class Administration:
    """Operator actions on users, audited."""

    def __init__(
        self, users: UserDirectory, tokens: TokenService, audit: AuditLog, metrics: Metrics
    ) -> None:
        self.users = users
        self.tokens = tokens
        self.audit = audit
        self._metrics = metrics.of(AdminMetrics)

    async def refuse_disabled(self, sub: str) -> None:
        """The token service's gate (``TokenService.guard_sessions``): a disabled user starts
        no session, whichever flow they come through."""
        user = await self.users.get(sub)
        if user is not None and user.disabled:
            raise AccountDisabled()

    async def user(self, sub: str) -> User:
        user = await self.users.get(sub)
        if user is None:
            raise NotFound("no such user")
        return user

    async def view(self, sub: str) -> UserView:
        """The user ``sub`` with their live sessions (NotFound for an unknown user)."""
        user = await self.user(sub)
        return UserView(user, tuple(await self.tokens.list_sessions(sub)))

    async def grant_role(self, actor: str, sub: str, role: str) -> bool:
        check_role(role)
        before = (await self.user(sub)).roles
        changed = await self.users.grant_role(sub, role)
        await self._done("grant_role", actor, sub, changed, before, before | {role}, role=role)
        return changed

    async def revoke_role(self, actor: str, sub: str, role: str) -> bool:
        check_role(role)
        before = (await self.user(sub)).roles
        changed = await self.users.revoke_role(sub, role)
        await self._done("revoke_role", actor, sub, changed, before, before - {role}, role=role)
        return changed

    async def set_disabled(self, actor: str, sub: str, disabled: bool) -> list[str]:
        """Disable (and end every session of) or enable ``sub``; the sids ended. Enabling
        restores logins, not the sessions that were ended."""
        before = (await self.user(sub)).disabled
        changed = await self.users.set_disabled(sub, disabled)
        ended = await self.tokens.revoke_user_sessions(sub) if disabled else []
        action = "disable" if disabled else "enable"
        await self._done(action, actor, sub, changed, {"disabled": before},
                         {"disabled": disabled}, sessions_ended=len(ended))  # fmt: skip
        return ended

    async def revoke_session(self, actor: str, sub: str, sid: str) -> bool:
        """End one live session of ``sub``; NotFound if ``sid`` is not one."""
        await self.user(sub)
        if not await self.tokens.revoke_user_session(sub, sid):
            raise NotFound("no such live session for this user")
        await self._done("revoke_session", actor, sub, True, {"sid": sid, "state": "active"},
                         {"sid": sid, "state": "revoked"})  # fmt: skip
        return True

    async def revoke_sessions(self, actor: str, sub: str, *, keep: str | None = None) -> list[str]:
        """End every live session of ``sub`` (but ``keep``: the caller's own, from the account
        page); the sids ended."""
        await self.user(sub)
        ended = await self.tokens.revoke_user_sessions(sub, keep=keep)
        await self._done("revoke_sessions", actor, sub, bool(ended), {"sessions": ended},
                         {"sessions": []})  # fmt: skip
        return ended

    # -- the person's own sessions (the account page): audited as logouts by themselves ----

    async def end_own_session(self, sub: str, sid: str) -> bool:
        """End ``sid`` if it is a live session of ``sub``; whether it was."""
        ended = await self.tokens.revoke_user_session(sub, sid)
        if ended:
            await self.audit.record("logout", "end_session", actor=sub, subject=sub,
                                    details={"sid": sid})  # fmt: skip
        return ended

    async def end_other_sessions(self, sub: str, keep: str) -> list[str]:
        """End every live session of ``sub`` but ``keep`` (the one asking); the sids."""
        ended = await self.tokens.revoke_user_sessions(sub, keep=keep)
        await self.audit.record("logout", "end_other_sessions", actor=sub, subject=sub,
                                details={"sessions": ended})  # fmt: skip
        return ended

    async def _done(
        self, action: str, actor: str, sub: str, changed: bool, before: Any, after: Any,
        **extra: Any,
    ) -> None:  # fmt: skip
        self._metrics.actions.labels(action=action).inc()
        details = {"before": before, "after": after if changed else before, **extra}
        result = "ok" if changed else "unchanged"
        await self.audit.record(
            "admin", action, actor=actor, subject=sub, result=result, details=details
        )

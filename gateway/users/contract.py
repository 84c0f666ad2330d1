"""The user directory contract: the protocol both backends implement, and its values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gateway.users.entries import AuditEntry, AuditQuery

__all__ = ["Identity", "IdentityRecord", "Profile", "User", "UserDirectory"]


@dataclass(frozen=True, slots=True)
class Identity:
    """A WeChat identity as seen by one configured app (``app`` is its config name).

    ``unionid`` is None when WeChat did not return one (the app is not bound to an Open Platform
    account, or the scope did not allow it); an empty string is treated as None.
    """

    app: str
    appid: str
    openid: str
    unionid: str | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """Optional display data; None or empty fields leave the stored value unchanged (§6.11)."""

    nickname: str | None = None
    avatar_url: str | None = None


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    """An identity linked to a user, with the time (epoch seconds) it was first linked."""

    app: str
    appid: str
    openid: str
    unionid: str | None
    linked_at: float

    @property
    def identity(self) -> Identity:
        return Identity(self.app, self.appid, self.openid, self.unionid)


@dataclass(frozen=True, slots=True)
class User:
    """A user of the gateway; ``identities`` are ordered by ``linked_at`` (oldest first)."""

    sub: str
    created_at: float
    unionid: str | None
    phone: str | None
    nickname: str | None
    avatar_url: str | None
    identities: tuple[IdentityRecord, ...]
    # authorization and administration: the user's roles, and whether an operator disabled
    # the user (``disabled_at``: when, epoch seconds; None while enabled)
    roles: frozenset[str] = frozenset()
    disabled: bool = False
    disabled_at: float | None = None

    def identity_for(self, appid: str) -> IdentityRecord | None:
        """The identity this user has in the app with ``appid``, if any."""
        return next((i for i in self.identities if i.appid == appid), None)


class UserDirectory(Protocol):
    """The user directory contract. Every method may raise ``TemporarilyUnavailable``."""

    async def open(self) -> None:
        """Connect and create or migrate the schema (safe when several replicas start at once).

        Call before any other method (calling it again only re-checks the schema). Raises
        ``TemporarilyUnavailable`` when the database cannot be reached (everything acquired so
        far is released).
        """
        ...

    async def link(self, identity: Identity, profile: Profile | None = None) -> tuple[User, bool]:
        """The user for ``identity``, created if new; returns ``(user, created)``.

        Linking (§6.10): by unionid first when given, else by ``(appid, openid)``. A unionid seen
        for the first time on a known ``(appid, openid)`` is attached to that user; a known
        unionid with a new ``(appid, openid)`` adds the identity to the unionid's user; otherwise
        a user is created. A known unionid wins over a known ``(appid, openid)`` linked to
        another user: the identity moves to the unionid's user (logged as a warning; the old
        user keeps its row). Concurrent calls for the same new person create exactly one user,
        across processes too. Non-empty ``profile`` fields replace the stored ones.
        """
        ...

    async def get(self, sub: str) -> User | None:
        """The user with subject id ``sub``, or None."""
        ...

    async def find(self, appid: str, openid: str) -> User | None:
        """The user holding the identity ``(appid, openid)``, or None."""
        ...

    async def set_phone(self, sub: str, phone: str) -> None:
        """Record the user's phone number; raises ``NotFound`` for an unknown ``sub``."""
        ...

    async def grant_role(self, sub: str, role: str) -> bool:
        """Give ``role`` to user ``sub``; True if the user did not have it yet.

        Raises ``InvalidRequest`` for a name that is not a role name (``is_role_name``),
        ``NotFound`` for an unknown ``sub``.
        """
        ...

    async def revoke_role(self, sub: str, role: str) -> bool:
        """Take ``role`` from user ``sub``; True if the user had it.

        Raises ``InvalidRequest`` for a name that is not a role name, ``NotFound`` for an
        unknown ``sub``.
        """
        ...

    async def set_disabled(self, sub: str, disabled: bool) -> bool:
        """Disable (``disabled_at`` = now) or enable user ``sub``; True if that changed
        anything. Raises ``NotFound`` for an unknown ``sub``. Ending the user's sessions is
        the caller's business (the directory knows nothing of tokens)."""
        ...

    async def search(self, q: str, *, after: str | None = None, limit: int = 50) -> list[User]:
        """One page of users matching ``q`` by sub, unionid, openid or nickname, ordered by
        sub; the next page starts ``after`` the last sub (``users.search``)."""
        ...

    async def append_audit(self, entry: AuditEntry) -> None:
        """Append one audit entry (the log is append-only: nothing updates an entry)."""
        ...

    async def query_audit(self, query: AuditQuery) -> list[AuditEntry]:
        """Audit entries matching ``query``, newest first."""
        ...

    async def purge_audit(self, before: float) -> int:
        """Delete audit entries older than ``before`` (epoch seconds); how many."""
        ...

    async def schema_version(self) -> int:
        """The schema version recorded in the database."""
        ...

    async def ping(self) -> None:
        """Raise ``TemporarilyUnavailable`` unless the database answers."""
        ...

    async def close(self) -> None:
        """Release connections (idempotent)."""
        ...

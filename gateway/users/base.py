"""The user directory over SQL, shared by both backends: the linking algorithm lives here.

A backend subclasses ``SqlUserDirectory`` and supplies connections (``_connect``, ``close``,
``ping``), a write transaction and a read context (each yielding a ``Tx``, translating its
driver's errors: unique violations and serialization failures to ``Conflict``, an unreachable
database to ``TemporarilyUnavailable``) and the cross-process lock that serializes migrations.

How concurrent first logins end up as one user: every write is guarded by a unique constraint
(``users.sub``, ``users.unionid``, ``identities (appid, openid)``) and written with
``INSERT ... ON CONFLICT DO NOTHING``. An insert that changed nothing means a concurrent link
committed the row first (PostgreSQL makes the insert wait for the other transaction, then skips
it); the whole transaction is rolled back, including a user row it may have inserted, and the
link runs again, now reading the winner's rows. An ``UPDATE`` that meets such a row (attaching
a unionid another transaction just took) fails with a unique violation and is retried the same
way. Each retry follows a commit by someone else, so a handful of attempts is plenty.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager

from gateway.clock import Clock
from gateway.errors import NotFound, TemporarilyUnavailable
from gateway.users.audit import append_entry, purge_entries, query_entries
from gateway.users.contract import Identity, IdentityRecord, Profile, User
from gateway.users.entries import AuditEntry, AuditQuery
from gateway.users.roles import check_role
from gateway.users.search import search_subjects
from gateway.users.sql import (
    ATTACH_UNIONID,
    DELETE_ROLE,
    INSERT_IDENTITY,
    INSERT_ROLE,
    INSERT_USER,
    SELECT_IDENTITY,
    SELECT_ROLES,
    SELECT_SUB_BY_UNIONID,
    SELECT_USER_BY_IDENTITY,
    SELECT_USER_BY_SUB,
    SET_DISABLED,
    SET_PHONE,
    UPDATE_IDENTITY,
    UPDATE_PROFILE,
    USER_EXISTS,
    Conflict,
    Row,
    Tx,
    current_version,
    migrate,
    user_from_rows,
)

__all__ = ["LINK_ATTEMPTS", "SqlUserDirectory", "new_subject"]

LINK_ATTEMPTS = 5
log = logging.getLogger(__name__)


def new_subject() -> str:
    """A new subject id: ``u_`` + 128 random bits as 22 URL-safe base64 characters."""
    return "u_" + secrets.token_urlsafe(16)


class SqlUserDirectory(ABC):
    """``UserDirectory`` over a SQL backend (see the module docstring for the contract)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    # ----------------------------------------------------------------- backend hooks

    @abstractmethod
    async def _connect(self) -> None:
        """Open connections; raise ``TemporarilyUnavailable`` when unreachable."""

    @abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[Tx]:
        """A write transaction: commits when the block succeeds, rolls back otherwise."""

    @abstractmethod
    def _reading(self) -> AbstractAsyncContextManager[Tx]:
        """A connection for single-statement reads."""

    @abstractmethod
    async def _lock_schema(self, tx: Tx) -> None:
        """Hold, until ``tx`` ends, the lock that lets one process at a time migrate."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise ``TemporarilyUnavailable`` unless the database answers."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections (idempotent)."""

    # ----------------------------------------------------------------- the contract

    async def open(self) -> None:
        """Connect, then create or migrate the schema; on failure release everything."""
        try:
            await self._connect()
            async with self._transaction() as tx:
                await self._lock_schema(tx)
                await migrate(tx, self._clock.time())
        except BaseException:
            await self.close()
            raise

    async def link(self, identity: Identity, profile: Profile | None = None) -> tuple[User, bool]:
        """See ``UserDirectory.link``."""
        ident = _normalized(identity)
        wanted = _wanted_profile(profile)
        async with self._reading() as tx:  # a returning person's login usually writes nothing
            unchanged = await _unchanged(tx, ident, wanted)
        if unchanged is not None:
            return unchanged, False
        for _ in range(LINK_ATTEMPTS):
            try:
                async with self._transaction() as tx:
                    return await _link(tx, ident, wanted, self._clock.time())
            except Conflict:
                continue  # a concurrent link committed first; the next attempt reads its rows
        raise TemporarilyUnavailable("the user directory is busy; try again")

    async def get(self, sub: str) -> User | None:
        """See ``UserDirectory.get``."""
        async with self._reading() as tx:
            return await _read_user(tx, SELECT_USER_BY_SUB, sub)

    async def find(self, appid: str, openid: str) -> User | None:
        """See ``UserDirectory.find``."""
        async with self._reading() as tx:
            return await _read_user(tx, SELECT_USER_BY_IDENTITY, appid, openid)

    async def grant_role(self, sub: str, role: str) -> bool:
        """See ``UserDirectory.grant_role``."""
        check_role(role)
        async with self._transaction() as tx:
            await _require_user(tx, sub)
            return await tx.execute(INSERT_ROLE, sub, role, self._clock.time()) > 0

    async def revoke_role(self, sub: str, role: str) -> bool:
        """See ``UserDirectory.revoke_role``."""
        check_role(role)
        async with self._transaction() as tx:
            await _require_user(tx, sub)
            return await tx.execute(DELETE_ROLE, sub, role) > 0

    async def set_disabled(self, sub: str, disabled: bool) -> bool:
        """See ``UserDirectory.set_disabled``."""
        at = self._clock.time() if disabled else None
        async with self._transaction() as tx:
            await _require_user(tx, sub)
            return await tx.execute(SET_DISABLED, sub, int(disabled), at) > 0

    async def set_phone(self, sub: str, phone: str) -> None:
        """See ``UserDirectory.set_phone``."""
        async with self._transaction() as tx:
            if await tx.execute(SET_PHONE, sub, phone) == 0:
                raise NotFound("no such user")

    async def search(self, q: str, *, after: str | None = None, limit: int = 50) -> list[User]:
        """See ``UserDirectory.search``."""
        async with self._reading() as tx:
            subs = await search_subjects(tx, q, after, limit)
            found = [await _read_user(tx, SELECT_USER_BY_SUB, sub) for sub in subs]
        return [user for user in found if user is not None]

    async def append_audit(self, entry: AuditEntry) -> None:
        """See ``UserDirectory.append_audit``."""
        async with self._transaction() as tx:
            await append_entry(tx, entry)

    async def query_audit(self, query: AuditQuery) -> list[AuditEntry]:
        """See ``UserDirectory.query_audit``."""
        async with self._reading() as tx:
            return await query_entries(tx, query)

    async def purge_audit(self, before: float) -> int:
        """See ``UserDirectory.purge_audit``."""
        async with self._transaction() as tx:
            return await purge_entries(tx, before)

    async def schema_version(self) -> int:
        """See ``UserDirectory.schema_version``."""
        async with self._reading() as tx:
            return await current_version(tx)


async def _read_user(tx: Tx, sql: str, *args: object) -> User | None:
    """The user a ``SELECT_USER_*`` query finds, with its roles (a second statement: the
    roles of a user are read right after its row, on the same connection)."""
    rows = await tx.fetch(sql, *args)
    if not rows:
        return None
    return user_from_rows(rows, await tx.fetch(SELECT_ROLES, rows[0]["sub"]))


async def _require_user(tx: Tx, sub: str) -> None:
    if await tx.fetchrow(USER_EXISTS, sub) is None:
        raise NotFound("no such user")


# --------------------------------------------------------------------------- linking


def _normalized(identity: Identity) -> Identity:
    if not identity.appid or not identity.openid:
        raise ValueError("an identity needs an appid and an openid")
    if identity.unionid == "":
        return dataclasses.replace(identity, unionid=None)
    return identity


def _wanted_profile(profile: Profile | None) -> Profile:
    """The profile fields to store: empty strings count as absent (§6.11: optional data)."""
    if profile is None:
        return Profile()
    return Profile(profile.nickname or None, profile.avatar_url or None)


async def _unchanged(tx: Tx, ident: Identity, wanted: Profile) -> User | None:
    """The user of ``ident`` when ``_link`` would write nothing, else None (read-only).

    The same rules as ``_resolve``/``_apply_profile``, checked without the write lock: the
    identity is known under the same app name; a unionid it carries is already its own and
    its user's; the profile adds nothing. Anything else goes through the write transaction.
    """
    known = await tx.fetchrow(SELECT_IDENTITY, ident.appid, ident.openid)
    if known is None or known["app"] != ident.app:
        return None
    sub = str(known["sub"])
    if ident.unionid is not None and (
        known["unionid"] != ident.unionid or await _sub_by_unionid(tx, ident.unionid) != sub
    ):
        return None
    user = await _read_user(tx, SELECT_USER_BY_SUB, sub)
    if user is None or (wanted.nickname or user.nickname) != user.nickname:
        return None
    return user if (wanted.avatar_url or user.avatar_url) == user.avatar_url else None


async def _link(tx: Tx, ident: Identity, wanted: Profile, now: float) -> tuple[User, bool]:
    sub, created = await _resolve(tx, ident, wanted, now)
    if created:  # just written in this transaction: nothing to read back
        record = IdentityRecord(ident.app, ident.appid, ident.openid, ident.unionid, now)
        user = User(sub, now, ident.unionid, None, wanted.nickname, wanted.avatar_url, (record,))
        return user, True
    found = await _read_user(tx, SELECT_USER_BY_SUB, sub)
    if found is None:  # deleted under us: start again
        raise Conflict("user vanished during link")
    return await _apply_profile(tx, found, wanted), False


async def _resolve(tx: Tx, ident: Identity, wanted: Profile, now: float) -> tuple[str, bool]:
    """The subject id for ``ident`` (linking or creating as needed) and whether it is new.

    Unionid first (§6.10): a known unionid decides the user; else a known ``(appid, openid)``
    does, and a unionid seen with it for the first time is attached to that user; else create.
    """
    known = await tx.fetchrow(SELECT_IDENTITY, ident.appid, ident.openid)
    union_sub = await _sub_by_unionid(tx, ident.unionid)
    if union_sub is not None:
        if known is None:
            await _insert_identity(tx, union_sub, ident, now)
        else:
            await _refresh_known(tx, known, ident, union_sub)
        return union_sub, False
    if known is not None:
        sub = str(known["sub"])
        await _refresh_known(tx, known, ident, sub)
        if ident.unionid is not None:
            await tx.execute(ATTACH_UNIONID, sub, ident.unionid)
        return sub, False
    sub = new_subject()
    args = (sub, now, ident.unionid, wanted.nickname, wanted.avatar_url)
    if await tx.execute(INSERT_USER, *args) == 0:
        raise Conflict("unionid linked concurrently")
    await _insert_identity(tx, sub, ident, now)
    return sub, True


async def _sub_by_unionid(tx: Tx, unionid: str | None) -> str | None:
    if unionid is None:
        return None
    row = await tx.fetchrow(SELECT_SUB_BY_UNIONID, unionid)
    return None if row is None else str(row["sub"])


async def _insert_identity(tx: Tx, sub: str, ident: Identity, now: float) -> None:
    args = (ident.appid, ident.openid, sub, ident.app, ident.unionid, now)
    if await tx.execute(INSERT_IDENTITY, *args) == 0:
        raise Conflict("identity linked concurrently")


async def _refresh_known(tx: Tx, known: Row, ident: Identity, sub: str) -> None:
    """Point a known identity at ``sub`` and record a new app name or unionid, if any changed.

    The identity moves only when its unionid belongs to another user: the person already has
    two accounts (the unionid reached another app's first login before this identity ever
    carried it). Moving it makes every later login of the person land on the unionid's user.
    """
    unionid = ident.unionid or known["unionid"]
    if (known["sub"], known["app"], known["unionid"]) == (sub, ident.app, unionid):
        return
    if known["sub"] != sub:
        log.warning("identity moved from user %s to user %s (same unionid)", known["sub"], sub)
    await tx.execute(UPDATE_IDENTITY, ident.appid, ident.openid, sub, ident.app, unionid)


async def _apply_profile(tx: Tx, user: User, wanted: Profile) -> User:
    nickname = wanted.nickname or user.nickname
    avatar_url = wanted.avatar_url or user.avatar_url
    if (nickname, avatar_url) == (user.nickname, user.avatar_url):
        return user
    await tx.execute(UPDATE_PROFILE, user.sub, nickname, avatar_url)
    return dataclasses.replace(user, nickname=nickname, avatar_url=avatar_url)

"""SQL shared by both backends: the statements, the schema migrations and row mapping.

Statements use PostgreSQL's ``$n`` placeholders; the SQLite backend rewrites them to SQLite's
numbered ``?n`` form (same meaning, same positional arguments). Both dialects accept everything
else used here: ``ON CONFLICT DO NOTHING`` (SQLite >= 3.24), ``DOUBLE PRECISION``, ``TEXT``.

The backends talk to this module through ``Tx``, a small view of one connection inside one
transaction, and report a unique-constraint or serialization conflict as ``Conflict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from gateway.users.contract import IdentityRecord, User

__all__ = [
    "ATTACH_UNIONID",
    "DELETE_ROLE",
    "INSERT_IDENTITY",
    "INSERT_ROLE",
    "INSERT_USER",
    "MIGRATIONS",
    "SELECT_IDENTITY",
    "SELECT_ROLES",
    "SELECT_SUB_BY_UNIONID",
    "SELECT_USER_BY_IDENTITY",
    "SELECT_USER_BY_SUB",
    "SET_DISABLED",
    "SET_PHONE",
    "UPDATE_IDENTITY",
    "UPDATE_PROFILE",
    "USER_EXISTS",
    "Conflict",
    "Row",
    "Tx",
    "current_version",
    "migrate",
    "user_from_rows",
]


class Conflict(Exception):
    """A concurrent transaction committed a conflicting row first; retry to read it."""


class Row(Protocol):
    """A result row addressed by column name (asyncpg ``Record``, ``sqlite3.Row``)."""

    def __getitem__(self, key: str, /) -> Any: ...


class Tx(Protocol):
    """One connection inside one transaction (or, for reads, one consistent statement)."""

    async def fetch(self, sql: str, *args: object) -> Sequence[Row]:
        """All rows of a query."""
        ...

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        """The first row of a query, or None."""
        ...

    async def execute(self, sql: str, *args: object) -> int:
        """Run a statement; the number of rows it changed. Raises ``Conflict`` on a
        unique-constraint violation (the transaction is then unusable: let it roll back)."""
        ...


# --------------------------------------------------------------------------- schema

SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at DOUBLE PRECISION NOT NULL
)"""

# Ordered; each entry is one schema version (its statements run in the migrating transaction).
# Never edit a released entry: append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE users (
            sub TEXT PRIMARY KEY,
            created_at DOUBLE PRECISION NOT NULL,
            unionid TEXT UNIQUE,
            phone TEXT,
            nickname TEXT,
            avatar_url TEXT
        )""",
        """
        CREATE TABLE identities (
            appid TEXT NOT NULL,
            openid TEXT NOT NULL,
            sub TEXT NOT NULL REFERENCES users (sub) ON DELETE CASCADE,
            app TEXT NOT NULL,
            unionid TEXT,
            linked_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (appid, openid)
        )""",
        "CREATE INDEX identities_sub ON identities (sub)",
    ),
    # 2: authorization and administration: roles, and the disabled flag (0/1, an INTEGER in
    # both dialects so one statement text serves both)
    (
        """
        CREATE TABLE roles (
            sub TEXT NOT NULL REFERENCES users (sub) ON DELETE CASCADE,
            role TEXT NOT NULL,
            granted_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (sub, role)
        )""",
        "CREATE INDEX roles_role ON roles (role)",
        "ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE users ADD COLUMN disabled_at DOUBLE PRECISION",
    ),
    # 3: the audit log (append-only; ``users.audit``)
    (
        """
    CREATE TABLE audit_log (
        id TEXT PRIMARY KEY,
        at DOUBLE PRECISION NOT NULL,
        kind TEXT NOT NULL,
        action TEXT NOT NULL,
        actor TEXT NOT NULL,
        subject TEXT NOT NULL,
        result TEXT NOT NULL,
        client_ip TEXT NOT NULL,
        user_agent TEXT NOT NULL,
        details TEXT NOT NULL
    )""",
        "CREATE INDEX audit_log_at ON audit_log (at)",
        "CREATE INDEX audit_log_subject ON audit_log (subject, id)",
        "CREATE INDEX audit_log_actor ON audit_log (actor, id)",
    ),
)


async def current_version(tx: Tx) -> int:
    """The highest schema version recorded (0 for an empty database with the version table)."""
    row = await tx.fetchrow("SELECT MAX(version) AS version FROM schema_version")
    return int(row["version"]) if row is not None and row["version"] is not None else 0


async def migrate(tx: Tx, now: float) -> int:
    """Bring the schema up to date inside ``tx``; the resulting version.

    The caller holds a lock that serializes migrations across processes (SQLite: the write
    lock of ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), so the
    version read here cannot change before the transaction commits. A database newer than
    this code is left alone (a rolling upgrade may run old and new replicas side by side).
    """
    await tx.execute(SCHEMA_VERSION_TABLE)
    version = await current_version(tx)
    for number in range(version + 1, len(MIGRATIONS) + 1):
        for statement in MIGRATIONS[number - 1]:
            await tx.execute(statement)
        await tx.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)", number, now
        )
    return max(version, len(MIGRATIONS))


# --------------------------------------------------------------------------- statements

SELECT_IDENTITY = "SELECT sub, app, unionid FROM identities WHERE appid = $1 AND openid = $2"
SELECT_SUB_BY_UNIONID = "SELECT sub FROM users WHERE unionid = $1"
INSERT_USER = """
INSERT INTO users (sub, created_at, unionid, nickname, avatar_url)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING"""
INSERT_IDENTITY = """
INSERT INTO identities (appid, openid, sub, app, unionid, linked_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT DO NOTHING"""
UPDATE_IDENTITY = """
UPDATE identities SET sub = $3, app = $4, unionid = $5 WHERE appid = $1 AND openid = $2"""
ATTACH_UNIONID = "UPDATE users SET unionid = $2 WHERE sub = $1 AND unionid IS NULL"
UPDATE_PROFILE = "UPDATE users SET nickname = $2, avatar_url = $3 WHERE sub = $1"
SET_PHONE = "UPDATE users SET phone = $2 WHERE sub = $1"
USER_EXISTS = "SELECT 1 AS present FROM users WHERE sub = $1"
SELECT_ROLES = "SELECT role FROM roles WHERE sub = $1"
INSERT_ROLE = """
INSERT INTO roles (sub, role, granted_at) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING"""
DELETE_ROLE = "DELETE FROM roles WHERE sub = $1 AND role = $2"
# changes only a user whose flag differs, so the row count says whether anything changed
SET_DISABLED = """
UPDATE users SET disabled = $2, disabled_at = $3 WHERE sub = $1 AND disabled <> $2"""

# One statement per read, so a user and its identities come from one snapshot without an
# explicit transaction.
_SELECT_USER = """
SELECT u.sub, u.created_at, u.unionid, u.phone, u.nickname, u.avatar_url,
       u.disabled, u.disabled_at,
       i.app, i.appid, i.openid, i.unionid AS identity_unionid, i.linked_at
FROM users u LEFT JOIN identities i ON i.sub = u.sub
WHERE {where}
ORDER BY i.linked_at, i.appid, i.openid"""
SELECT_USER_BY_SUB = _SELECT_USER.format(where="u.sub = $1")
SELECT_USER_BY_IDENTITY = _SELECT_USER.format(
    where="u.sub = (SELECT sub FROM identities WHERE appid = $1 AND openid = $2)"
)


def user_from_rows(rows: Sequence[Row], roles: Sequence[Row] = ()) -> User | None:
    """The user described by the rows of a ``SELECT_USER_*`` query (None when no rows), with
    the rows of ``SELECT_ROLES`` for it."""
    if not rows:
        return None
    first = rows[0]
    identities = tuple(
        IdentityRecord(
            app=r["app"],
            appid=r["appid"],
            openid=r["openid"],
            unionid=r["identity_unionid"],
            linked_at=float(r["linked_at"]),
        )
        for r in rows
        if r["appid"] is not None
    )
    return User(
        sub=first["sub"],
        created_at=float(first["created_at"]),
        unionid=first["unionid"],
        phone=first["phone"],
        nickname=first["nickname"],
        avatar_url=first["avatar_url"],
        identities=identities,
        roles=frozenset(str(r["role"]) for r in roles),
        disabled=bool(first["disabled"]),
        disabled_at=None if first["disabled_at"] is None else float(first["disabled_at"]),
    )

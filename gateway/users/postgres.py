"""PostgreSQL backend of the user directory (asyncpg pool): for several gateway replicas.

Transactions run at the server's default isolation, READ COMMITTED: each statement sees what
other transactions have committed before it started, which is what the conflict-and-retry link
of ``gateway.users.base`` needs (an ``INSERT ... ON CONFLICT DO NOTHING`` that met a concurrent
insert waits for it, skips, and the retry reads the winner's row). Schema migrations hold a
transaction-scoped advisory lock, so replicas starting together migrate one at a time and the
later ones find the schema current.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from gateway.clock import Clock
from gateway.config import UsersConfig
from gateway.errors import ServerError, TemporarilyUnavailable
from gateway.users.base import SqlUserDirectory
from gateway.users.sql import Conflict, Row, Tx

__all__ = [
    "ACQUIRE_TIMEOUT",
    "COMMAND_TIMEOUT",
    "CONNECT_TIMEOUT",
    "MIGRATION_LOCK_KEY",
    "PostgresUserDirectory",
]

CONNECT_TIMEOUT = 5.0
COMMAND_TIMEOUT = 5.0
ACQUIRE_TIMEOUT = 5.0
# pg_advisory_xact_lock key shared by every replica: the bytes of "wxgusers" as a signed bigint.
MIGRATION_LOCK_KEY = int.from_bytes(b"wxgusers", "big", signed=True)

# The database cannot be reached or is going away (TimeoutError is an OSError).
_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)
# Another transaction got there first (unique violation) or PostgreSQL chose this one to abort.
_CONFLICT_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.UniqueViolationError,
    asyncpg.exceptions.TransactionRollbackError,
)
_UNAVAILABLE = "the user database is unavailable"


def _rows_changed(status: str) -> int:
    """The row count of a command tag (``INSERT 0 1``, ``UPDATE 2``; 0 for ``CREATE TABLE``)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class _PgTx:
    """``Tx`` over one asyncpg connection."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: object) -> Sequence[Row]:
        rows: Sequence[Row] = await self._conn.fetch(sql, *args)
        return rows

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        row: Row | None = await self._conn.fetchrow(sql, *args)
        return row

    async def execute(self, sql: str, *args: object) -> int:
        return _rows_changed(await self._conn.execute(sql, *args))


class PostgresUserDirectory(SqlUserDirectory):
    """The user directory in the PostgreSQL database ``config.url`` (pool of
    ``config.pool_min``..``config.pool_max`` connections)."""

    def __init__(self, config: UsersConfig, clock: Clock) -> None:
        super().__init__(clock)
        self._config = config
        self._pool: Any = None

    async def _connect(self) -> None:
        if self._pool is not None:
            return
        try:
            self._pool = await asyncpg.create_pool(
                self._config.url,
                min_size=self._config.pool_min,
                max_size=self._config.pool_max,
                timeout=CONNECT_TIMEOUT,
                command_timeout=COMMAND_TIMEOUT,
            )
        except (*_UNAVAILABLE_ERRORS, asyncpg.PostgresError) as exc:
            # At connect time a PostgresError is a refusal (bad password, no such database):
            # the database is unusable for us until someone fixes it.
            raise TemporarilyUnavailable(_UNAVAILABLE) from exc

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """A pooled connection; driver errors translated."""
        if self._pool is None:
            raise ServerError("the user directory is not open")
        try:
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
                yield conn
        except _CONFLICT_ERRORS as exc:
            raise Conflict(str(exc)) from exc
        except _UNAVAILABLE_ERRORS as exc:
            raise TemporarilyUnavailable(_UNAVAILABLE) from exc

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Tx]:
        async with self._connection() as conn, conn.transaction():
            yield _PgTx(conn)

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[Tx]:
        async with self._connection() as conn:
            yield _PgTx(conn)

    async def _lock_schema(self, tx: Tx) -> None:
        await tx.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)

    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.fetchval("SELECT 1")

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

"""SQLite backend of the user directory (aiosqlite): the embedded default, for one host.

One connection, guarded by an ``asyncio.Lock``. SQLite admits one writer at a time anyway, and
aiosqlite runs every statement of a connection on one thread, so a pool would add threads and
``SQLITE_BUSY`` retries without adding throughput; the lock also keeps one coroutine's
transaction from seeing another's statements on the shared connection. Writes use
``BEGIN IMMEDIATE`` (the write lock is taken up front, so another worker process sharing the
file waits up to ``BUSY_TIMEOUT_MS`` instead of failing mid-transaction; the contract suite runs
two directories on one file to check this). WAL mode lets readers in other processes (workers,
backups, an operator's ``sqlite3`` shell) read while one writes.
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import aiosqlite

from gateway.clock import Clock
from gateway.errors import ServerError, TemporarilyUnavailable
from gateway.users.base import SqlUserDirectory
from gateway.users.sql import Conflict, Row, Tx

__all__ = ["BUSY_TIMEOUT_MS", "SqliteUserDirectory"]

BUSY_TIMEOUT_MS = 5000
WAL_SWITCH_ATTEMPTS = 10
_PRAGMAS = (f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}", "PRAGMA foreign_keys = ON")
_UNAVAILABLE = "the user database is unavailable"


@functools.lru_cache(maxsize=64)
def _dialect(sql: str) -> str:
    """PostgreSQL ``$n`` placeholders as SQLite's numbered ``?n`` (same positional binding)."""
    return re.sub(r"\$(\d+)", r"?\1", sql)


async def _enable_wal(session: _SqliteTx) -> None:
    """Switch the file to WAL mode (persistent: a no-op once done).

    The switch needs an exclusive lock. When two connections switch a fresh file at once, SQLite
    answers "database is locked" at once instead of calling the busy handler (each holds the
    shared lock the other waits for), so retry briefly; one of them wins and the rest find WAL.
    """
    for attempt in range(1, WAL_SWITCH_ATTEMPTS + 1):
        try:
            await session.fetch("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if attempt == WAL_SWITCH_ATTEMPTS:
                raise
            await asyncio.sleep(0.01 * attempt)


class _SqliteTx:
    """``Tx`` over one aiosqlite connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *args: object) -> Sequence[Row]:
        async with self.conn.execute(_dialect(sql), args) as cursor:
            return list(await cursor.fetchall())

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        async with self.conn.execute(_dialect(sql), args) as cursor:
            row: Row | None = await cursor.fetchone()
            return row

    async def execute(self, sql: str, *args: object) -> int:
        async with self.conn.execute(_dialect(sql), args) as cursor:
            return int(cursor.rowcount)


class SqliteUserDirectory(SqlUserDirectory):
    """The user directory in the SQLite file ``path`` (parent directories are created)."""

    def __init__(self, path: Path, clock: Clock) -> None:
        super().__init__(clock)
        self._path = path
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def _connect(self) -> None:
        if self._conn is not None:
            return
        try:
            if str(self._path) != ":memory:":
                self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = await aiosqlite.connect(self._path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise TemporarilyUnavailable(_UNAVAILABLE) from exc
        self._conn = conn
        conn.row_factory = sqlite3.Row
        async with self._session() as session:
            for pragma in _PRAGMAS:
                await session.fetch(pragma)
            await _enable_wal(session)

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[_SqliteTx]:
        """The connection, held exclusively; driver errors translated."""
        async with self._lock:
            if self._conn is None:
                raise ServerError("the user directory is not open")
            try:
                yield _SqliteTx(self._conn)
            except sqlite3.IntegrityError as exc:
                raise Conflict(str(exc)) from exc
            except (sqlite3.Error, OSError) as exc:
                raise TemporarilyUnavailable(_UNAVAILABLE) from exc

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Tx]:
        async with self._session() as session:
            conn = session.conn
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield session
                await conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
                raise

    def _reading(self) -> AbstractAsyncContextManager[Tx]:
        return self._session()

    async def _lock_schema(self, tx: Tx) -> None:
        """Nothing to add: ``BEGIN IMMEDIATE`` already holds the database's write lock."""

    async def ping(self) -> None:
        async with self._session() as session:
            await session.fetch("SELECT 1")

    async def close(self) -> None:
        async with self._lock:  # let a running transaction finish first
            conn, self._conn = self._conn, None
            if conn is not None:
                await conn.close()

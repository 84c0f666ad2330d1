"""SQLite backend of the user directory: the embedded default, for one node.

Statements run **inline on the event loop**, through the standard ``sqlite3`` module, not on a
helper thread: a link is five short statements on a local file, ~0.1 ms in all, while handing
each statement to a thread (aiosqlite) cost ~1.2 ms per link here and capped mini-program
logins at a quarter of the signing bound (tests/bench/bench_login.py). Nothing in this module
waits on I/O that can stall: WAL mode with ``synchronous = NORMAL`` makes a commit a write to
the WAL without fsync (SQLite's recommended WAL setting: a power loss may roll back the last
commits, never corrupt the file; several replicas belong on PostgreSQL), and ``busy_timeout``
is 0 so a lock held by another process is never waited for inside SQLite: ``BEGIN IMMEDIATE``
fails at once and is retried here with an asynchronous back-off.

One connection, guarded by an ``asyncio.Lock`` so one coroutine's transaction never sees
another's statements. WAL lets other processes (backups, an operator's ``sqlite3`` shell) read
while the gateway writes.
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from gateway.clock import Clock
from gateway.errors import ServerError, TemporarilyUnavailable
from gateway.users.base import SqlUserDirectory
from gateway.users.sql import Conflict, Row, Tx

__all__ = ["LOCK_WAIT_SECONDS", "SqliteUserDirectory"]

LOCK_WAIT_SECONDS = 5.0  # how long a write waits for another process's write lock
_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 0",
)
_UNAVAILABLE = "the user database is unavailable"


@functools.lru_cache(maxsize=64)
def _dialect(sql: str) -> str:
    """PostgreSQL ``$n`` placeholders as SQLite's numbered ``?n`` (same positional binding)."""
    return re.sub(r"\$(\d+)", r"?\1", sql)


def _is_locked(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


class _SqliteTx:
    """``Tx`` over one sqlite3 connection (each call completes without yielding)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *args: object) -> Sequence[Row]:
        return self.conn.execute(_dialect(sql), args).fetchall()

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        row: Row | None = self.conn.execute(_dialect(sql), args).fetchone()
        return row

    async def execute(self, sql: str, *args: object) -> int:
        return int(self.conn.execute(_dialect(sql), args).rowcount)


class SqliteUserDirectory(SqlUserDirectory):
    """The user directory in the SQLite file ``path`` (parent directories are created)."""

    def __init__(self, path: Path, clock: Clock) -> None:
        super().__init__(clock)
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    async def _connect(self) -> None:
        try:
            if str(self._path) != ":memory:":
                self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise TemporarilyUnavailable(_UNAVAILABLE) from exc
        self._conn = conn
        conn.row_factory = sqlite3.Row
        for pragma in _PRAGMAS:
            await self._retry_locked(functools.partial(conn.execute, pragma))

    async def _retry_locked(self, step: Callable[[], object]) -> None:
        """Run ``step``, retrying while another process holds the database's lock."""
        deadline = asyncio.get_running_loop().time() + LOCK_WAIT_SECONDS
        delay = 0.002
        while True:
            try:
                step()
                return
            except sqlite3.Error as exc:
                if not _is_locked(exc) or asyncio.get_running_loop().time() > deadline:
                    raise TemporarilyUnavailable(_UNAVAILABLE) from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

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
            await self._retry_locked(lambda: conn.execute("BEGIN IMMEDIATE"))
            try:
                yield session
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
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
                conn.close()

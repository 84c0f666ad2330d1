"""SQLite backend of the user directory: the embedded default, for one node.

Statements run **inline on the event loop**, through the standard ``sqlite3`` module, not on a
helper thread: a link is five short statements on a local file, ~0.1 ms in all, while handing
each statement to a thread (aiosqlite) cost ~1.2 ms per link here and capped mini-program
logins at a quarter of the signing bound (tests/bench/bench_login.py). Nothing in this module
waits on I/O that can stall: WAL mode with ``synchronous = NORMAL`` makes a commit a write to
the WAL without fsync (SQLite's recommended WAL setting: a power loss may roll back the last
commits, never corrupt the file; several replicas belong on PostgreSQL), and ``busy_timeout``
is 0 so a lock held by another process is never waited for inside SQLite: ``BEGIN IMMEDIATE``
fails at once and is retried here with an asynchronous back-off. The fsyncs that remain are
the WAL checkpoints': SQLite's automatic checkpoint would run them inside a commit, blocking
the loop for a disk flush (measured: ~60 stalls a second under a login benchmark), so it is
off on the gateway's connection and a background task checkpoints (``PASSIVE``: it never
blocks a writer) from a worker thread on its own connection every ``CHECKPOINT_SECONDS``.

One connection, guarded by an ``asyncio.Lock`` so one coroutine's transaction never sees
another's statements. WAL lets other processes (backups, an operator's ``sqlite3`` shell) read
while the gateway writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from types import TracebackType

from gateway.clock import Clock
from gateway.errors import ServerError, TemporarilyUnavailable
from gateway.users.base import SqlUserDirectory
from gateway.users.sql import Conflict, Row, Tx

__all__ = ["CHECKPOINT_SECONDS", "LOCK_WAIT_SECONDS", "SqliteUserDirectory"]

LOCK_WAIT_SECONDS = 5.0  # how long a write waits for another process's write lock
CHECKPOINT_SECONDS = 1.0  # how often the WAL is copied back into the database file
_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 0",
    "PRAGMA wal_autocheckpoint = 0",  # checkpoints run off the loop (module docstring)
)
_UNAVAILABLE = "the user database is unavailable"
log = logging.getLogger("gateway.users")


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
        self._checkpointer: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

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
        self._start_checkpointer()

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

    def _transaction(self) -> AbstractAsyncContextManager[Tx]:
        return _Transaction(self)

    def _reading(self) -> AbstractAsyncContextManager[Tx]:
        return _Held(self)

    async def _lock_schema(self, tx: Tx) -> None:
        """Nothing to add: ``BEGIN IMMEDIATE`` already holds the database's write lock."""

    async def ping(self) -> None:
        async with self._reading() as tx:
            await tx.fetch("SELECT 1")

    async def close(self) -> None:
        task, self._checkpointer = self._checkpointer, None
        if task is not None:
            self._stopping.set()  # not cancel(): a checkpoint in its thread finishes first
            await task
        async with self._lock:  # let a running transaction finish first
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()  # the last connection to close checkpoints the WAL itself

    def _start_checkpointer(self) -> None:
        if str(self._path) != ":memory:" and self._checkpointer is None:
            self._checkpointer = asyncio.get_running_loop().create_task(self._checkpoints())

    async def _checkpoints(self) -> None:
        """Copy the WAL into the database file now and then, on a worker thread."""
        conn = await asyncio.to_thread(
            sqlite3.connect, self._path, isolation_level=None, check_same_thread=False
        )
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), CHECKPOINT_SECONDS)
                    return
                try:
                    await asyncio.to_thread(_checkpoint, conn)
                except sqlite3.Error as exc:  # the next round tries again
                    if not _is_locked(exc):  # locked: another worker is checkpointing
                        log.warning("sqlite checkpoint failed: %s", exc)
        finally:
            conn.close()


def _checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


class _Held:
    """``async with``: the connection held exclusively (the directory's lock), driver errors
    translated (IntegrityError -> ``Conflict``, others -> ``TemporarilyUnavailable``).

    Classes rather than ``asynccontextmanager``s: they run on every login.
    """

    __slots__ = ("_conn", "_directory")

    def __init__(self, directory: SqliteUserDirectory) -> None:
        self._directory = directory
        self._conn: sqlite3.Connection | None = None

    async def __aenter__(self) -> _SqliteTx:
        directory = self._directory
        await directory._lock.acquire()
        try:
            conn = directory._conn
            if conn is None:
                raise ServerError("the user directory is not open")
            await self._begin(conn)
        except BaseException:
            directory._lock.release()
            raise
        self._conn = conn
        return _SqliteTx(conn)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn = self._conn
        assert conn is not None
        try:
            try:
                failure = self._end(conn, exc)
            except (sqlite3.Error, OSError) as error:
                failure = error
            if isinstance(failure, sqlite3.IntegrityError):
                raise Conflict(str(failure)) from failure
            if isinstance(failure, (sqlite3.Error, OSError)):
                raise TemporarilyUnavailable(_UNAVAILABLE) from failure
        finally:
            self._directory._lock.release()

    async def _begin(self, conn: sqlite3.Connection) -> None:
        """Statements run in autocommit mode: nothing to open."""

    def _end(self, conn: sqlite3.Connection, exc: BaseException | None) -> BaseException | None:
        """The failure to report: the body's own (None when it succeeded)."""
        return exc


class _Transaction(_Held):
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on the held connection."""

    __slots__ = ()

    async def _begin(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            if not _is_locked(exc):
                raise TemporarilyUnavailable(_UNAVAILABLE) from exc
            await self._directory._retry_locked(lambda: conn.execute("BEGIN IMMEDIATE"))

    def _end(self, conn: sqlite3.Connection, exc: BaseException | None) -> BaseException | None:
        if exc is None:
            try:
                conn.execute("COMMIT")
                return None
            except sqlite3.Error as error:
                exc = error
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return exc

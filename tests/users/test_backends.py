"""Backend choice and backend-specific settings (the shared behaviour is in test_contract.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from gateway.clock import ManualClock
from gateway.config import UsersConfig
from gateway.errors import TemporarilyUnavailable
from gateway.users import (
    Identity,
    create_user_directory,
    open_user_directory,
    sqlite_path,
)
from gateway.users import sqlite as sqlite_module
from gateway.users.postgres import PostgresUserDirectory
from gateway.users.sqlite import SqliteUserDirectory


def test_sqlite_path_forms(tmp_path: Path) -> None:
    assert sqlite_path("", tmp_path) == tmp_path / "users.db"
    assert sqlite_path("sqlite:///var/u.db", tmp_path) == Path("var/u.db")
    assert sqlite_path("sqlite:////srv/wxgate/u.db", tmp_path) == Path("/srv/wxgate/u.db")
    for bad in ("sqlite://host/u.db", "sqlite:///", "mysql:///u.db"):
        with pytest.raises(ValueError):
            sqlite_path(bad, tmp_path)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("", SqliteUserDirectory),
        ("sqlite:///users.db", SqliteUserDirectory),
        ("postgresql://wxgate@127.0.0.1:5432/wxgate", PostgresUserDirectory),
        ("postgres://wxgate@127.0.0.1:5432/wxgate", PostgresUserDirectory),
    ],
)
def test_factory_picks_the_backend_without_io(tmp_path: Path, url: str, kind: type) -> None:
    directory = create_user_directory(UsersConfig(url=url), tmp_path / "data", ManualClock())
    assert isinstance(directory, kind)
    assert not (tmp_path / "data").exists()


async def test_embedded_default_is_a_wal_file_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    users = await open_user_directory(UsersConfig(), data_dir, ManualClock())
    try:
        await users.link(Identity("web", "wx00000000000000a1", "o_1"))
    finally:
        await users.close()
    conn = sqlite3.connect(data_dir / "users.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT COUNT(*) FROM identities").fetchone()[0] == 1
    finally:
        conn.close()


async def test_sqlite_enforces_foreign_keys(tmp_path: Path) -> None:
    users = await open_user_directory(UsersConfig(), tmp_path, ManualClock())
    try:
        assert isinstance(users, SqliteUserDirectory)
        async with users._reading() as tx:
            row = await tx.fetchrow("PRAGMA foreign_keys")
            assert row is not None and row[0] == 1
            # locks held by another process are waited for with an async back-off, never
            # inside SQLite on the event loop; commits go to the WAL without fsync
            row = await tx.fetchrow("PRAGMA busy_timeout")
            assert row is not None and row[0] == 0
            row = await tx.fetchrow("PRAGMA synchronous")
            assert row is not None and row[0] == 1  # NORMAL
    finally:
        await users.close()


async def test_sqlite_checkpoints_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No checkpoint (an fsync) inside a commit; the background task still moves the WAL into
    the database file, so a copy of ``users.db`` alone holds what was written."""
    monkeypatch.setattr(sqlite_module, "CHECKPOINT_SECONDS", 0.05)
    users = await open_user_directory(UsersConfig(), tmp_path, ManualClock())
    try:
        async with users._reading() as tx:
            row = await tx.fetchrow("PRAGMA wal_autocheckpoint")
            assert row is not None and row[0] == 0
        user, _ = await users.link(Identity("web", "wx00000000000000a1", "o_1"))
        copy = tmp_path / "copy.db"
        for _ in range(100):
            await asyncio.sleep(0.05)
            copy.write_bytes((tmp_path / "users.db").read_bytes())  # without users.db-wal
            conn = sqlite3.connect(copy)
            try:
                found = conn.execute("SELECT sub FROM users").fetchall()
            except sqlite3.DatabaseError:
                found = []  # the schema itself is still only in the WAL
            finally:
                conn.close()
            copy.unlink()
            if found:
                break
        assert found == [(user.sub,)]
    finally:
        await users.close()


async def test_sqlite_returning_login_needs_no_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A returning person logs in while another process holds the write lock (a maintenance
    script, a long import): nothing to write, so nothing to wait for."""
    monkeypatch.setattr(sqlite_module, "LOCK_WAIT_SECONDS", 0.2)
    users = await open_user_directory(UsersConfig(), tmp_path, ManualClock())
    other = sqlite3.connect(tmp_path / "users.db", isolation_level=None)
    try:
        ident = Identity("web", "wx00000000000000a1", "o_1", "un_1")
        user, _ = await users.link(ident)
        other.execute("BEGIN IMMEDIATE")
        again, created = await asyncio.wait_for(users.link(ident), 1.0)
        assert (again, created) == (user, False)
        with pytest.raises(TemporarilyUnavailable):  # a new person does need the lock
            await asyncio.wait_for(users.link(Identity("web", "wx00000000000000a1", "o_2")), 5)
    finally:
        other.close()
        await users.close()

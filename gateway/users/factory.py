"""Choosing and opening the backend ``users.url`` names."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from gateway.clock import Clock
from gateway.config import UsersConfig
from gateway.users.contract import UserDirectory
from gateway.users.sqlite import SqliteUserDirectory

__all__ = ["DEFAULT_SQLITE_FILE", "create_user_directory", "open_user_directory", "sqlite_path"]

DEFAULT_SQLITE_FILE = "users.db"


def sqlite_path(url: str, data_dir: Path) -> Path:
    """The database file for ``users.url`` (SQLAlchemy style, relative to the working dir).

    ``""`` → ``data_dir/users.db``; ``sqlite:///var/u.db`` → ``var/u.db``;
    ``sqlite:////srv/u.db`` → ``/srv/u.db``. ``sqlite:///:memory:`` is a private in-memory db.
    """
    if not url:
        return data_dir / DEFAULT_SQLITE_FILE
    parts = urlsplit(url)
    if parts.scheme != "sqlite" or parts.netloc or not parts.path.startswith("/"):
        raise ValueError("users.url: expected sqlite:///path or postgresql://...")
    path = parts.path[1:]
    if not path:
        raise ValueError("users.url: the sqlite URL names no file")
    return Path(path)


def create_user_directory(config: UsersConfig, data_dir: Path, clock: Clock) -> UserDirectory:
    """The backend named by ``config.url``, not yet opened (no I/O here; call ``open()``)."""
    scheme = urlsplit(config.url).scheme
    if scheme in ("postgresql", "postgres"):
        # Imported when chosen: asyncpg takes a tenth of a second to import, SQLite needs none
        # of it. (No cycle hides here: the backends import the contract, not this module.)
        from gateway.users.postgres import PostgresUserDirectory

        return PostgresUserDirectory(config, clock)
    return SqliteUserDirectory(sqlite_path(config.url, data_dir), clock)


async def open_user_directory(config: UsersConfig, data_dir: Path, clock: Clock) -> UserDirectory:
    """``create_user_directory`` then ``open()``: connected, schema up to date."""
    directory = create_user_directory(config, data_dir, clock)
    await directory.open()
    return directory

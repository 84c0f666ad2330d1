"""The user directory: stable subject ids, with WeChat identities linked unionid-first.

A *user* has a stable random subject id (``sub``, e.g. ``u_3q2-7wEhWd0a1b2c3d4e5f``, never
derived from an openid) and one or more *identities*: an ``(appid, openid)`` pair seen through one
of our configured WeChat apps, with the unionid WeChat gave alongside it (reference
``wechat-api.md`` §6.10: the unionid is stable across the apps of one Open Platform account, the
openid is per app).

Backends, chosen by ``users.url``:

- empty, or ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``: SQLite through
  the standard sqlite3 module, inline on the event loop (the embedded default is
  ``<data_dir>/users.db``; WAL mode). One host: the worker processes of one gateway may
  share the file.
- ``postgresql://...`` or ``postgres://...``: PostgreSQL through an asyncpg pool
  (``users.pool_min``/``users.pool_max``); safe for several replicas.

Both pass the same contract suite (tests/users/test_contract.py).

Lifecycle (one API for both backends)::

    users = await open_user_directory(config.users, config.data_dir, clock)  # connect + migrate
    try:
        user, created = await users.link(identity, profile)
    finally:
        await users.close()

``create_user_directory`` builds a directory without I/O; its ``open()`` connects and creates or
migrates the schema (``open_user_directory`` does both). Every method may raise
``TemporarilyUnavailable`` when the database cannot be reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from gateway.clock import Clock
from gateway.config import UsersConfig

__all__ = [
    "DEFAULT_SQLITE_FILE",
    "Identity",
    "IdentityRecord",
    "Profile",
    "User",
    "UserDirectory",
    "create_user_directory",
    "open_user_directory",
    "sqlite_path",
]

DEFAULT_SQLITE_FILE = "users.db"


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

    async def schema_version(self) -> int:
        """The schema version recorded in the database."""
        ...

    async def ping(self) -> None:
        """Raise ``TemporarilyUnavailable`` unless the database answers."""
        ...

    async def close(self) -> None:
        """Release connections (idempotent)."""
        ...


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
        from gateway.users.postgres import PostgresUserDirectory

        return PostgresUserDirectory(config, clock)
    from gateway.users.sqlite import SqliteUserDirectory

    return SqliteUserDirectory(sqlite_path(config.url, data_dir), clock)


async def open_user_directory(config: UsersConfig, data_dir: Path, clock: Clock) -> UserDirectory:
    """``create_user_directory`` then ``open()``: connected, schema up to date."""
    directory = create_user_directory(config, data_dir, clock)
    await directory.open()
    return directory

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

from gateway.users.contract import Identity, IdentityRecord, Profile, User, UserDirectory
from gateway.users.entries import AuditEntry, AuditQuery, new_entry_id
from gateway.users.factory import (
    DEFAULT_SQLITE_FILE,
    create_user_directory,
    open_user_directory,
    sqlite_path,
)
from gateway.users.roles import check_role, is_role_name

__all__ = [
    # services
    "UserDirectory",
    "create_user_directory",
    "open_user_directory",
    # values
    "Identity",
    "IdentityRecord",
    "Profile",
    "User",
    # the audit log's entries and queries
    "AuditEntry",
    "AuditQuery",
    "new_entry_id",
    # role names
    "check_role",
    "is_role_name",
    # configuration
    "DEFAULT_SQLITE_FILE",
    "sqlite_path",
]

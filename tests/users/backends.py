"""The backends of the contract suite, and a side door into their databases."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from gateway.config import UsersConfig
from gateway.users import UserDirectory

__all__ = ["Backend", "Opener"]

Opener = Callable[[], Awaitable[UserDirectory]]


@dataclass
class Backend:
    """Where a test's directories live (``name`` is ``sqlite`` or ``postgres``)."""

    name: str
    config: UsersConfig
    data_dir: Path

    async def scalar(self, sql: str) -> object:
        """The first column of the first row of ``sql``, read past the directory."""
        if self.name == "sqlite":
            conn = sqlite3.connect(self.data_dir / "users.db")
            try:
                value: object = conn.execute(sql).fetchone()[0]
            finally:
                conn.close()
            return value
        conn = await asyncpg.connect(self.config.url)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    async def execute_sqlite(self, statements: list[str]) -> None:
        """Run ``statements`` in the SQLite database, past the directory."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.data_dir / "users.db")
        try:
            for statement in statements:
                conn.execute(statement)
            conn.commit()
        finally:
            conn.close()

    async def execute_postgres(self, statements: list[str]) -> None:
        """Run ``statements`` in the PostgreSQL database, past the directory."""
        conn = await asyncpg.connect(self.config.url)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

"""Fixtures of the user directory contract suite: one database per test, on each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.clock import ManualClock
from gateway.config import UsersConfig
from gateway.users import UserDirectory, open_user_directory
from tests.users.backends import Backend, Opener


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The backend under test, with an empty database of its own."""
    if request.param == "sqlite":
        return Backend("sqlite", UsersConfig(url=f"sqlite:///{tmp_path}/users.db"), tmp_path)
    dsn = request.getfixturevalue("postgres_dsn")
    return Backend("postgres", UsersConfig(url=dsn, pool_min=1, pool_max=5), tmp_path)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def open_directory(backend: Backend, clock: ManualClock) -> AsyncIterator[Opener]:
    """Opens directories on the test's database (each one like a separate replica)."""
    opened: list[UserDirectory] = []

    async def opener() -> UserDirectory:
        directory = await open_user_directory(backend.config, backend.data_dir, clock)
        opened.append(directory)
        return directory

    yield opener
    for directory in opened:
        await directory.close()


@pytest.fixture
async def users(open_directory: Opener) -> UserDirectory:
    return await open_directory()

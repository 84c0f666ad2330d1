"""Shared fixtures: real servers (redis-server, PostgreSQL) are started by the plugins below."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import DEV_CONFIG_PATH, Config, load_config

pytest_plugins = [
    "tests.fixtures.redis_server",
    "tests.fixtures.redis_cluster",
    "tests.fixtures.redis_sentinel",
    "tests.fixtures.postgres_server",
]


def dev_config(tmp_path: Path, **env: str) -> Config:
    """The dev config with its data dir under ``tmp_path``; ``env`` are WXGATE_ overrides."""
    environ = {"WXGATE_SERVER__DATA_DIR": str(tmp_path / "var"), **env}
    return load_config(DEV_CONFIG_PATH, environ, dev=True)


@pytest.fixture
def dev_cfg(tmp_path: Path) -> Config:
    """Dev-mode config writing into a temporary data dir."""
    return dev_config(tmp_path)

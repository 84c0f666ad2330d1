"""Shared fixtures: real servers (redis-server, PostgreSQL) are started by the plugins below."""

pytest_plugins = [
    "tests.fixtures.redis_server",
    "tests.fixtures.postgres_server",
]

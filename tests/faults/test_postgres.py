"""PostgreSQL stopped and started again under a real gateway process that keeps its users there.

What must hold (the README's fault table): logins answer 503 (the user directory is needed to
find or create the user), ``/readyz`` turns 503 naming the users check, access tokens issued
before keep being accepted (verification needs no database), nothing answers 500, and logins
work again once PostgreSQL is back, without a restart.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.faults.harness import Gateway, timed
from tests.fixtures.postgres_server import (
    DATABASE,
    HOST,
    SERVER_SETTINGS,
    SUPERUSER,
    PostgresServer,
    _make_root,
    _run,
    _server_user_prefix,
    _start,
    _stop,
    _unavailable,
    find_postgres_bin,
)


class OwnPostgres:
    """A PostgreSQL of this test alone (stopping the session's would disturb other tests)."""

    def __init__(self) -> None:
        bin_dir = find_postgres_bin()
        if bin_dir is None:
            _unavailable("no initdb/pg_ctl")
        self.prefix = _server_user_prefix()
        self.root = _make_root()
        self.server: PostgresServer = _start(bin_dir, self.root, self.prefix)
        createdb = [str(bin_dir / "createdb"), "-h", HOST, "-p", str(self.server.port)]
        _run([*createdb, "-U", SUPERUSER, DATABASE], "createdb", self.server.log_path)

    def stop(self) -> None:
        _stop(self.server, self.prefix)

    def start(self) -> None:
        """Start again on the same port and data directory."""
        s = self.server
        options = f"-p {s.port} -k {self.root} -c listen_addresses={HOST} {SERVER_SETTINGS}"
        pg_ctl = [str(s.bin_dir / "pg_ctl"), "-D", str(s.data_dir), "-l", str(s.log_path)]
        argv = [*self.prefix, *pg_ctl, "-w", "-t", "30", "-o", options, "start"]
        subprocess.run(argv, capture_output=True, timeout=60, check=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    pg = OwnPostgres()
    try:
        yield pg
    finally:
        pg.remove()


@pytest.fixture
async def gateway(tmp_path: Path, own_postgres: OwnPostgres) -> AsyncIterator[Gateway]:
    gw = Gateway(tmp_path, {"WXGATE_USERS__URL": own_postgres.server.dsn})
    await gw.start()
    yield gw
    gw.stop()


async def test_postgres_stopped_and_started_again(
    gateway: Gateway, own_postgres: OwnPostgres
) -> None:
    async with aiohttp.ClientSession() as http:
        status, tokens = await gateway.login(http, "alice")
        assert status == 200, tokens
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}

        own_postgres.stop()
        await gateway.wait_ready(http, 503, 10)
        _, body = await gateway.status(http, "GET", "/readyz")
        assert body is not None and "users" in body["failing"], body
        elapsed, (status, body) = await timed(gateway.login(http, "bob"))
        assert status == 503 and body["error"] == "temporarily_unavailable", body
        assert elapsed < 5.0, elapsed
        for path in ("/auth/verify", "/demo/ping"):  # issued before: still accepted
            status, _ = await gateway.status(http, "GET", path, headers=auth)
            assert status == 200, (path, status)

        own_postgres.start()
        await gateway.wait_ready(http, 200, 20)
        status, body = await gateway.login(http, "bob")
        assert status == 200, body
        status, _ = await gateway.status(
            http, "GET", "/auth/verify", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert status == 200
    assert gateway.records("ERROR") == []

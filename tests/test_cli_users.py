"""``wxgate users ...`` against a running gateway's user directory (SQLite and PostgreSQL) and
its Redis Store: what the CLI changes, running gateways see at once (the revocation fan-out)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.cli import main
from tests.fixtures.redis_server import RedisServer, unique_prefix
from tests.server.admin_support import ADMIN_TOKEN, Person, admin_call, start_admin_gateway
from tests.server.scan_harness import Gateway
from tests.test_cli import wxgate

pytestmark = pytest.mark.redis


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def env(
    request: pytest.FixtureRequest, tmp_path: Path, redis_server: RedisServer
) -> dict[str, str]:
    """The gateway's settings, shared by the gateway and the CLI (as on one box)."""
    users_url = f"sqlite:///{tmp_path}/users.db"
    if request.param == "postgres":
        users_url = request.getfixturevalue("postgres_dsn")
    return {
        "WXGATE_SERVER__DATA_DIR": str(tmp_path / "var"),
        "WXGATE_STORE__URL": redis_server.url,
        "WXGATE_STORE__PREFIX": unique_prefix("cli-users"),
        "WXGATE_USERS__URL": users_url,
        "WXGATE_TOKENS__ISSUER": "http://wxgate.test",
        "WXGATE_LOGGING__LEVEL": "WARNING",
    }


@pytest.fixture
async def gw(tmp_path: Path, env: dict[str, str]) -> AsyncIterator[Gateway]:
    gateway = await start_admin_gateway(tmp_path, **env)
    yield gateway
    await gateway.close()


async def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str],
    *argv: str,
) -> tuple[int, str, str]:  # fmt: skip
    """Run the CLI's ``main`` on a thread of its own (it runs its own event loop)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["users", *argv, "--dev"])
    out, err = capsys.readouterr()
    return code, out, err


async def until_refused(person: Person, gw: Gateway) -> float:
    started = time.perf_counter()
    while await person.proxied(gw) == 200:
        assert time.perf_counter() - started < 1.0, "the CLI's change did not reach the gateway"
        await asyncio.sleep(0.005)
    return time.perf_counter() - started


async def test_users_verbs(
    gw: Gateway, env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    hal = Person(gw, "hal", "HalPhone/3.1")
    await hal.login()

    async def run(*argv: str) -> str:
        code, out, err = await cli(monkeypatch, capsys, env, *argv)
        assert code == 0, err
        return out

    assert hal.sub in await run("list")
    shown = json.loads(await run("show", hal.sub))
    assert hal.sub in await run("list", "--query", shown["identities"][0]["openid"])
    assert shown["sub"] == hal.sub and shown["roles"] == [] and len(shown["sessions"]) == 1
    sessions = await run("sessions", hal.sub)
    assert shown["sessions"][0]["sid"] in sessions and "HalPhone/3.1" in sessions
    assert "granted" in await run("grant", hal.sub, "ops")
    assert "already held" in await run("grant", hal.sub, "ops")
    assert json.loads(await run("show", hal.sub))["roles"] == ["ops"]
    assert "removed" in await run("ungrant", hal.sub, "ops")

    assert "1 session(s) ended" in await run("disable", hal.sub)
    await until_refused(hal, gw)
    status, body = await hal.login()
    assert (status, body["error"]) == (403, "account_disabled")
    assert "enabled" in await run("enable", hal.sub)
    assert (await hal.login())[0] == 200 and await hal.proxied(gw) == 200
    assert "1 session(s) ended" in await run("logout", hal.sub)
    await until_refused(hal, gw)

    code, _, err = await cli(monkeypatch, capsys, env, "show", "u_nobody")
    assert code == 1 and "no such user" in err
    code, _, err = await cli(monkeypatch, capsys, env, "grant", hal.sub, "Bad Role")
    assert code == 1 and "role name" in err
    token = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    _, audit = await admin_call(hal.http, "GET", f"{gw.base}/admin/api/audit", token, actor="cli")
    assert [e["action"] for e in reversed(audit["entries"])] == [
        "grant_role", "grant_role", "revoke_role", "disable", "enable", "revoke_sessions",
    ]  # fmt: skip


def test_the_command_line_entry_point(tmp_path: Path, redis_server: RedisServer) -> None:
    """The real ``python -m gateway users ...`` process, with its exit codes."""
    env = {"WXGATE_SERVER__DATA_DIR": str(tmp_path / "var"),
           "WXGATE_STORE__URL": redis_server.url, "WXGATE_LOGGING__LEVEL": "WARNING"}  # fmt: skip
    listed = wxgate("users", "list", "--dev", cwd=tmp_path, env=env)
    assert listed.returncode == 0 and listed.stdout.startswith("SUB"), listed.stderr
    missing = wxgate("users", "disable", "u_nobody", "--dev", cwd=tmp_path, env=env)
    assert missing.returncode == 1 and "no such user" in missing.stderr
    assert "Traceback" not in missing.stderr

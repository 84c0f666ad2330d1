"""``AuditLog`` on a real SQLite directory with a moved clock: the retention sweep, the denial
rate limit, and the JSON line on the ``wxgate.audit`` logger."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.admin import AUDIT_LOGGER, AuditLog
from gateway.clock import ManualClock
from gateway.config import AuditConfig, UsersConfig
from gateway.logs import JsonFormatter, RedactingFilter, client_var
from gateway.metrics import Metrics
from gateway.users import AuditQuery, UserDirectory, open_user_directory

DAY = 86400.0


@pytest.fixture
async def users(tmp_path: Path, clock: ManualClock) -> AsyncIterator[UserDirectory]:
    directory = await open_user_directory(UsersConfig(), tmp_path, clock)
    yield directory
    await directory.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


async def test_the_sweep_deletes_entries_past_retention(
    users: UserDirectory, clock: ManualClock
) -> None:
    audit = AuditLog(users, clock, Metrics(), AuditConfig(retention_days=30))
    old = await audit.record("admin", "disable", actor="cli", subject="u_a")
    clock.advance(20 * DAY)
    young = await audit.record("logout", "logout", subject="u_a")
    clock.advance(11 * DAY)  # old is 31 days old, young 11
    assert await audit.sweep() == 1
    assert [e.id for e in await users.query_audit(AuditQuery())] == [young.id]
    assert old.id < young.id


async def test_the_background_sweeper_runs_at_start(
    users: UserDirectory, clock: ManualClock
) -> None:
    audit = AuditLog(users, clock, Metrics(), AuditConfig(retention_days=1, sweep_interval=3600))
    await audit.record("admin", "enable", subject="u_b")
    clock.advance(2 * DAY)
    audit.start()
    try:
        for _ in range(200):
            if not await users.query_audit(AuditQuery()):
                break
            await asyncio.sleep(0.01)
        assert await users.query_audit(AuditQuery()) == []
    finally:
        await audit.close()


async def test_denials_are_recorded_once_per_subject_and_route_per_interval(
    users: UserDirectory, clock: ManualClock
) -> None:
    metrics = Metrics()
    audit = AuditLog(users, clock, metrics, AuditConfig(denial_interval=60))
    assert await audit.denied("u_a", "/ops/")
    assert not await audit.denied("u_a", "/ops/")
    assert await audit.denied("u_a", "/billing/")  # another route
    assert await audit.denied("u_b", "/ops/")  # another subject
    clock.advance(61)
    assert await audit.denied("u_a", "/ops/")
    entries = await users.query_audit(AuditQuery(kind="policy_denial"))
    assert len(entries) == 4 and {e.details["route"] for e in entries} == {"/ops/", "/billing/"}
    count = metrics.registry.get_sample_value(
        "wxgate_audit_events_total", {"kind": "policy_denial"}
    )
    assert count == 4


async def test_failed_logins_are_recorded_once_per_address_flow_and_result_per_interval(
    users: UserDirectory, clock: ManualClock
) -> None:
    audit = AuditLog(users, clock, Metrics(), AuditConfig(denial_interval=60))

    async def from_(address: str, flow: str, result: str) -> bool:
        token = client_var.set(lambda: (address, "UA/1"))
        try:
            return await audit.login_failed(flow, "wx1", result)
        finally:
            client_var.reset(token)

    assert await from_("10.0.0.1", "wechat_qr", "invalid_grant")
    assert not await from_("10.0.0.1", "wechat_qr", "invalid_grant")
    assert await from_("10.0.0.1", "wechat_qr", "access_denied")  # another result
    assert await from_("10.0.0.1", "wechat_mp", "invalid_grant")  # another flow
    assert await from_("10.0.0.2", "wechat_qr", "invalid_grant")  # another address
    clock.advance(61)
    assert await from_("10.0.0.1", "wechat_qr", "invalid_grant")
    entries = await users.query_audit(AuditQuery(kind="login"))
    assert len(entries) == 5 and {e.subject for e in entries} == {""}
    assert {e.client_ip for e in entries} == {"10.0.0.1", "10.0.0.2"}


async def test_each_entry_is_one_json_line_on_the_audit_logger(
    users: UserDirectory, clock: ManualClock
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger(AUDIT_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        audit = AuditLog(users, clock, Metrics(), AuditConfig())
        entry = await audit.record("admin", "grant_role", actor="u_x", subject="u_y",
                                   details={"before": ["a"], "after": ["a", "ops"]})  # fmt: skip
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["logger"] == AUDIT_LOGGER and line["audit"] == entry.as_json()
    assert line["audit"]["details"]["after"] == ["a", "ops"]

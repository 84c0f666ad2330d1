"""Roles and the disabled flag in the user directory: the contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from gateway.clock import ManualClock
from gateway.errors import InvalidRequest, NotFound
from gateway.users import Identity, UserDirectory, is_role_name
from gateway.users.sql import MIGRATIONS, SCHEMA_VERSION_TABLE
from tests.users.backends import Backend, Opener

WEB = "wx00000000000000a1"
MINI = "wx00000000000000c3"


async def test_a_new_user_has_no_roles_and_is_enabled(users: UserDirectory) -> None:
    user, created = await users.link(Identity("web", WEB, "o_ann"))
    assert created and user.roles == frozenset()
    assert (user.disabled, user.disabled_at) == (False, None)
    assert await users.get(user.sub) == user


async def test_grant_and_revoke_say_whether_they_changed_anything(users: UserDirectory) -> None:
    user, _ = await users.link(Identity("web", WEB, "o_bob"))
    assert await users.grant_role(user.sub, "ops") is True
    assert await users.grant_role(user.sub, "ops") is False
    assert await users.grant_role(user.sub, "team:billing.read") is True
    stored = await users.get(user.sub)
    assert stored is not None and stored.roles == {"ops", "team:billing.read"}
    assert await users.revoke_role(user.sub, "ops") is True
    assert await users.revoke_role(user.sub, "ops") is False
    stored = await users.get(user.sub)
    assert stored is not None and stored.roles == {"team:billing.read"}


async def test_roles_come_with_the_user_on_every_read(users: UserDirectory) -> None:
    user, _ = await users.link(Identity("mini", MINI, "o_cat", "un_cat"))
    await users.grant_role(user.sub, "admin")
    found = await users.find(MINI, "o_cat")
    assert found is not None and found.roles == {"admin"}
    linked, created = await users.link(Identity("mini", MINI, "o_cat", "un_cat"))
    assert not created and linked.roles == {"admin"}
    # the unionid brings a new app's identity to the same user: the roles are the user's
    other, created = await users.link(Identity("web", WEB, "o_cat_web", "un_cat"))
    assert not created and other.sub == user.sub and other.roles == {"admin"}


async def test_roles_belong_to_one_user(users: UserDirectory) -> None:
    dan, _ = await users.link(Identity("web", WEB, "o_dan"))
    eve, _ = await users.link(Identity("web", WEB, "o_eve"))
    await users.grant_role(dan.sub, "ops")
    stored = await users.get(eve.sub)
    assert stored is not None and stored.roles == frozenset()


@pytest.mark.parametrize(
    "bad", ["", "Ops", "-ops", "ops,admin", "a b", "é", "x" * 65, "ops\n", "_lead"]
)
async def test_role_names_are_validated(users: UserDirectory, bad: str) -> None:
    user, _ = await users.link(Identity("web", WEB, "o_fay"))
    assert not is_role_name(bad)
    with pytest.raises(InvalidRequest):
        await users.grant_role(user.sub, bad)
    with pytest.raises(InvalidRequest):
        await users.revoke_role(user.sub, bad)


def test_role_name_rule() -> None:
    for good in ("ops", "0", "a" * 64, "team:billing.read", "x-y_z"):
        assert is_role_name(good), good
    assert not is_role_name(None)


async def test_unknown_users_are_not_found(users: UserDirectory) -> None:
    with pytest.raises(NotFound):
        await users.grant_role("u_nobody", "ops")
    with pytest.raises(NotFound):
        await users.revoke_role("u_nobody", "ops")
    with pytest.raises(NotFound):
        await users.set_disabled("u_nobody", True)


async def test_disable_and_enable(users: UserDirectory, clock: ManualClock) -> None:
    user, _ = await users.link(Identity("web", WEB, "o_gus"))
    clock.advance(42)
    assert await users.set_disabled(user.sub, True) is True
    assert await users.set_disabled(user.sub, True) is False
    stored = await users.get(user.sub)
    assert stored is not None and stored.disabled
    assert stored.disabled_at == pytest.approx(clock.time())
    # a disabled user's login still finds the user: refusing it is the login's business
    linked, _ = await users.link(Identity("web", WEB, "o_gus"))
    assert linked.disabled
    assert await users.set_disabled(user.sub, False) is True
    assert await users.set_disabled(user.sub, False) is False
    stored = await users.get(user.sub)
    assert stored is not None and (stored.disabled, stored.disabled_at) == (False, None)


async def test_concurrent_grants_of_one_role_change_once(users: UserDirectory) -> None:
    user, _ = await users.link(Identity("web", WEB, "o_hal"))
    results = await asyncio.gather(*(users.grant_role(user.sub, "ops") for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]


async def test_a_version_1_database_migrates_keeping_its_users(
    backend: Backend, open_directory: Opener
) -> None:
    await _create_version_1(backend)
    users = await open_directory()
    assert await users.schema_version() == len(MIGRATIONS)
    user = await users.get("u_old")
    assert user is not None and user.nickname == "Old"
    assert (user.roles, user.disabled) == (frozenset(), False)
    assert await users.grant_role("u_old", "ops") is True
    found = await users.find(WEB, "o_old")
    assert found is not None and found.roles == {"ops"}


async def _create_version_1(backend: Backend) -> None:
    """A database as the code before roles left it: schema version 1 and one user."""
    statements = [
        SCHEMA_VERSION_TABLE,
        *MIGRATIONS[0],
        "INSERT INTO schema_version (version, applied_at) VALUES (1, 0)",
        "INSERT INTO users (sub, created_at, nickname) VALUES ('u_old', 1, 'Old')",
        "INSERT INTO identities (appid, openid, sub, app, linked_at) "
        f"VALUES ('{WEB}', 'o_old', 'u_old', 'web', 1)",
    ]
    if backend.name == "sqlite":
        await backend.execute_sqlite(statements)
    else:
        await backend.execute_postgres(statements)

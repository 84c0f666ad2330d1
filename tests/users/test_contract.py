"""The user directory contract: every test runs against SQLite and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from gateway.clock import ManualClock
from gateway.config import UsersConfig
from gateway.errors import NotFound, ServerError, TemporarilyUnavailable
from gateway.users import Identity, Profile, User, UserDirectory, open_user_directory
from gateway.users.sql import MIGRATIONS
from tests.users.backends import Backend, Opener

WEB = "wx00000000000000a1"
MP = "wx00000000000000b2"
MINI = "wx00000000000000c3"
SUB_PATTERN = re.compile(r"u_[A-Za-z0-9_-]{22}")


def ident(app: str, appid: str, openid: str, unionid: str | None = None) -> Identity:
    return Identity(app=app, appid=appid, openid=openid, unionid=unionid)


# --------------------------------------------------------------------------- linking


async def test_link_creates_a_user_with_a_random_subject(
    users: UserDirectory, clock: ManualClock
) -> None:
    user, created = await users.link(ident("web", WEB, "o_alice", "un_alice"))
    assert created
    assert SUB_PATTERN.fullmatch(user.sub)
    assert "o_alice" not in user.sub and "un_alice" not in user.sub
    assert user.created_at == clock.time()
    assert user.unionid == "un_alice"
    assert (user.phone, user.nickname, user.avatar_url) == (None, None, None)
    [record] = user.identities
    assert (record.app, record.appid, record.openid, record.unionid) == (
        "web",
        WEB,
        "o_alice",
        "un_alice",
    )
    assert record.linked_at == clock.time()
    assert record.identity == ident("web", WEB, "o_alice", "un_alice")

    assert await users.get(user.sub) == user  # what link returned is what was stored
    clock.advance(60)
    again, created_again = await users.link(ident("web", WEB, "o_alice", "un_alice"))
    assert not created_again
    assert again == user


async def test_a_new_user_with_a_profile_is_returned_as_stored(users: UserDirectory) -> None:
    profile = Profile(nickname="Alice", avatar_url="https://wx.qlogo.cn/a/132")
    user, created = await users.link(ident("mp", MP, "o_alice"), profile)
    assert created
    assert (user.unionid, user.nickname, user.avatar_url) == (None, "Alice", profile.avatar_url)
    assert await users.get(user.sub) == user


async def test_unionid_links_two_apps_to_one_user(users: UserDirectory, clock: ManualClock) -> None:
    web_user, _ = await users.link(ident("web", WEB, "o_web_bob", "un_bob"))
    clock.advance(5)
    mini_user, created = await users.link(ident("mini", MINI, "o_mini_bob", "un_bob"))
    assert not created
    assert mini_user.sub == web_user.sub
    assert [(i.app, i.openid) for i in mini_user.identities] == [
        ("web", "o_web_bob"),
        ("mini", "o_mini_bob"),
    ]
    assert mini_user.identity_for(MINI) is not None
    assert mini_user.identity_for(MP) is None
    found = await users.find(MINI, "o_mini_bob")
    assert found == mini_user


async def test_unionid_appearing_later_links_instead_of_creating(users: UserDirectory) -> None:
    # snsapi_base in the official account gives no unionid; userinfo later does (§6.10).
    first, _ = await users.link(ident("mp", MP, "o_mp_carol"))
    assert first.unionid is None
    later, created = await users.link(ident("mp", MP, "o_mp_carol", "un_carol"))
    assert not created
    assert later.sub == first.sub
    assert later.unionid == "un_carol"
    assert later.identities[0].unionid == "un_carol"
    other_app, created = await users.link(ident("mini", MINI, "o_mini_carol", "un_carol"))
    assert not created
    assert other_app.sub == first.sub
    assert len(other_app.identities) == 2
    # A later login without the unionid does not forget it.
    plain, _ = await users.link(ident("mp", MP, "o_mp_carol"))
    assert plain.unionid == "un_carol" and plain.identities[0].unionid == "un_carol"


async def test_different_people_get_different_users(users: UserDirectory) -> None:
    a, _ = await users.link(ident("web", WEB, "o_1"))
    b, _ = await users.link(ident("web", WEB, "o_2"))
    c, _ = await users.link(ident("web", WEB, "o_3", "un_3"))
    d, _ = await users.link(ident("mini", MINI, "o_4", "un_4"))
    # openids are per app: the same string in another app is another person without a unionid.
    e, _ = await users.link(ident("mini", MINI, "o_1"))
    assert len({a.sub, b.sub, c.sub, d.sub, e.sub}) == 5


async def test_a_known_unionid_wins_over_an_identity_linked_elsewhere(
    users: UserDirectory,
) -> None:
    # Two accounts for one person: the unionid reached the mini-program's first login before
    # the website identity ever carried it. Unionid first: the identity joins its user.
    old, _ = await users.link(ident("web", WEB, "o_web_dan"))
    holder, _ = await users.link(ident("mini", MINI, "o_mini_dan", "un_dan"))
    assert old.sub != holder.sub
    again, created = await users.link(ident("web", WEB, "o_web_dan", "un_dan"))
    assert not created
    assert again.sub == holder.sub and again.unionid == "un_dan"
    assert sorted(i.openid for i in again.identities) == ["o_mini_dan", "o_web_dan"]
    assert await users.find(WEB, "o_web_dan") == again
    left = await users.get(old.sub)
    assert left is not None and left.identities == ()


async def test_empty_unionid_counts_as_none(users: UserDirectory) -> None:
    a, _ = await users.link(ident("web", WEB, "o_x", ""))
    b, _ = await users.link(ident("web", WEB, "o_y", ""))
    assert a.unionid is None and a.sub != b.sub


async def test_identity_needs_appid_and_openid(users: UserDirectory) -> None:
    with pytest.raises(ValueError):
        await users.link(ident("web", WEB, ""))
    with pytest.raises(ValueError):
        await users.link(ident("web", "", "o_z"))


async def test_app_name_follows_the_config(users: UserDirectory) -> None:
    await users.link(ident("web", WEB, "o_ren"))
    user, _ = await users.link(ident("website", WEB, "o_ren"))
    assert user.identities[0].app == "website"


# --------------------------------------------------------------------------- profile, phone


async def test_profile_updates_when_given(users: UserDirectory) -> None:
    user, _ = await users.link(ident("web", WEB, "o_eve"), Profile("Eve", "https://img/1"))
    assert (user.nickname, user.avatar_url) == ("Eve", "https://img/1")
    user, _ = await users.link(ident("web", WEB, "o_eve"), Profile("Eve 2", ""))
    assert (user.nickname, user.avatar_url) == ("Eve 2", "https://img/1")
    user, _ = await users.link(ident("web", WEB, "o_eve"), Profile(None, "https://img/2"))
    assert (user.nickname, user.avatar_url) == ("Eve 2", "https://img/2")
    user, _ = await users.link(ident("web", WEB, "o_eve"))
    assert (user.nickname, user.avatar_url) == ("Eve 2", "https://img/2")
    assert await users.get(user.sub) == user


async def test_set_phone(users: UserDirectory) -> None:
    user, _ = await users.link(ident("mini", MINI, "o_fay"))
    await users.set_phone(user.sub, "+8613800000000")
    stored = await users.get(user.sub)
    assert stored is not None and stored.phone == "+8613800000000"
    linked, _ = await users.link(ident("mini", MINI, "o_fay"))
    assert linked.phone == "+8613800000000"
    with pytest.raises(NotFound):
        await users.set_phone("u_nobody", "+8613800000001")


async def test_get_and_find(users: UserDirectory) -> None:
    assert await users.get("u_nobody") is None
    assert await users.find(WEB, "o_nobody") is None
    user, _ = await users.link(ident("web", WEB, "o_gus"))
    assert await users.get(user.sub) == user
    assert await users.find(WEB, "o_gus") == user
    assert await users.find(MINI, "o_gus") is None


# --------------------------------------------------------------------------- schema, lifecycle


async def test_schema_version_is_recorded(users: UserDirectory, backend: Backend) -> None:
    assert await users.schema_version() == len(MIGRATIONS)
    assert await backend.scalar("SELECT COUNT(*) FROM schema_version") == len(MIGRATIONS)


async def test_opening_again_keeps_schema_and_data(
    open_directory: Opener, backend: Backend
) -> None:
    first = await open_directory()
    user, _ = await first.link(ident("web", WEB, "o_hal"))
    await first.close()
    second = await open_directory()
    assert await second.schema_version() == len(MIGRATIONS)
    assert await second.find(WEB, "o_hal") == user
    assert await backend.scalar("SELECT COUNT(*) FROM schema_version") == len(MIGRATIONS)


async def test_concurrent_opens_migrate_once(open_directory: Opener, backend: Backend) -> None:
    directories = await asyncio.gather(*(open_directory() for _ in range(4)))
    assert [await d.schema_version() for d in directories] == [len(MIGRATIONS)] * 4
    assert await backend.scalar("SELECT COUNT(*) FROM schema_version") == len(MIGRATIONS)


async def test_ping_and_close(open_directory: Opener) -> None:
    directory = await open_directory()
    await directory.ping()
    await directory.close()
    await directory.close()
    with pytest.raises(ServerError):
        await directory.get("u_any")


async def test_unreachable_database(backend: Backend, tmp_path: Path, clock: ManualClock) -> None:
    if backend.name == "sqlite":
        (tmp_path / "file").write_text("not a directory")
        config = UsersConfig(url=f"sqlite:///{tmp_path}/file/users.db")
    else:
        config = UsersConfig(url="postgresql://wxgate@127.0.0.1:1/wxgate")
    with pytest.raises(TemporarilyUnavailable) as caught:
        await open_user_directory(config, tmp_path, clock)
    assert caught.value.__cause__ is not None


# --------------------------------------------------------------------------- concurrency


def one_user(results: list[tuple[User, bool]]) -> User:
    """Exactly one call created the user; everyone got the same subject."""
    assert sum(created for _, created in results) == 1
    assert len({user.sub for user, _ in results}) == 1
    return results[0][0]


async def test_concurrent_first_logins_create_one_user(
    users: UserDirectory, backend: Backend
) -> None:
    identity = ident("mini", MINI, "o_ivy")
    results = await asyncio.gather(*(users.link(identity) for _ in range(20)))
    user = one_user(results)
    assert await backend.scalar("SELECT COUNT(*) FROM users") == 1
    stored = await users.get(user.sub)
    assert stored is not None and len(stored.identities) == 1


async def test_concurrent_unionid_logins_via_two_apps(
    users: UserDirectory, backend: Backend
) -> None:
    web, mini = ident("web", WEB, "o_web_jo", "un_jo"), ident("mini", MINI, "o_mini_jo", "un_jo")
    results = await asyncio.gather(*(users.link(web if i % 2 else mini) for i in range(20)))
    user = one_user(results)
    stored = await users.get(user.sub)
    assert stored is not None
    assert sorted(i.openid for i in stored.identities) == ["o_mini_jo", "o_web_jo"]
    assert await backend.scalar("SELECT COUNT(*) FROM users") == 1
    assert await backend.scalar("SELECT COUNT(*) FROM identities") == 2


async def test_unionid_first_seen_while_another_app_logs_in(users: UserDirectory) -> None:
    # The official account learns the unionid at the moment the same person first uses the
    # mini-program: whichever commits first, the person ends up as one user.
    before, _ = await users.link(ident("mp", MP, "o_mp_kim"))
    mp, mini = ident("mp", MP, "o_mp_kim", "un_kim"), ident("mini", MINI, "o_mini_kim", "un_kim")
    results = await asyncio.gather(*(users.link(mp if i % 2 else mini) for i in range(20)))
    subs = {user.sub for user, _ in results}
    assert len(subs) == 1
    assert sum(created for _, created in results) == (0 if before.sub in subs else 1)
    final = await users.find(MP, "o_mp_kim")
    assert final is not None and final.sub in subs and final.unionid == "un_kim"
    assert await users.find(MINI, "o_mini_kim") == final


async def test_replicas_racing_create_one_user_per_person(
    open_directory: Opener, backend: Backend
) -> None:
    replicas = await asyncio.gather(open_directory(), open_directory())
    for person in range(5):
        union = f"un_p{person}"
        identities = [
            ident("web", WEB, f"o_web_p{person}", union),
            ident("mini", MINI, f"o_mini_p{person}", union),
            ident("mp", MP, f"o_mp_p{person}"),  # no unionid: a person of its own
        ]
        calls = [replicas[i % 2].link(identities[i % 3]) for i in range(24)]
        results = await asyncio.gather(*calls)
        with_union = [r for r in results if r[0].unionid == union]
        assert len(with_union) == 16
        one_user(with_union)
        one_user([r for r in results if r[0].unionid is None])
    assert await backend.scalar("SELECT COUNT(*) FROM users") == 10
    assert await backend.scalar("SELECT COUNT(*) FROM identities") == 15

"""The operator's queries on the user directory: user search with a cursor, and the audit log
(append, filters, pages, retention), on SQLite and PostgreSQL."""

from __future__ import annotations

from gateway.clock import ManualClock
from gateway.users import AuditEntry, AuditQuery, Identity, Profile, UserDirectory, new_entry_id

WEB = "wx00000000000000a1"
MINI = "wx00000000000000c3"


async def test_search_by_sub_openid_unionid_and_nickname(users: UserDirectory) -> None:
    ann, _ = await users.link(Identity("web", WEB, "o_ann", "un_ann"), Profile("Ann Lee"))
    bob, _ = await users.link(Identity("mini", MINI, "o_bob"), Profile("Bob 100%"))
    assert [u.sub for u in await users.search(ann.sub)] == [ann.sub]
    assert [u.sub for u in await users.search("o_bob")] == [bob.sub]
    assert [u.sub for u in await users.search("un_ann")] == [ann.sub]
    assert [u.sub for u in await users.search("ann l")] == [ann.sub]  # case-insensitive part
    assert [u.sub for u in await users.search("100%")] == [bob.sub]
    assert await users.search("b%") == []  # "%" matches itself, not anything
    found = await users.search("o_ann")
    assert found[0].identities[0].openid == "o_ann" and found[0].nickname == "Ann Lee"


async def test_search_pages_with_a_cursor(users: UserDirectory) -> None:
    subs = sorted([(await users.link(Identity("web", WEB, f"o_{i}")))[0].sub for i in range(5)])
    first = await users.search("", limit=2)
    assert [u.sub for u in first] == subs[:2]
    second = await users.search("", after=first[-1].sub, limit=2)
    assert [u.sub for u in second] == subs[2:4]
    last = await users.search("", after=second[-1].sub, limit=2)
    assert [u.sub for u in last] == subs[4:]
    assert await users.search("", after=subs[-1]) == []


def _entry(clock: ManualClock, **fields: str) -> AuditEntry:
    at = clock.time()
    return AuditEntry(id=new_entry_id(at), at=at, **fields)  # type: ignore[arg-type]


async def test_audit_entries_are_filtered_and_paged_newest_first(
    users: UserDirectory, clock: ManualClock
) -> None:
    entries = []
    for i in range(5):
        kind = "admin" if i % 2 else "login"
        entries.append(
            _entry(
                clock,
                kind=kind,
                action="grant_role" if i % 2 else "login",
                actor="u_admin" if i % 2 else "",
                subject=f"u_{i % 2}",
            )
        )
        await users.append_audit(entries[-1])
        clock.advance(10)
    everything = await users.query_audit(AuditQuery())
    assert [e.id for e in everything] == [e.id for e in reversed(entries)]
    admin = await users.query_audit(AuditQuery(actor="u_admin"))
    assert [e.id for e in admin] == [entries[3].id, entries[1].id]
    assert [e.id for e in await users.query_audit(AuditQuery(action="login", subject="u_0"))] == [
        entries[4].id, entries[2].id, entries[0].id,
    ]  # fmt: skip
    window = AuditQuery(since=entries[1].at, until=entries[3].at)
    assert [e.id for e in await users.query_audit(window)] == [entries[2].id, entries[1].id]
    page1 = await users.query_audit(AuditQuery(limit=2))
    page2 = await users.query_audit(AuditQuery(limit=2, before=page1[-1].id))
    assert [e.id for e in page1 + page2] == [e.id for e in reversed(entries)][:4]
    assert await users.query_audit(AuditQuery(kind="admin", limit=1)) == [entries[3]]


async def test_audit_details_round_trip_and_retention(
    users: UserDirectory, clock: ManualClock
) -> None:
    change = {"before": {"disabled": False}, "after": {"disabled": True}}
    old = AuditEntry(id=new_entry_id(clock.time()), at=clock.time(), kind="admin",
                     action="disable", actor="cli", subject="u_x", details=change)  # fmt: skip
    await users.append_audit(old)
    clock.advance(100)
    new = _entry(clock, kind="logout", action="logout", subject="u_x")
    await users.append_audit(new)
    assert (await users.query_audit(AuditQuery(action="disable")))[0].details == old.details
    assert await users.purge_audit(clock.time() - 50) == 1
    assert await users.query_audit(AuditQuery()) == [new]

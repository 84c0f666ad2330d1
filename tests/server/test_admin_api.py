"""The admin API over real HTTP: who may call it, what each call changes, the audit entry each
change writes, disabling a person, and no secret in the audit trail."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.admin import AUDIT_LOGGER
from gateway.server.keys import USERS
from tests.server.admin_support import ADMIN_TOKEN, Person, admin_call, start_admin_gateway
from tests.server.scan_harness import Gateway

TOKEN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    gateway = await start_admin_gateway(tmp_path)
    yield gateway
    await gateway.close()


async def test_anonymous_is_401_and_a_non_admin_is_403(gw: Gateway) -> None:
    ann = Person(gw, "ann")
    await ann.login()
    http, base = ann.http, gw.base
    for method, path in (("GET", "/admin/api/users"), ("GET", f"/admin/api/users/{ann.sub}"),
                         ("POST", f"/admin/api/users/{ann.sub}/roles/admin"),
                         ("GET", "/admin/api/audit")):  # fmt: skip
        status, body = await admin_call(http, method, base + path)
        assert (status, body["error"]) == (401, "invalid_token"), path
        status, body = await admin_call(http, method, base + path, ann.bearer)
        assert (status, body["error"]) == (403, "access_denied"), path
        wrong = {"Authorization": "Bearer " + "y" * 44}
        assert (await admin_call(http, method, base + path, wrong))[0] == 401
    status, body = await admin_call(http, "GET", f"{base}/admin/api/users", TOKEN)
    assert status == 200 and [u["sub"] for u in body["users"]] == [ann.sub]


async def test_a_role_holder_administers_and_every_change_is_audited_once(gw: Gateway) -> None:
    ann, bob = Person(gw, "ann"), Person(gw, "bob", "BobPhone/2.0")
    await ann.login()
    await bob.login()
    http, api = ann.http, f"{gw.base}/admin/api/users"
    status, body = await admin_call(http, "POST", f"{api}/{ann.sub}/roles/admin", TOKEN)
    assert status == 200 and body["changed"] and body["roles"] == ["admin"]
    # ann is an administrator now (read from the directory at once): she acts with her token
    calls = [
        ("POST", f"{api}/{bob.sub}/roles/ops", "grant_role"),
        ("POST", f"{api}/{bob.sub}/roles/ops", "grant_role"),  # unchanged: still audited
        ("DELETE", f"{api}/{bob.sub}/roles/ops", "revoke_role"),
        ("POST", f"{api}/{bob.sub}/disabled", "disable"),
        ("DELETE", f"{api}/{bob.sub}/disabled", "enable"),
    ]
    for method, url, _ in calls:
        status, body = await admin_call(http, method, url, ann.bearer)
        assert status == 200, body
    await bob.login()  # enabled again: a new session to end one by one
    status, shown = await admin_call(http, "GET", f"{api}/{bob.sub}", ann.bearer)
    assert status == 200 and len(shown["sessions"]) == 1
    session = shown["sessions"][0]
    assert session["user_agent"] == "BobPhone/2.0" and session["client_ip"] == "127.0.0.1"
    assert (session["flow"], session["app"]) == ("wechat_mini", "wx00000000000000c3")
    sid = session["sid"]
    assert (await admin_call(http, "DELETE", f"{api}/{bob.sub}/sessions/{sid}", ann.bearer))[
        0
    ] == 200
    calls.append(("DELETE", f"{api}/{bob.sub}/sessions/{sid}", "revoke_session"))
    assert (await admin_call(http, "DELETE", f"{api}/{bob.sub}/sessions", ann.bearer))[0] == 200
    calls.append(("DELETE", f"{api}/{bob.sub}/sessions", "revoke_sessions"))
    status, audit = await admin_call(http, "GET", f"{gw.base}/admin/api/audit", ann.bearer,
                                     kind="admin", subject=bob.sub)  # fmt: skip
    entries = list(reversed(audit["entries"]))
    assert [e["action"] for e in entries] == [action for _, _, action in calls]
    assert {e["actor"] for e in entries} == {ann.sub}
    assert [e["result"] for e in entries[:3]] == ["ok", "unchanged", "ok"]
    assert entries[0]["details"] == {"before": [], "after": ["ops"], "role": "ops"}
    assert entries[3]["details"]["after"] == {"disabled": True}
    async with http.get(f"{gw.base}/metrics") as r:
        scraped = await r.text()
    assert (
        'wxgate_admin_actions_total{action="grant_role"} 3.0' in scraped
    )  # ann's 2, the token's 1
    assert 'wxgate_audit_events_total{kind="admin"} 8.0' in scraped
    granted = await admin_call(http, "GET", f"{gw.base}/admin/api/audit", ann.bearer,
                               actor="admin-token")  # fmt: skip
    assert [(e["action"], e["subject"]) for e in granted[1]["entries"]] == [("grant_role", ann.sub)]


async def test_disabling_ends_every_session_and_refuses_login_until_enabled(gw: Gateway) -> None:
    cat = Person(gw, "cat")
    await cat.login()
    first = cat.access
    await cat.login()  # two sessions
    assert await cat.proxied(gw) == 200
    api = f"{gw.base}/admin/api/users/{cat.sub}"
    status, body = await admin_call(cat.http, "POST", f"{api}/disabled", TOKEN)
    assert status == 200 and body["sessions_ended"] == 2 and body["disabled"]
    assert await cat.proxied(gw) == 401
    cat.access = first
    assert await cat.proxied(gw) == 401
    status, body = await cat.login()
    assert (status, body["error"]) == (403, "account_disabled")
    async with cat.http.post(f"{gw.base}/auth/token", data={
        "grant_type": "refresh_token", "refresh_token": cat.refresh}) as r:  # fmt: skip
        assert r.status == 400  # the old sessions stay ended
    assert (await admin_call(cat.http, "DELETE", f"{api}/disabled", TOKEN))[0] == 200
    status, _ = await cat.login()
    assert status == 200 and await cat.proxied(gw) == 200
    logins = (await admin_call(cat.http, "GET", f"{gw.base}/admin/api/audit", TOKEN,
                               kind="login", subject=cat.sub))[1]["entries"]  # fmt: skip
    assert [e["result"] for e in logins] == ["ok", "account_disabled", "ok", "ok"]


async def test_cookie_changes_need_the_csrf_token(gw: Gateway) -> None:
    dan = Person(gw, "dan")
    await dan.login()
    await admin_call(dan.http, "POST", f"{gw.base}/admin/api/users/{dan.sub}/roles/admin", TOKEN)
    url = f"{gw.base}/admin/api/users/{dan.sub}/roles/ops"
    status, body = await admin_call(dan.http, "POST", url, dan.cookie)
    assert (status, body["error"]) == (403, "csrf_required")
    status, body = await admin_call(dan.http, "POST", url, {**dan.cookie, "X-CSRF-Token": "x"})
    assert (status, body["error"]) == (403, "csrf_required")
    status, csrf = await admin_call(dan.http, "GET", f"{gw.base}/admin/api/csrf", dan.cookie)
    assert status == 200 and len(csrf["csrf_token"]) >= 40
    headers = {**dan.cookie, "X-CSRF-Token": csrf["csrf_token"]}
    status, body = await admin_call(dan.http, "POST", url, headers)
    assert status == 200 and body["roles"] == ["admin", "ops"]


async def test_bad_input_is_a_json_4xx(gw: Gateway) -> None:
    eve = Person(gw, "eve")
    await eve.login()
    http, api = eve.http, f"{gw.base}/admin/api"
    for method, path, params, expected in (
        ("POST", f"/users/{eve.sub}/roles/Not%20A%20Role", {}, (400, "invalid_request")),
        ("POST", "/users/u_nobody/roles/ops", {}, (404, "not_found")),
        ("GET", "/users/u_nobody", {}, (404, "not_found")),
        ("DELETE", f"/users/{eve.sub}/sessions/nosuchsid", {}, (404, "not_found")),
        ("GET", "/users", {"limit": "0"}, (400, "invalid_request")),
        ("GET", "/users", {"limit": "x"}, (400, "invalid_request")),
        ("GET", "/audit", {"since": "yesterday"}, (400, "invalid_request")),
        ("GET", "/audit", {"cursor": "c" * 200}, (400, "invalid_request")),
        # found probing the newly described parameters: non-ASCII digits were a 500
        ("GET", "/users", {"limit": "²"}, (400, "invalid_request")),
        ("GET", "/audit", {"limit": "٣"}, (400, "invalid_request")),
        # not a time: NaN compares false with everything, infinity is no instant
        ("GET", "/audit", {"since": "nan"}, (400, "invalid_request")),
        ("GET", "/audit", {"until": "1e400"}, (400, "invalid_request")),
    ):
        status, body = await admin_call(http, method, api + path, TOKEN, **params)
        assert (status, body["error"]) == expected, (path, body)


async def test_search_pages_with_a_cursor(gw: Gateway) -> None:
    people = [Person(gw, name) for name in ("p1", "p2", "p3")]
    for person in people:
        await person.login()
    http, url = people[0].http, f"{gw.base}/admin/api/users"
    seen: list[str] = []
    cursor = ""
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page = await admin_call(http, "GET", url, TOKEN, **params)
        assert status == 200
        seen += [u["sub"] for u in page["users"]]
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
    assert seen == sorted(p.sub for p in people)
    openid = (await admin_call(http, "GET", f"{url}/{people[1].sub}", TOKEN))[1]["identities"][0]
    status, found = await admin_call(http, "GET", url, TOKEN, q=openid["openid"])
    assert [u["sub"] for u in found["users"]] == [people[1].sub]


async def test_no_secret_token_or_code_in_the_audit_trail(
    gw: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    fay = Person(gw, "fay")
    await fay.login()
    secrets = [fay.access, fay.refresh, ADMIN_TOKEN]
    async with fay.http.post(f"{gw.base}/auth/token", data={
        "grant_type": "refresh_token", "refresh_token": fay.refresh}) as r:  # fmt: skip
        assert r.status == 200
        rotated = await r.json()
    secrets += [rotated["access_token"], rotated["refresh_token"]]
    async with fay.http.post(f"{gw.base}/auth/token", data={
        "grant_type": "refresh_token", "refresh_token": fay.refresh}) as r:  # fmt: skip
        pass  # within the grace window: the same pair again, not reuse
    _, shown = await admin_call(fay.http, "GET", f"{gw.base}/admin/api/users/{fay.sub}", TOKEN)
    assert shown["sessions"][0]["refreshed_at"] is not None  # the rotation is recorded
    await admin_call(fay.http, "POST", f"{gw.base}/admin/api/users/{fay.sub}/roles/ops", TOKEN)
    await admin_call(fay.http, "DELETE", f"{gw.base}/admin/api/users/{fay.sub}/sessions", TOKEN)
    status, audit = await admin_call(fay.http, "GET", f"{gw.base}/admin/api/audit", TOKEN)
    assert status == 200 and {e["kind"] for e in audit["entries"]} >= {"login", "admin"}
    lines = [json.dumps(r.__dict__.get("audit")) for r in caplog.records
             if r.name == AUDIT_LOGGER]  # fmt: skip
    assert len(lines) == len(audit["entries"])
    trail = json.dumps(audit) + "\n".join(lines)
    for secret in secrets:
        assert secret not in trail
    assert "eyJ" not in trail  # nothing shaped like a JWT


async def test_policy_denials_are_audited_once_per_subject_and_route(gw: Gateway) -> None:
    ivy = Person(gw, "ivy")
    await ivy.login()
    headers = {**ivy.bearer, "X-Original-URI": "/demo/x"}
    for _ in range(5):  # a client looping on a forbidden location
        async with ivy.http.get(f"{gw.base}/auth/verify?allowed_roles=ops", headers=headers) as r:
            assert r.status == 403 and (await r.json())["error"] == "access_denied"
    _, audit = await admin_call(ivy.http, "GET", f"{gw.base}/admin/api/audit", TOKEN,
                                kind="policy_denial")  # fmt: skip
    assert [(e["subject"], e["result"]) for e in audit["entries"]] == [(ivy.sub, "denied")]
    assert audit["entries"][0]["details"]["route"]


async def test_account_page_and_its_forms(gw: Gateway) -> None:
    jon = Person(gw, "jon")
    await jon.login()
    other = jon.access
    await jon.login()  # a second session; the cookie below is this one
    headers = {**jon.cookie, "Accept-Language": "zh-CN,zh;q=0.9"}
    async with jon.http.get(f"{gw.base}/auth/account", headers=headers) as r:
        page = await r.text()
        assert r.status == 200 and "我的账号" in page and jon.sub in page
        assert "script-src" not in r.headers["Content-Security-Policy"]  # a page without script
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    url = f"{gw.base}/auth/account/sessions/end-others"
    async with jon.http.post(url, headers=jon.cookie, data={"csrf_token": "forged"}) as r:
        assert r.status == 403  # a cross-site form cannot know the token
    async with jon.http.post(url, headers=jon.cookie, data={"csrf_token": csrf},
                             allow_redirects=False) as r:  # fmt: skip
        assert r.status == 303 and r.headers["Location"] == "/auth/account"
    jon.access, mine = other, jon.access
    assert await jon.proxied(gw) == 401  # the other session ended
    jon.access = mine
    assert await jon.proxied(gw) == 200  # this one lives
    async with jon.http.get(f"{gw.base}/auth/account", allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"].startswith("/auth/login")


async def test_a_live_session_of_a_disabled_person_gets_no_code_and_no_refresh(gw: Gateway) -> None:
    """Disabling ends the sessions; should one still be live (a login racing the disable),
    the OpenID Provider's authorize gives it no code but the account-disabled page."""
    kay = Person(gw, "kay")
    await kay.login()
    query = {"response_type": "code", "client_id": "demo-spa", "scope": "openid",
             "redirect_uri": f"{gw.base}/_sim/rp/callback", "state": "s", "nonce": "n",
             "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
             "code_challenge_method": "S256"}  # fmt: skip
    headers = {**kay.cookie, "Accept": "text/html"}
    url = f"{gw.base}/auth/authorize"
    async with kay.http.get(url, params=query, headers=headers, allow_redirects=False) as r:
        assert r.status == 302 and "code=" in r.headers["Location"]
    await gw.app[USERS].set_disabled(kay.sub, True)  # the flag alone, sessions untouched
    async with kay.http.get(url, params=query, headers=headers, allow_redirects=False) as r:
        assert r.status == 403 and "Account disabled" in await r.text()
    # nor is that session renewed: the refresh asks the same gate, and ends it
    assert await kay.proxied(gw) == 200
    async with kay.http.post(f"{gw.base}/auth/token", data={
        "grant_type": "refresh_token", "refresh_token": kay.refresh}) as r:  # fmt: skip
        assert r.status == 400 and (await r.json())["error"] == "invalid_grant"
    assert await kay.proxied(gw) == 401

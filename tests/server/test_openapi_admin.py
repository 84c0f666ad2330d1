"""The admin API's real answers match ``/openapi.json``: a person with a live session and a
role, every call of the API (and the person's own account page) made with real data and each
answer checked by schemathesis against its description (status, content type, body schema).
The fuzz run (``test_openapi_fuzz.py``) meets an empty user directory; this test meets users,
sessions and audit entries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis

from gateway.server.openapi import build_document
from tests.server.admin_support import ADMIN_TOKEN, Person, start_admin_gateway
from tests.server.scan_harness import Gateway
from tests.server.test_openapi_fuzz import CHECKS

TOKEN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    gateway = await start_admin_gateway(tmp_path)
    yield gateway
    await gateway.close()


async def _check(api: Any, method: str, path: str, expected: int, **case: Any) -> Any:
    """Make the call described at ``path`` with ``case``'s parts (the admin token unless
    ``headers`` are given); its answer must be ``expected`` and as described. (``requests``
    blocks: it runs beside the event loop that serves the gateway.)"""
    made = api[path][method].Case(headers=case.pop("headers", TOKEN), **case)
    response = await asyncio.to_thread(made.call_and_validate, checks=CHECKS, timeout=10)
    assert response.status_code == expected, response.text
    return response.json() if "json" in response.headers["content-type"][0] else None


async def test_every_admin_answer_with_real_data_is_as_described(gw: Gateway) -> None:
    ann = Person(gw, "ann", "AnnPhone/1.0")
    await ann.login()
    api = schemathesis.openapi.from_dict(build_document(gw.config, "0"))  # /openapi.json's
    api.config.update(base_url=gw.base)
    sub = {"sub": ann.sub}
    role = {"sub": ann.sub, "role": "ops"}
    users = "/admin/api/users/{sub}"
    await _check(api, "POST", users + "/roles/{role}", 200, path_parameters=role)
    found = await _check(api, "GET", "/admin/api/users", 200, query={"q": ann.sub, "limit": 1})
    assert found["users"][0]["roles"] == ["ops"] and found["next_cursor"] == ann.sub
    shown = await _check(api, "GET", users, 200, path_parameters=sub)
    sid = shown["sessions"][0]["sid"]
    assert shown["sessions"][0]["user_agent"] == "AnnPhone/1.0"
    await _check(api, "DELETE", users + "/roles/{role}", 200, path_parameters=role)
    await _check(api, "DELETE", users + "/sessions/{sid}", 200,
                 path_parameters={**sub, "sid": sid})  # fmt: skip
    await _check(api, "DELETE", users + "/sessions/{sid}", 404,
                 path_parameters={**sub, "sid": sid})  # fmt: skip
    await ann.login()
    await _check(api, "POST", users + "/disabled", 200, path_parameters=sub)
    await _check(api, "DELETE", users + "/disabled", 200, path_parameters=sub)
    await _check(api, "DELETE", users + "/sessions", 200, path_parameters=sub)
    audit = await _check(api, "GET", "/admin/api/audit", 200, query={"subject": ann.sub})
    assert {"login", "admin"} <= {entry["kind"] for entry in audit["entries"]}
    await _check(api, "GET", "/admin/api/audit", 400, query={"since": "yesterday"})
    await _check(api, "GET", "/admin/api/csrf", 200)
    await _check(api, "GET", "/admin/", 200)
    await _check(api, "GET", "/admin/api/users", 401, headers={"Authorization": "Bearer x"})
    await ann.login()
    await _check(api, "GET", "/auth/account", 200, headers=ann.cookie)
    await _check(api, "POST", "/auth/account/sessions/end-others", 403, headers=ann.cookie,
                 body={"csrf_token": "forged"},
                 media_type="application/x-www-form-urlencoded")  # fmt: skip

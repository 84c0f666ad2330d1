"""Request bodies a client can make unreadable: each is a 400 ``invalid_request``, never a 500.

Every body reader is covered: ``read_json`` (the mini-program login) and ``read_params`` with a
JSON body (the token, revocation, introspection and logout endpoints).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from gateway.server.app import create_app
from tests.conftest import dev_config

pytestmark = pytest.mark.asyncio

JSON = {"Content-Type": "application/json"}

READ_JSON = ["/auth/wechat/miniprogram/login"]
READ_PARAMS = ["/auth/token", "/auth/revoke", "/auth/introspect", "/auth/logout"]

NESTED = {
    "arrays": b"[" * 100_000 + b"]" * 100_000,
    "objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "inside_an_object": b'{"code":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


@pytest.fixture
async def client(tmp_path: Path, aiohttp_client) -> TestClient:  # type: ignore[no-untyped-def]
    return await aiohttp_client(create_app(dev_config(tmp_path)))


async def assert_invalid_request(resp: aiohttp.ClientResponse) -> None:
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["error"] == "invalid_request"


@pytest.mark.parametrize("shape", sorted(NESTED))
@pytest.mark.parametrize("path", READ_JSON + READ_PARAMS)
async def test_deeply_nested_json_is_a_400(client: TestClient, path: str, shape: str) -> None:
    resp = await client.post(path, data=NESTED[shape], headers=JSON)
    await assert_invalid_request(resp)

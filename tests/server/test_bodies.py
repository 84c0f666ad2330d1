"""Request bodies a client can make unreadable: each is a 400 ``invalid_request``, never a 500.

Every body reader is covered: ``read_json`` (the mini-program login), ``read_params`` with a
JSON body and with a form (the token, revocation, introspection and logout endpoints), and the
proxy's streamed upload.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from gateway.server.app import create_app
from tests.conftest import dev_config
from tests.server.proxy_support import gateway

pytestmark = pytest.mark.asyncio

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
NOT_GZIP = {"Content-Encoding": "gzip"}

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


@pytest.mark.parametrize(
    ("path", "content_type"),
    [pytest.param(p, JSON, id=f"{p}-json") for p in READ_JSON + READ_PARAMS]
    + [pytest.param(p, FORM, id=f"{p}-form") for p in READ_PARAMS],
)
@pytest.mark.parametrize("size", [7, 200_000])
async def test_body_that_is_not_its_content_encoding_is_a_400(
    client: TestClient, path: str, content_type: dict[str, str], size: int
) -> None:
    body = (b"notgzip" * (size // 7 + 1))[:size]
    resp = await client.post(path, data=body, headers={**content_type, **NOT_GZIP})
    await assert_invalid_request(resp)
    assert resp.headers["Connection"] == "close"  # aiohttp cannot parse what is left of it
    assert (await client.get("/healthz")).status == 200  # a new connection serves on


async def test_a_real_gzip_body_is_still_read(client: TestClient) -> None:
    resp = await client.post(
        "/auth/revoke", data=gzip.compress(b"token=abc"), headers={**FORM, **NOT_GZIP}
    )
    assert resp.status == 200, await resp.text()  # RFC 7009 §2.2: unknown tokens too
    resp = await client.post(
        "/auth/wechat/miniprogram/login",
        data=gzip.compress(b'{"code": 1}'),
        headers={**JSON, **NOT_GZIP},
    )
    assert resp.status == 400 and "code is required" in (await resp.json())["error_description"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b"token=\xff\xfe", "application/x-www-form-urlencoded", id="not_utf8"),
        pytest.param(b"token=abc", "multipart/form-data", id="no_boundary"),
        pytest.param(
            b"--b\r\nnot a header\r\n\r\nx\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
            id="bad_part",
        ),
    ],
)
async def test_malformed_forms_are_a_400(
    client: TestClient, body: bytes, content_type: str
) -> None:
    for path in READ_PARAMS:
        resp = await client.post(path, data=body, headers={"Content-Type": content_type})
        await assert_invalid_request(resp)


async def test_proxied_upload_that_is_not_its_content_encoding_is_a_400(tmp_path: Path) -> None:
    """The proxy streams the body to the upstream as aiohttp decodes it: a body that is not
    the gzip it claims fails that stream, which is the client's fault (not a 500 or a 502)."""
    async with gateway(dev_config(tmp_path)) as gw:
        token = await gw.token()
        async with aiohttp.ClientSession() as session:
            for size in (7, 200_000):
                resp = await session.post(
                    f"{gw.url}/demo/x",
                    data=b"x" * size,
                    headers={"Authorization": f"Bearer {token}", **NOT_GZIP},
                )
                await assert_invalid_request(resp)
            resp = await session.post(
                f"{gw.url}/demo/x", headers={"Authorization": f"Bearer {token}"}
            )
            assert resp.status == 200

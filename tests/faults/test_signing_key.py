"""The signing key file corrupted, then removed, while a real gateway process runs (it re-reads
its keys directory every ``tokens.key_reload_seconds``, 0.2 s here).

What must hold (the README's fault table): the gateway keeps signing and verifying with the key
it loaded (tokens issued before and after keep working, the JWKS keeps the key), each refused
reload logs one clear ERROR naming the problem and counts
``wxgate_signing_key_reload_errors_total``, and ``/readyz`` stays 200 (this process can still
sign: taking every replica out of rotation because a Secret was unmounted would turn a warning
into an outage). Restoring the file ends the errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.faults.harness import Gateway


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    gw = Gateway(tmp_path, {"WXGATE_TOKENS__KEY_RELOAD_SECONDS": "0.2"})
    await gw.start()
    yield gw
    gw.stop()


async def wait_for_log(gw: Gateway, text: str, limit: float = 5.0) -> None:
    for _ in range(int(limit / 0.05)):
        if any(text in r["msg"] for r in gw.records("ERROR")):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no ERROR with {text!r}:\n{gw.log_text()[-3000:]}")


async def still_serving(gw: Gateway, http: aiohttp.ClientSession, old_token: str, kid: str) -> None:
    status, body = await gw.status(http, "GET", "/readyz")
    assert status == 200, body
    status, body = await gw.login(http, "bob")
    assert status == 200, body
    for token in (old_token, body["access_token"]):
        headers = {"Authorization": f"Bearer {token}"}
        status, _ = await gw.status(http, "GET", "/auth/verify", headers=headers)
        assert status == 200
    status, jwks = await gw.status(http, "GET", "/.well-known/jwks.json")
    assert jwks is not None and kid in {k["kid"] for k in jwks["keys"]}


async def reload_errors(gw: Gateway, http: aiohttp.ClientSession) -> float:
    async with http.get(f"{gw.base}/metrics") as resp:
        text = await resp.text()
    line = next(x for x in text.splitlines() if x.startswith("wxgate_signing_key_reload_errors"))
    return float(line.rsplit(" ", 1)[1])


async def test_key_file_corrupted_then_removed_while_running(gateway: Gateway) -> None:
    (pem,) = (gateway.data_dir / "keys").glob("*.pem")
    original = pem.read_bytes()
    kid = pem.stem
    async with aiohttp.ClientSession() as http:
        status, tokens = await gateway.login(http, "alice")
        assert status == 200, tokens
        old = tokens["access_token"]

        pem.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
        await wait_for_log(gateway, "key reload failed, keeping the current keys")
        await still_serving(gateway, http, old, kid)

        pem.unlink()
        await wait_for_log(gateway, "no usable signing key")
        await still_serving(gateway, http, old, kid)
        assert await reload_errors(gateway, http) >= 2

        pem.write_bytes(original)
        pem.chmod(0o600)
        await asyncio.sleep(0.5)  # a reload or two with the file back
        before = await reload_errors(gateway, http)
        await asyncio.sleep(0.5)
        assert await reload_errors(gateway, http) == before  # no more errors
        await still_serving(gateway, http, old, kid)
    messages = [r["msg"] for r in gateway.records("ERROR")]
    assert messages and all("key" in m for m in messages), messages
    assert all("PRIVATE KEY" not in m for m in messages)  # never the key material

"""Requests the HTTP parser refuses: a 400 each, and one INFO line each in the log (no ERROR,
no traceback), so nobody can flood the error log. Sent over raw sockets to a gateway started
by ``serve`` (the runner production uses)."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.server.run import ClientErrorFilter, bind_socket, serve
from tests.conftest import dev_config

MALFORMED = {
    "bad_header_name": b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n",
    "content_length_and_transfer_encoding": (
        b"POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "obs_fold": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
    "bad_request_line": b"GET /healthz HTTP/1.1 trailing\r\nHost: x\r\n\r\n",
    "bad_version": b"GET /healthz HTTP/9.Q\r\nHost: x\r\n\r\n",
    "header_too_long": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: "
    + b"a" * 70_000
    + b"\r\n\r\n",
    "bad_chunk_size": (
        b"POST /auth/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\nabc\r\n0\r\n\r\n"
    ),
    # answered by the gateway's own 400; aiohttp then fails to drain the rest of the body
    "body_not_its_content_encoding": (
        b"POST /auth/token HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: 7\r\n\r\nnotgzip"
    ),
}


@pytest.fixture
async def port(tmp_path: Path) -> AsyncIterator[int]:
    """The port of a gateway started by ``serve`` (stopped by cancelling it)."""
    sock = bind_socket("127.0.0.1", 0)
    started = asyncio.Event()
    task = asyncio.create_task(
        serve(dev_config(tmp_path), sock=sock, on_started=lambda _: started.set())
    )
    await asyncio.wait_for(started.wait(), 30)
    yield sock.getsockname()[1]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def exchange(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)  # the server closes the connection
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.asyncio
async def test_malformed_requests_are_400_and_one_info_line(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name, raw in MALFORMED.items():
        caplog.clear()
        answer = await exchange(port, raw)
        assert answer.split(b"\r\n", 1)[0].split(b" ")[1] == b"400", (name, answer[:200])
        head = answer.partition(b"\r\n\r\n")[0].lower()
        assert b"\r\nserver:" not in head, (name, answer[:300])  # aiohttp's own 400s too
        await asyncio.sleep(0.05)  # aiohttp logs the drain failure after the answer
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], name
        assert "Traceback" not in caplog.text, name
        refused = [r for r in caplog.records if "refused the client's request" in r.getMessage()]
        assert len(refused) == 1 and refused[0].levelno == logging.INFO, name
        assert refused[0].exc_info is None and "\n" not in refused[0].getMessage(), name
    # the gateway still serves
    ok = await exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200")


def test_real_server_errors_pass_unchanged() -> None:
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "aiohttp.server", logging.ERROR, __file__, 1, "Error handling request from %s",
        ("127.0.0.1",), exc_info,
    )  # fmt: skip
    assert ClientErrorFilter().filter(record)
    assert record.levelno == logging.ERROR and record.exc_info is exc_info
    assert record.getMessage() == "Error handling request from 127.0.0.1"

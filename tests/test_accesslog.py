"""The buffered access log: the same JSON fields as before, redacted, flushed by size,
by timer and on close, whole lines per write."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from gateway.accesslog import AccessLog

FIELDS = [
    "ts", "level", "logger", "msg", "request_id", "method", "path", "route", "status",
    "duration_ms", "remote", "user_agent",
]  # fmt: skip


def _line(log: AccessLog, n: int = 0, path: str = "/api/x", agent: str = "curl/8") -> None:
    log.write("GET", path, "/api/", 200, 0.0012345, "10.0.0.1", agent, f"req-{n}")


def _read(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_a_line_has_every_field_and_waits_for_the_timer(tmp_path: Path) -> None:
    target = tmp_path / "access.log"
    log = AccessLog(str(target), flush_interval=0.05)
    _line(log, 1, agent='a "quoted" agent\n\u00e9')
    assert target.read_text() == ""  # buffered: no write per request
    await asyncio.sleep(0.2)
    (line,) = _read(target)
    assert list(line) == FIELDS
    assert line["msg"] == "GET /api/x 200" and line["request_id"] == "req-1"
    assert line["logger"] == "gateway.access" and line["level"] == "INFO"
    assert line["status"] == 200 and line["duration_ms"] == 1.234
    assert line["user_agent"] == 'a "quoted" agent\n\u00e9'
    assert str(line["ts"]).endswith("Z") and len(str(line["ts"])) == 24
    log.close()


def test_secrets_in_the_path_or_user_agent_are_redacted(tmp_path: Path) -> None:
    target = tmp_path / "access.log"
    log = AccessLog(str(target))
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"
    _line(log, 1, path=f"/t/{jwt}", agent="x access_token=SECRET9")
    log.close()
    text = target.read_text()
    assert "c2lnbmF0dXJl" not in text and "SECRET9" not in text
    assert "[redacted]" in text


async def test_size_flushes_in_whole_lines_and_close_drains(tmp_path: Path) -> None:
    target = tmp_path / "access.log"
    log = AccessLog(str(target), flush_interval=60, flush_bytes=2000)
    for n in range(30):  # ~250 bytes a line: some flushed by size, the rest by close
        _line(log, n)
    flushed = len(_read(target))
    assert 0 < flushed < 30
    log.close()
    assert [line["request_id"] for line in _read(target)] == [f"req-{n}" for n in range(30)]
    _line(log, 99)  # after close: dropped for a file, never an error
    assert len(_read(target)) == 30


def test_without_a_loop_lines_are_written_at_once(tmp_path: Path) -> None:
    target = tmp_path / "access.log"
    log = AccessLog(str(target))
    _line(log, 5)
    assert [line["request_id"] for line in _read(target)] == ["req-5"]
    log.close()


def test_stdout_is_the_default(capfd: object) -> None:
    log = AccessLog()
    _line(log, 7)
    log.close()
    out = capfd.readouterr().out  # type: ignore[attr-defined]
    assert json.loads(out)["request_id"] == "req-7"
    assert os.fstat(1)  # stdout stays open after close


def test_a_pipe_gets_whole_lines_in_pipe_buf_writes(tmp_path: Path) -> None:
    """To a pipe (workers may share one) lines go in writes of at most PIPE_BUF bytes of whole
    lines; to a regular file a batch is one append. Either way every line arrives intact."""
    fifo = tmp_path / "access.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        log = AccessLog(str(fifo), flush_interval=60, flush_bytes=1 << 20)
        for n in range(40):  # ~10 KB: more than one PIPE_BUF
            _line(log, n, path=f"/api/{'x' * (n % 7)}")
        log.flush()
        data = b""
        while chunk := os.read(reader, 1 << 16):
            data += chunk
            if data.count(b"\n") >= 40:
                break
        lines = [json.loads(line) for line in data.decode().splitlines()]
        assert [line["request_id"] for line in lines] == [f"req-{n}" for n in range(40)]
        assert lines[8]["msg"] == "GET /api/x 200" and lines[8]["path"] == "/api/x"
        log.close()
    finally:
        os.close(reader)


def test_repeated_requests_reuse_nothing_stale(tmp_path: Path) -> None:
    """The cached runs of a line (msg, method, path, route, status) follow each request."""
    target = tmp_path / "access.log"
    log = AccessLog(str(target))
    log.write("GET", "/a", "/a", 200, 0.001, "10.0.0.1", "ua", "r1")
    log.write("POST", "/a", "/a", 201, 0.001, "10.0.0.2", "ua", "r2")
    log.write("GET", "/a", "/a", 200, 0.002, "10.0.0.1", "ub", "r3")
    log.close()
    got = [
        (x["msg"], x["method"], x["status"], x["remote"], x["user_agent"]) for x in _read(target)
    ]
    assert got == [
        ("GET /a 200", "GET", 200, "10.0.0.1", "ua"),
        ("POST /a 201", "POST", 201, "10.0.0.2", "ua"),
        ("GET /a 200", "GET", 200, "10.0.0.1", "ub"),
    ]

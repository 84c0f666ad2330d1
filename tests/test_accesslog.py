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

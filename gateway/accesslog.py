"""The access log: one JSON line per request, buffered, without ``logging`` on the hot path.

A line has the fields the gateway always logged (``ts``, ``level``, ``logger`` =
``gateway.access``, ``msg``, ``request_id``, ``method``, ``path``, ``route``, ``status``,
``duration_ms``, ``remote``, ``user_agent``), built with the C string encoder of ``json``
instead of a ``LogRecord``, a formatter and a handler lock per request (that machinery cost
~40% of the proxy's throughput). Values that could carry a secret (the path, the User-Agent)
go through ``logs.redact`` when they have a character a secret pattern needs.

Lines are kept in memory and written with one ``os.write`` per batch to a regular file (an
``O_APPEND`` write is one atomic append there), and per ``PIPE_BUF`` bytes of whole lines to a
pipe or anything else (workers sharing a pipe never interleave inside a line):

- when ``flush_bytes`` are waiting;
- ``flush_interval`` seconds after the first line of a batch (one timer per batch, none while
  idle);
- on ``close()``: the server's shutdown (``SIGTERM``/``SIGINT``, after the drain and the
  in-flight requests) loses nothing.

A crash (``SIGKILL``, OOM kill, power loss) loses at most the lines of the last
``flush_interval`` (and never more than ``flush_bytes``). The target is stdout (fd 1) unless a
path is given (opened append-only; the file is reopened by nobody: rotate with
``copytruncate`` or send the signal that restarts the process).
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import stat
import time
from json.encoder import encode_basestring as _quote

from gateway.logs import redact

__all__ = ["AccessLog"]

# a write of at most PIPE_BUF bytes to a pipe is atomic (POSIX): lines never interleave
_CHUNK = getattr(select, "PIPE_BUF", 4096)
# a request id is either the client's, checked against this, or our hex: never quoted
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:@/+-]{1,128}$").match
_CLEAN_CACHE_SIZE = 1024
_PARTS_CACHE_SIZE = 1024


def _may_hold_secret(text: str) -> bool:
    """True when ``text`` has what a redaction pattern (``logs._PATTERNS``) needs: a ``=`` or
    ``:`` after a name, a JWT's ``eyJ``, or ``Bearer`` and a space."""
    return "=" in text or ":" in text or "eyJ" in text or (" " in text and "bearer" in text.lower())


class _Cleaned(dict[str, str]):
    """``text`` -> its JSON string, redacted; bounded (paths and User-Agents repeat)."""

    def __missing__(self, text: str) -> str:
        value = _quote(redact(text) if _may_hold_secret(text) else text)
        if len(self) >= _CLEAN_CACHE_SIZE:
            self.clear()
        self[text] = value
        return value


class _Parts(dict[tuple[str, str, str, int], tuple[str, str]]):
    """(method, path, route, status) -> the line's two constant runs: ``msg`` and the
    ``method``..``status`` fields, JSON-ready; bounded (a route's requests repeat them)."""

    def __init__(self, quoted: _Cleaned) -> None:
        super().__init__()
        self._quoted = quoted

    def __missing__(self, key: tuple[str, str, str, int]) -> tuple[str, str]:
        method, path, route, status = key
        q = self._quoted
        path_json = q[path]
        value = (
            f'"{method} {path_json[1:-1]} {status}"',
            f'"method": {q[method]}, "path": {path_json}, "route": {q[route]}, "status": {status}',
        )
        if len(self) >= _PARTS_CACHE_SIZE:
            self.clear()
        self[key] = value
        return value


def _is_regular_file(fd: int) -> bool:
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


class AccessLog:
    """Buffered JSON-lines access log (module doc). Not thread-safe: one event loop."""

    def __init__(
        self,
        path: str = "",
        *,
        flush_interval: float = 0.5,
        flush_bytes: int = 64 * 1024,
    ) -> None:
        self._fd = 1 if not path else os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._owns_fd = bool(path)
        self._interval = flush_interval
        self._limit = flush_bytes
        self._lines: list[str] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._second = -1
        self._millis = -1
        self._stamp = ""
        self._ts = ""
        self._quoted = _Cleaned()
        self._parts = _Parts(self._quoted)
        self._whole = _is_regular_file(self._fd)  # one write per batch; else PIPE_BUF chunks
        self.closed = False

    def write(
        self,
        method: str,
        path: str,
        route: str,
        status: int,
        seconds: float,
        remote: str,
        user_agent: str,
        request_id: str,
    ) -> None:
        """Queue one request's line (flushed by size, timer or ``close``)."""
        quoted = self._quoted
        msg, fields = self._parts[method, path, route, status]
        rid = f'"{request_id}"' if _SAFE_ID(request_id) else _quote(request_id)
        self.add_line(
            f'{{"ts": "{self._timestamp()}", "level": "INFO", "logger": "gateway.access", '
            f'"msg": {msg}, "request_id": {rid}, {fields}, "duration_ms": {seconds * 1000:.3f}, '
            f'"remote": {quoted[remote]}, "user_agent": {quoted[user_agent]}}}\n'
        )

    def add_line(self, line: str) -> None:
        """Queue an already formatted line (ending with a newline)."""
        if self.closed:
            self._write([line])
            return
        self._lines.append(line)
        self._size += len(line)
        if self._size >= self._limit:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a script, a test): write at once
                self.flush()
                return
            self._timer = loop.call_later(self._interval, self.flush)

    def _timestamp(self) -> str:
        millis = int(time.time() * 1000)
        if millis != self._millis:  # formatted once a millisecond, strftime once a second
            self._millis = millis
            second, ms = divmod(millis, 1000)
            if second != self._second:
                self._second = second
                self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._ts = f"{self._stamp}.{ms:03d}Z"
        return self._ts

    def flush(self) -> None:
        """Write every queued line now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        lines, self._lines, self._size = self._lines, [], 0
        if lines:
            self._write(lines)

    def _write(self, lines: list[str]) -> None:
        if self._whole:
            self._write_all("".join(lines).encode("utf-8", "replace"))
            return
        chunk: list[str] = []
        size = 0
        for line in lines:
            if size + len(line) > _CHUNK and chunk:
                self._write_all("".join(chunk).encode("utf-8", "replace"))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            self._write_all("".join(chunk).encode("utf-8", "replace"))

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:  # a non-blocking stdout that is full: wait for it
                select.select([], [self._fd], [], 1.0)
                continue
            except OSError:  # stdout closed or the disk full: the log must not fail requests
                return
            view = view[written:]

    def close(self) -> None:
        """Flush; a later line is written at once to stdout, dropped after a file's close."""
        self.flush()
        self.closed = True
        if self._owns_fd:
            os.close(self._fd)
            self._owns_fd = False
            self._fd = -1  # os.write fails (EBADF), which _write_all ignores

"""Running the gateway: bind, serve, drain on SIGTERM/SIGINT, exit cleanly.

Shutdown sequence (what a load balancer needs to see):
1. The first SIGTERM/SIGINT turns ``/readyz`` to 503 at once.
2. The listener keeps serving in-flight and new requests for ``server.drain_seconds`` so the
   load balancer notices and stops routing here. A second signal skips the rest of the drain.
3. The listener stops accepting; in-flight requests get ``server.grace_seconds`` to finish.
4. Resources close (cleanup_ctx, in reverse order) and the process exits 0.

A request the HTTP parser refuses (a bad header name, ``Content-Length`` with
``Transfer-Encoding``, an obs-fold line, a bad request line, a body that is not its
``Content-Encoding``...) is answered 400 by aiohttp, which logs it at ERROR with a traceback on
``aiohttp.server``; ``ClientErrorFilter`` turns each into one INFO line, so no client can fill
the error log. Every other record of that logger (a real server error) passes unchanged.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import socket
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage

from gateway import __version__
from gateway.config import Config
from gateway.server.app import create_app
from gateway.server.keys import METRICS, READINESS
from gateway.server.listener import (
    ConnectionGuard,
    ConnectionLimits,
    GuardedSite,
    bare_responses,
)
from gateway.server.metrics import metrics_app
from gateway.server.telemetry import ListenerMetrics
from gateway.server.verify_listener import VerifyListener, start_verify_listener

__all__ = ["ClientErrorFilter", "bind_socket", "is_loopback", "serve"]

log = logging.getLogger("gateway.server")


class ClientErrorFilter(logging.Filter):
    """On ``aiohttp.server``: an ERROR about a malformed request (``BadHttpMessage``) or a body
    aiohttp could not decode (``RequestPayloadError``) becomes one INFO line naming the
    exception and its first line, without the traceback (module doc)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if record.levelno >= logging.ERROR and isinstance(
            exc, BadHttpMessage | web.RequestPayloadError
        ):
            try:
                message = record.getMessage()
            except (TypeError, ValueError):  # a filter must not raise: aiohttp would answer 500
                message = str(record.msg)
            record.msg = f"{message}: refused the client's request ({_first_line(exc)})"
            record.args = None
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            record.exc_info, record.exc_text = None, None
        return True


def _first_line(exc: BaseException) -> str:
    """``Name: first line of the message`` (aiohttp's text starts with ``400, message:``)."""
    lines = (line.strip() for line in str(exc).splitlines())
    text = next((line for line in lines if line and not line.endswith("message:")), "")
    return f"{type(exc).__name__}: {text.rstrip(':')[:200]}"


def _quiet_client_errors() -> None:
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientErrorFilter) for f in server_log.filters):
        server_log.addFilter(ClientErrorFilter())


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket; port 0 picks a free one (read it back from the socket)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


async def serve(
    config: Config,
    *,
    sock: socket.socket | None = None,
    on_started: Callable[[Config], None] | None = None,
) -> None:
    """Serve ``config`` until a signal arrives, then drain and stop (see module doc)."""
    sock = sock or bind_socket(config.server.host, config.server.port)
    host, port = sock.getsockname()[:2]
    config = config.with_bind(config.server.host, port)  # port 0 → the real port
    _quiet_client_errors()
    # signals are taken from here on: one that arrives while the app starts (a worker told to
    # stop moments after it was spawned) is handled once it serves: drain, then stop cleanly
    loop = asyncio.get_running_loop()
    signals = asyncio.Queue[int]()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, signals.put_nowait, sig)
    try:
        await _serve(config, sock, host, port, signals, on_started)
    finally:
        _release_signals()  # a no-op when the drain already did


async def _serve(
    config: Config,
    sock: socket.socket,
    host: str,
    port: int,
    signals: asyncio.Queue[int],
    on_started: Callable[[Config], None] | None,
) -> None:
    app = create_app(config)
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=config.server.grace_seconds,
        # large enough for any token the verifier reads, so an oversized one gets our JSON 401
        max_field_size=max(8190, config.tokens.max_token_bytes * 2 + 1024),
        keepalive_timeout=config.server.keepalive_timeout,
    )
    await runner.setup()
    assert runner.server is not None
    guard = ConnectionGuard(
        runner.server,
        ConnectionLimits.from_config(config.server),
        app[METRICS].of(ListenerMetrics),
    )
    await GuardedSite(runner, sock, guard.protocol).start()
    metrics_runner = await _start_metrics_listener(config, app)
    verify = await _start_verify_listener(config, app)
    _banner(config, host, port)
    if on_started is not None:
        on_started(config)
    try:
        await _wait_for_signals(app, signals, config.server.drain_seconds)
    finally:
        log.info(
            "stopping: no new connections; in-flight requests finish (grace %ss)",
            config.server.grace_seconds,
        )
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        if verify is not None:
            await verify.close()
        await runner.cleanup()
        log.info("stopped")


async def _start_metrics_listener(config: Config, app: web.Application) -> web.AppRunner | None:
    """``/metrics`` alone on ``metrics.host:metrics.port``. With several workers each binds it
    with SO_REUSEPORT, so a scrape reaches one worker (run one worker per container)."""
    m = config.metrics
    if not (m.enabled and m.host):
        return None
    runner = web.AppRunner(metrics_app(app, m.path), access_log=None)
    await runner.setup()
    assert runner.server is not None
    bare_responses(runner.server)
    sock = bind_socket(m.host, m.port, reuse_port=config.server.workers > 1)
    await web.SockSite(runner, sock).start()
    return runner


async def _start_verify_listener(config: Config, app: web.Application) -> VerifyListener | None:
    settings = config.forward_auth
    if not settings.listen_port:
        return None
    listener = await start_verify_listener(
        app, settings.listen_host, settings.listen_port, reuse_port=config.server.workers > 1
    )
    log.info("forward auth at http://%s:%d/auth/verify", settings.listen_host, listener.port)
    return listener


async def _wait_for_signals(
    app: web.Application, signals: asyncio.Queue[int], drain_seconds: float
) -> None:
    first = await signals.get()
    app[READINESS].draining = True
    log.info(
        "received %s: /readyz now 503; draining for %ss",
        signal.Signals(first).name,
        drain_seconds,
    )
    try:
        await asyncio.wait_for(signals.get(), drain_seconds)
        log.info("second signal: ending the drain early")
    except TimeoutError:
        pass
    finally:  # from here a signal has its default effect again (``serve`` removed them first)
        _release_signals()


def _release_signals() -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)


def _banner(config: Config, host: str, port: int) -> None:
    mode = "DEV MODE (not for production)" if config.dev else "production mode"
    lines = [
        f"wxgate {__version__} listening on http://{host}:{port} — {mode}",
        f"public URL {config.public_url}; issuer {config.issuer}",
        f"store {_safe_url(config.store.url)}; data dir {config.data_dir}",
    ]
    m = config.metrics
    if m.enabled:
        where = [f"http://{m.host}:{m.port}{m.path}"] if m.host else []
        where += [f"{config.public_url}{m.path}"] if m.main_listener else []
        lines.append(f"metrics at {' and '.join(where)}")
    if config.dev:
        lines.append(f"login page {config.public_url}/auth/login")
        lines.append(f"WeChat simulator {config.public_url}/_sim/wechat")
    for line in lines:
        log.info(line)


def _safe_url(url: str) -> str:
    """``url`` without credentials."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"

"""One process or several: ``server.workers`` processes share the port with SO_REUSEPORT.

With one worker the gateway runs in this process. With N > 1 the parent starts N worker
processes (spawned, not forked: no inherited event loop or connections), each binding its own
socket to the same port so the kernel spreads connections across them; the parent forwards
SIGTERM/SIGINT and exits 0 when every worker did (a worker signalled while still starting
stops cleanly too: see ``run_server``). Several workers need a shared store (Redis):
config validation says so.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import socket
from types import FrameType

from gateway.config import Config
from gateway.logs import configure_logging

__all__ = ["install_uvloop", "run_server"]

log = logging.getLogger("gateway.server")


def install_uvloop() -> bool:
    """Use uvloop's event loop policy where it is available."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def _run_one(config: Config, reuse_port: bool) -> int:
    from gateway.server.run import bind_socket, serve

    install_uvloop()
    sock = bind_socket(config.server.host, config.server.port, reuse_port=reuse_port)
    asyncio.run(serve(config, sock=sock))
    return 0


def _worker_main(config: Config, index: int) -> None:
    configure_logging(config.logging.level)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent relays SIGINT as SIGTERM
    logging.getLogger("gateway.server").info("worker %d starting", index)
    _run_one(config, reuse_port=True)


def run_server(config: Config) -> int:
    """Serve until signalled; the exit code for the CLI."""
    workers = config.server.workers
    if workers <= 1:
        return _run_one(config, reuse_port=False)
    port = config.server.port
    holder = None
    if port == 0:  # reserve one port for every worker to share
        holder = socket.socket(socket.AF_INET6 if ":" in config.server.host else socket.AF_INET)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind((config.server.host, 0))
        port = holder.getsockname()[1]
        config = config.with_bind(config.server.host, port)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_worker_main, args=(config, i), name=f"wxgate-worker-{i}")
        for i in range(workers)
    ]
    for proc in procs:
        proc.start()
    if holder is not None:
        holder.close()

    told: list[int] = []

    def relay(signum: int, frame: FrameType | None) -> None:
        told.append(signum)
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                proc.terminate() if signum == signal.SIGTERM else _sigterm(proc.pid)

    signal.signal(signal.SIGTERM, relay)
    signal.signal(signal.SIGINT, relay)
    log.info("started %d workers on port %d", workers, port)
    for proc in procs:
        proc.join()
    # a worker killed by the SIGTERM we relayed had not installed its handlers yet (``serve``
    # takes signals before the app starts): it never served, so it stopped as asked
    stopped = {0, -signal.SIGTERM} if told else {0}
    return 0 if all(proc.exitcode in stopped for proc in procs) else 1


def _sigterm(pid: int) -> None:
    import os

    os.kill(pid, signal.SIGTERM)

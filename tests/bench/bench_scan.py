"""Scan-login benchmark: notify latency per transport and store, and 10,000 waiters under load.

Run: ``.venv/bin/python -m tests.bench.bench_scan`` (``--help`` for sizes). Prints a table and
a JSON summary (also written to ``--json PATH`` when given). Everything runs on 127.0.0.1; the
gateway processes and redis-server are started here and stopped by PID. On two or more cores
the gateway processes are pinned to core 1 and this load generator to core 0.

1. Notify latency: for each ticket, a PC waiter (WebSocket, SSE or long-poll) sees ``scanned``;
   then the clock starts, the mini-program's ``POST /auth/qr/{t}/confirm`` is sent, and the
   clock stops when ``confirmed`` arrives at the waiter. p50/p99 over ``--tickets`` tickets,
   for the memory store (one process), Redis with waiter and phone on the same process, and
   Redis across replicas (waiter on process A, phone on process B).
2. Load: ``--waiters`` concurrent waiters (one per ticket) on one process (Redis store) while
   ``--rate`` tickets/s are confirmed for ``--seconds``: gateway RSS, event-loop lag p99
   (sampled inside the gateway: a 10 ms sleep's overshoot) and notify p99.

``--serve`` is the child mode: one gateway (``gateway.server.run.serve``, uvloop) plus the loop
lag sampler (SIGUSR1 resets the samples, SIGUSR2 writes a summary to ``--lag-file``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.fixtures.net import free_port
from tests.fixtures.redis_server import RedisServer, unique_prefix

ROOT = Path(__file__).resolve().parents[2]
MINI_APPID = "wx00000000000000c3"
PC_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary_ms(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50_ms": round(percentile(ms, 0.5), 3),
            "p99_ms": round(percentile(ms, 0.99), 3), "max_ms": round(max(ms), 3) if ms else 0,
            "mean_ms": round(statistics.fmean(ms), 3) if ms else 0}  # fmt: skip


# -- child mode: one gateway with a loop-lag sampler ------------------------------------


def serve_child(port: int, lag_file: str) -> None:
    from gateway.config import DEV_CONFIG_PATH, load_config, os_environ
    from gateway.server.run import serve
    from gateway.server.workers import install_uvloop

    config = load_config(DEV_CONFIG_PATH, os_environ(), dev=True).with_bind("127.0.0.1", port)
    install_uvloop()

    async def main() -> None:
        samples: list[float] = []
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, samples.clear)
        loop.add_signal_handler(signal.SIGUSR2, lambda: Path(lag_file).write_text(
            json.dumps(summary_ms(samples))))  # fmt: skip

        async def sample() -> None:  # perf_counter: uvloop's loop.time() has 1 ms steps
            while True:
                started = time.perf_counter()
                await asyncio.sleep(0.01)
                samples.append(max(0.0, time.perf_counter() - started - 0.01))

        sampler = loop.create_task(sample())
        try:
            await serve(config)
        finally:
            sampler.cancel()

    asyncio.run(main())


@dataclass
class Proc:
    name: str
    base: str
    proc: subprocess.Popen[bytes]
    lag_file: Path
    log: Path

    @property
    def ws(self) -> str:
        return "ws://" + self.base.removeprefix("http://")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    async def lag(self, action: str) -> dict[str, float]:
        if action == "reset":
            os.kill(self.proc.pid, signal.SIGUSR1)
            return {}
        self.lag_file.unlink(missing_ok=True)
        os.kill(self.proc.pid, signal.SIGUSR2)
        for _ in range(200):
            if self.lag_file.exists() and self.lag_file.stat().st_size:
                return json.loads(self.lag_file.read_text())  # type: ignore[no-any-return]
            await asyncio.sleep(0.01)
        return {}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def pin(core: int) -> list[str]:
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(core)]
    return []


async def start_gateway(name: str, workdir: Path, env: dict[str, str]) -> Proc:
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    lag_file, log = workdir / f"{name}.lag.json", workdir / f"{name}.log"
    environ = {**os.environ, "WXGATE_SERVER__DATA_DIR": str(workdir / "var"),
               "WXGATE_SCAN__CREATE_RATE_PER_MINUTE": "100000000",
               "WXGATE_SCAN__MAX_WAITERS_PER_TICKET": "64",
               # every waiter and lookup of the benchmark comes from 127.0.0.1
               "WXGATE_SCAN__MAX_WAITERS_PER_ADDRESS": "100000000",
               "WXGATE_SCAN__STATUS_RATE_PER_MINUTE": "100000000",
               "WXGATE_LOGGING__ACCESS_LOG": "false", "WXGATE_LOGGING__LEVEL": "WARNING",
               "PYTHONPATH": str(ROOT), **env}  # fmt: skip
    args = [*pin(1), sys.executable, "-m", "tests.bench.bench_scan", "--serve",
            "--port", str(port), "--lag-file", str(lag_file)]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=environ, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    gw = Proc(name, f"http://127.0.0.1:{port}", proc, lag_file, log)
    async with aiohttp.ClientSession() as s:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{log.read_text()[-2000:]}")
            try:
                async with s.get(f"{gw.base}/readyz") as r:
                    if r.status == 200:
                        return gw
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    gw.stop()
    raise RuntimeError(f"{name} did not become ready:\n{log.read_text()[-2000:]}")


# -- the client side ----------------------------------------------------------------------


@dataclass
class Client:
    pc: aiohttp.ClientSession
    phone: aiohttp.ClientSession
    token: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    async def login_phone(self, phone_base: str) -> None:
        async with self.phone.post(f"{phone_base}/_sim/wechat/dev/js_code",
                                   json={"appid": MINI_APPID, "user": "bench"}) as r:  # fmt: skip
            code = (await r.json())["code"]
        async with self.phone.post(f"{phone_base}/auth/wechat/miniprogram/login",
                                   json={"code": code}) as r:  # fmt: skip
            assert r.status == 200, await r.text()
            self.token = (await r.json())["access_token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}

    async def create(self, base: str) -> str:
        async with self.pc.post(f"{base}/auth/qr") as r:
            assert r.status == 200, await r.text()
            return str((await r.json())["ticket"])

    async def phone_call(self, base: str, ticket: str, action: str) -> None:
        async with self.phone.post(f"{base}/auth/qr/{ticket}/{action}", headers=self.headers) as r:
            assert r.status == 200, await r.text()
            await r.read()


async def sse_next(resp: aiohttp.ClientResponse, state: str) -> None:
    """Read SSE blocks until an event named ``state``."""
    while True:
        block = await resp.content.readuntil(b"\n\n")
        if not block:
            raise ConnectionError("SSE stream ended")
        if f"event: {state}\n".encode() in block:
            return


async def scanned_tickets(client: Client, waiter: Proc, phone: Proc, count: int) -> list[str]:
    """``count`` tickets created on ``waiter`` and scanned through ``phone`` (not measured)."""

    async def one(_: int) -> str:
        ticket = await client.create(waiter.base)
        await client.phone_call(phone.base, ticket, "scan")
        return ticket

    return await bounded(list(range(count)), 16, one)


async def one_ticket(
    client: Client, waiter: Proc, phone: Proc, transport: str, ticket: str
) -> float:
    """Latency from the confirm request's start to ``confirmed`` at the waiter (seconds).

    The ticket is already scanned: the waiter connects, receives ``scanned`` (the current state),
    then the clock runs from the confirm request's start to ``confirmed`` at the waiter.
    """
    path = f"/auth/qr/{ticket}"
    confirm: asyncio.Future[None]
    if transport == "ws":
        async with client.pc.ws_connect(f"{waiter.ws}{path}/ws", autoping=True) as ws:
            await ws.receive()  # scanned
            started = time.perf_counter()
            confirm = asyncio.ensure_future(client.phone_call(phone.base, ticket, "confirm"))
            msg = await ws.receive()
            elapsed = time.perf_counter() - started
            assert json.loads(msg.data)["state"] == "confirmed"
    elif transport == "sse":
        async with client.pc.get(f"{waiter.base}{path}/events") as resp:
            await sse_next(resp, "scanned")
            started = time.perf_counter()
            confirm = asyncio.ensure_future(client.phone_call(phone.base, ticket, "confirm"))
            await sse_next(resp, "confirmed")
            elapsed = time.perf_counter() - started
    else:
        url = f"{waiter.base}{path}/status?wait=25&after=scanned"
        poll = asyncio.ensure_future(client.pc.get(url))
        await asyncio.sleep(0.003)  # let the poll reach the server and start waiting
        started = time.perf_counter()
        confirm = asyncio.ensure_future(client.phone_call(phone.base, ticket, "confirm"))
        async with await poll as resp:
            body = await resp.json()
        elapsed = time.perf_counter() - started
        assert body["state"] == "confirmed", body
    await confirm
    return elapsed


async def latency_suite(
    args: argparse.Namespace, workdir: Path, redis_url: str
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    memory = await start_gateway("memory", workdir / "m", {})
    prefix = unique_prefix("bench")
    redis_env = {"WXGATE_STORE__URL": redis_url, "WXGATE_STORE__PREFIX": prefix}
    a = await start_gateway("redis-a", workdir / "r", redis_env)
    b = await start_gateway("redis-b", workdir / "r", redis_env)
    try:
        for store, waiter, phone in (("memory", memory, memory), ("redis", a, a),
                                     ("redis-cross-replica", a, b)):  # fmt: skip
            for transport in ("ws", "sse", "longpoll"):
                rows.append(await measure(args, store, waiter, phone, transport))
                print(format_row(rows[-1]), flush=True)
    finally:
        for gw in (memory, a, b):
            gw.stop()
    return rows


async def measure(args: argparse.Namespace, store: str, waiter: Proc, phone: Proc,
                  transport: str) -> dict[str, Any]:  # fmt: skip
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, headers={"User-Agent": PC_UA}) as pc, \
            aiohttp.ClientSession() as ph:  # fmt: skip
        client = Client(pc, ph)
        await client.login_phone(phone.base)
        tickets = await scanned_tickets(client, waiter, phone, args.tickets + 20)
        samples = [await one_ticket(client, waiter, phone, transport, t) for t in tickets]
    samples = samples[20:]  # the first ones warm up connections and code paths
    return {"part": 1, "store": store, "transport": transport, **summary_ms(samples)}


# -- part 2: many waiters under load ------------------------------------------------------


async def load_suite(
    args: argparse.Namespace, workdir: Path, redis_url: str
) -> list[dict[str, Any]]:
    rows = []
    for transport in args.load_transports:
        env = {"WXGATE_STORE__URL": redis_url, "WXGATE_STORE__PREFIX": unique_prefix("load")}
        gw = await start_gateway(f"load-{transport}", workdir / f"l-{transport}", env)
        try:
            rows.append(await load(args, gw, transport))
            print(format_row(rows[-1]), flush=True)
        finally:
            gw.stop()
    return rows


async def bounded(items: list[Any], limit: int, fn: Callable[[Any], Awaitable[Any]]) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def run(item: Any) -> Any:
        async with gate:
            return await fn(item)

    return await asyncio.gather(*(run(i) for i in items))


async def load(args: argparse.Namespace, gw: Proc, transport: str) -> dict[str, Any]:
    rss_idle = gw.rss_mb()
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     headers={"User-Agent": PC_UA}) as pc, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as ph:  # fmt: skip
        client = Client(pc, ph)
        await client.login_phone(gw.base)
        tickets = await bounded(list(range(args.waiters)), 64, lambda _: client.create(gw.base))
        arrived: dict[str, float] = {}
        ready = asyncio.Event()
        gate = asyncio.Semaphore(256)  # connections being opened at once
        connected = 0

        def joined() -> None:
            nonlocal connected
            connected += 1
            gate.release()
            if connected == len(tickets):
                ready.set()

        async def wait_on(ticket: str) -> None:
            await gate.acquire()
            url = f"/auth/qr/{ticket}"
            if transport == "ws":
                async with pc.ws_connect(f"{gw.ws}{url}/ws", autoping=True, compress=0) as ws:
                    await ws.receive()
                    joined()
                    while (msg := await ws.receive()).type == aiohttp.WSMsgType.TEXT:
                        if json.loads(msg.data)["state"] == "confirmed":
                            arrived[ticket] = time.perf_counter()
                            return
                    return
            async with pc.get(f"{gw.base}{url}/events") as resp:
                await sse_next(resp, "pending")
                joined()
                await sse_next(resp, "confirmed")
                arrived[ticket] = time.perf_counter()

        t_connect = time.perf_counter()
        waiters = [asyncio.ensure_future(wait_on(t)) for t in tickets]
        await asyncio.wait_for(ready.wait(), timeout=180)
        connect_s = time.perf_counter() - t_connect
        gc.collect()
        gc.freeze()  # the load generator's 10k connections: no full GC pauses in the window
        confirm_count = int(args.rate * args.seconds)
        chosen = tickets[:confirm_count]
        await bounded(chosen, 32, lambda t: client.phone_call(gw.base, t, "scan"))
        await asyncio.sleep(0.5)
        rss_loaded = gw.rss_mb()
        before = await notify_buckets(ph, gw.base, transport)
        await gw.lag("reset")
        sent: dict[str, float] = {}
        interval = 1.0 / args.rate
        begin = time.perf_counter()
        confirms = []
        for i, ticket in enumerate(chosen):
            delay = begin + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[ticket] = time.perf_counter()
            confirms.append(
                asyncio.ensure_future(timed(client.phone_call(gw.base, ticket, "confirm")))
            )
        confirm_rtt = await asyncio.gather(*confirms)
        await asyncio.sleep(0.5)
        lag = await gw.lag("dump")
        after = await notify_buckets(ph, gw.base, transport)
        server_side = bucket_percentiles(before, after)
        latencies = [arrived[t] - sent[t] for t in chosen if t in arrived]
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        gc.unfreeze()
    return {"part": 2, "store": "redis", "transport": transport, "waiters": args.waiters,
            "confirms_per_s": args.rate, "seconds": args.seconds, "connect_s": round(connect_s, 1),
            "rss_idle_mb": round(rss_idle, 1), "rss_loaded_mb": round(rss_loaded, 1),
            "loop_lag_p99_ms": lag.get("p99_ms"), "loop_lag_max_ms": lag.get("max_ms"),
            "notified": len(latencies), **summary_ms(latencies),
            "server_notify_p50_le_ms": server_side[0], "server_notify_p99_le_ms": server_side[1],
            "confirm_rtt_p50_ms": summary_ms(confirm_rtt)["p50_ms"],
            "confirm_rtt_p99_ms": summary_ms(confirm_rtt)["p99_ms"],
            }  # fmt: skip


async def timed(call: Awaitable[None]) -> float:
    """Seconds ``call`` took (the confirm request's round trip)."""
    started = time.perf_counter()
    await call
    return time.perf_counter() - started


async def notify_buckets(
    session: aiohttp.ClientSession, base: str, transport: str
) -> dict[float, float]:
    """The gateway's ``scan_notify_latency`` histogram buckets for ``transport`` (le -> count)."""
    from prometheus_client.parser import text_string_to_metric_families

    label = "websocket" if transport == "ws" else transport
    async with session.get(f"{base}/metrics") as r:
        text = await r.text()
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "wxgate_scan_notify_latency_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket") and sample.labels.get("transport") == label:
                buckets[float(sample.labels["le"])] = sample.value
    return buckets


def bucket_percentiles(
    before: dict[float, float], after: dict[float, float]
) -> tuple[float, float]:
    """Upper bounds (ms) of the buckets holding p50 and p99 of the observations in between."""
    counts = sorted((le, after[le] - before.get(le, 0.0)) for le in after)
    total = counts[-1][1] if counts else 0.0
    result = []
    for q in (0.5, 0.99):
        bound = next((le for le, n in counts if total and n >= q * total), float("inf"))
        result.append(round(bound * 1000, 3))
    return result[0], result[1]


# -- main ---------------------------------------------------------------------------------


def format_row(row: dict[str, Any]) -> str:
    if row["part"] == 1:
        return (f"notify  {row['store']:<20} {row['transport']:<8} n={row['n']:<5} "
                f"p50={row['p50_ms']:>7.3f} ms  p99={row['p99_ms']:>7.3f} ms  "
                f"max={row['max_ms']:>7.3f} ms")  # fmt: skip
    return (f"load    {row['waiters']} {row['transport']} waiters, {row['confirms_per_s']}/s "
            f"confirms: RSS {row['rss_idle_mb']} -> {row['rss_loaded_mb']} MB, loop lag p99 "
            f"{row['loop_lag_p99_ms']} ms (max {row['loop_lag_max_ms']}), notify p50 "
            f"{row['p50_ms']} p99 {row['p99_ms']} ms ({row['notified']} notified; server side "
            f"p50 <= {row['server_notify_p50_le_ms']} p99 <= {row['server_notify_p99_le_ms']} ms; "
            f"confirm RTT p50 {row['confirm_rtt_p50_ms']} p99 {row['confirm_rtt_p99_ms']} ms), "
            f"connect {row['connect_s']} s")  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tickets", type=int, default=1000, help="tickets per latency row")
    p.add_argument("--waiters", type=int, default=10_000, help="concurrent waiters (part 2)")
    p.add_argument("--rate", type=float, default=100.0, help="confirms per second (part 2)")
    p.add_argument("--seconds", type=float, default=10.0, help="confirm phase length (part 2)")
    p.add_argument("--load-transports", nargs="+", default=["sse", "ws"], choices=["sse", "ws"])
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--skip-load", action="store_true")
    p.add_argument("--json", default=str(ROOT / "tests" / "bench" / "results" / "scan.json"),
                   help="also write the JSON summary here (default: %(default)s)")  # fmt: skip
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--lag-file", help=argparse.SUPPRESS)
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wxgate-bench-scan-") as tmp:
        workdir = Path(tmp)
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        redis = RedisServer(binary, workdir, free_port())
        redis.start()
        if pin(1) and redis._proc is not None:  # next to the gateways, away from the load
            subprocess.run(["taskset", "-pc", "1", str(redis._proc.pid)],
                           check=False, capture_output=True)  # fmt: skip
        try:
            started = time.perf_counter()
            rows = [] if args.skip_latency else await latency_suite(args, workdir, redis.url)
            rows += [] if args.skip_load else await load_suite(args, workdir, redis.url)
        finally:
            redis.stop()
    return {"benchmark": "scan-login", "cpus": os.cpu_count(), "pinned": bool(pin(1)),
            "elapsed_s": round(time.perf_counter() - started, 1), "rows": rows}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    if args.serve:
        serve_child(args.port, args.lag_file)
        return 0
    if pin(0):
        os.sched_setaffinity(0, {0})
    from gateway.server.workers import install_uvloop

    install_uvloop()  # the load generator too: less client overhead in every figure
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

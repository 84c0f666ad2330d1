"""``make soak``: mixed traffic against one real gateway process for a long while (not in CI).

One gateway (``tests/soak/child.py``: ``wxgate serve --dev`` with uvloop, the default dev
config: memory store, SQLite, the built-in simulator and echo upstream, the access log on) is
started on 127.0.0.1 and stopped by PID. Only the per-address abuse limits are raised, because
every request comes from 127.0.0.1. This process sends, open-loop at ``SOAK_RATE`` flows per
second (bounded to ``SOAK_CONCURRENCY`` in flight), a fixed mix of:

- ``mini_login``: the simulator's ``wx.login`` code, then ``POST /auth/wechat/miniprogram/login``;
- ``refresh``: ``POST /auth/token`` (``refresh_token``; rotates, one user at a time);
- ``proxy``: ``GET /demo/...`` with the bearer token, through the proxy to the echo upstream;
- ``forward_auth``: ``GET /auth/verify`` with ``X-Original-URI`` and the bearer token;
- ``scan``: a PC creates a ticket and waits on its WebSocket, the mini-program scans and
  confirms, the PC is told and redeems (timed from create to redeem; ``scan_notify`` is the
  confirm-to-WebSocket latency).

Every ``SOAK_SAMPLE`` seconds it samples the gateway's RSS, open descriptors, threads and event
loop tasks. The report (stdout, and tests/bench/results/soak.json): per kind the count, errors
(an unexpected status or an exception; goal 0) and p50/p99; RSS after the warm-up
(``SOAK_WARMUP``, default a tenth of the run) and at the end, its growth and slope (and per
session or refresh rotation stored: the dev config's memory store keeps them for
``tokens.refresh_ttl``, so with the full mix RSS grows with them; ``SOAK_MIX=proxy,forward_auth``
stores nothing); descriptor and task ranges after the warm-up; ERROR lines in the gateway's
log. Exit status 1 on any error.

Environment: ``SOAK_SECONDS`` (600), ``SOAK_RATE`` (40), ``SOAK_CONCURRENCY`` (64, also the
client's connection limit), ``SOAK_SAMPLE`` (5), ``SOAK_WARMUP`` (``SOAK_SECONDS``/10),
``SOAK_USERS`` (50), ``SOAK_MIX`` (a comma-separated subset of the kinds; default all).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.bench.common import RESULTS, pinned, summary_ms
from tests.fixtures.net import free_port
from tests.fixtures.process import stop, wait_ready

MINI_APPID = "wx00000000000000c3"
PC_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
MIX = ["proxy"] * 4 + ["forward_auth"] * 4 + ["refresh", "mini_login", "scan"]
KINDS = ("proxy", "forward_auth", "refresh", "mini_login", "scan")
LIFTED = {  # every request comes from 127.0.0.1: the per-address limits would answer 429
    f"WXGATE_LIMITS__{name.upper()}": "100000000"
    for name in ("login_start_per_address", "callback_per_address",
                 "miniprogram_login_per_address", "refresh_per_address", "refresh_per_user",
                 "ticket_create_per_address", "status_per_address", "waiters_per_address")
}  # fmt: skip


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


class Unexpected(Exception):
    """A response the flow did not expect (status and a short body)."""


@dataclass
class User:
    name: str
    access: str
    refresh: str
    busy: bool = False  # a refresh is rotating its tokens

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


@dataclass
class Results:
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    examples: list[str] = field(default_factory=list)

    def error(self, kind: str, exc: BaseException) -> None:
        self.errors[kind] += 1
        if len(self.examples) < 20:
            self.examples.append(f"{kind}: {type(exc).__name__}: {str(exc)[:200]}")


async def expect(resp: aiohttp.ClientResponse, status: int = 200) -> Any:
    if resp.status != status:
        raise Unexpected(
            f"{resp.method} {resp.url.path} -> {resp.status}: {(await resp.text())[:200]}"
        )
    if resp.content_type == "application/json":
        return await resp.json()
    await resp.read()
    return None


class Traffic:
    """The flows, sharing one client session (the phone and API calls) and a user pool."""

    def __init__(self, base: str, session: aiohttp.ClientSession, results: Results) -> None:
        self.base = base
        self.http = session
        self.results = results
        self.users: list[User] = []
        self.names = itertools.count()

    async def login(self, name: str) -> User:
        url = f"{self.base}/_sim/wechat/dev/js_code"
        async with self.http.post(url, json={"appid": MINI_APPID, "user": name}) as r:
            code = (await expect(r))["code"]
        started = time.perf_counter()
        url = f"{self.base}/auth/wechat/miniprogram/login"
        async with self.http.post(url, json={"code": code}) as r:
            body = await expect(r)
        self.results.samples["mini_login"].append(time.perf_counter() - started)
        return User(name, body["access_token"], body["refresh_token"])

    async def mini_login(self, pool_size: int) -> None:
        user = await self.login(f"soak-{next(self.names) % (pool_size * 4)}")
        if len(self.users) < pool_size:
            self.users.append(user)
        else:  # replace a user that is not refreshing, so the pool keeps fresh tokens
            idle = [i for i, u in enumerate(self.users) if not u.busy]
            if idle:
                self.users[random.choice(idle)] = user

    async def refresh(self) -> None:
        idle = [u for u in self.users if not u.busy]
        if not idle:
            return
        user = random.choice(idle)
        user.busy = True
        try:
            form = {"grant_type": "refresh_token", "refresh_token": user.refresh}
            started = time.perf_counter()
            async with self.http.post(f"{self.base}/auth/token", data=form) as r:
                body = await expect(r)
            self.results.samples["refresh"].append(time.perf_counter() - started)
            user.access, user.refresh = body["access_token"], body["refresh_token"]
        finally:
            user.busy = False

    async def proxy(self) -> None:
        user = random.choice(self.users)
        started = time.perf_counter()
        url = f"{self.base}/demo/items/{random.randrange(1000)}?q=soak"
        async with self.http.get(url, headers=user.bearer) as r:
            await expect(r)
        self.results.samples["proxy"].append(time.perf_counter() - started)

    async def forward_auth(self) -> None:
        user = random.choice(self.users)
        headers = {**user.bearer, "X-Original-URI": f"/demo/page/{random.randrange(1000)}"}
        started = time.perf_counter()
        async with self.http.get(f"{self.base}/auth/verify", headers=headers) as r:
            await expect(r)
        self.results.samples["forward_auth"].append(time.perf_counter() - started)

    async def scan(self) -> None:
        phone = random.choice(self.users).bearer
        jar = aiohttp.CookieJar(unsafe=True)  # a fresh browser: the ticket is bound to it
        async with aiohttp.ClientSession(cookie_jar=jar, headers={"User-Agent": PC_UA}) as pc:
            started = time.perf_counter()
            async with pc.post(f"{self.base}/auth/qr") as r:
                created = await expect(r)
            ticket = created["ticket"]
            async with pc.ws_connect(created["ws_url"]) as ws:
                await self._state(ws, "pending")
                async with self.http.post(f"{self.base}/auth/qr/{ticket}/scan", headers=phone) as r:
                    await expect(r)
                await self._state(ws, "scanned")
                confirmed = time.perf_counter()
                url = f"{self.base}/auth/qr/{ticket}/confirm"
                async with self.http.post(url, headers=phone) as r:
                    await expect(r)
                await self._state(ws, "confirmed")
                self.results.samples["scan_notify"].append(time.perf_counter() - confirmed)
            async with pc.post(f"{self.base}/auth/qr/{ticket}/redeem") as r:
                await expect(r)
            self.results.samples["scan"].append(time.perf_counter() - started)

    @staticmethod
    async def _state(ws: aiohttp.ClientWebSocketResponse, wanted: str) -> None:
        state = (await ws.receive_json(timeout=10))["state"]
        if state != wanted:
            raise Unexpected(f"ticket state {state}, expected {wanted}")


@dataclass
class Sample:
    at: float
    rss_mb: float
    fds: int
    threads: int
    tasks: int
    in_flight: int = 0  # flows the generator had running


def mix() -> list[str]:
    """``MIX``, or only the kinds ``SOAK_MIX`` names (e.g. ``proxy,forward_auth``: no state
    is created, so RSS growth there is not stored sessions)."""
    chosen = [k.strip() for k in os.environ.get("SOAK_MIX", "").split(",") if k.strip()]
    unknown = set(chosen) - set(KINDS)
    if unknown:
        raise SystemExit(f"SOAK_MIX: unknown kinds {sorted(unknown)}; choose from {KINDS}")
    return [k for k in MIX if k in chosen] if chosen else list(MIX)


def sample(pid: int, stats: Path, at: float) -> Sample:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    try:
        tasks = int(json.loads(stats.read_text())["tasks"])
    except (OSError, ValueError, KeyError):
        tasks = -1
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss_kb = int(fields["VmRSS"].split()[0])
    return Sample(at, rss_kb / 1024, fds, int(fields["Threads"]), tasks)


async def drive(base: str, pid: int, stats: Path) -> tuple[Results, list[Sample], float]:
    seconds, rate = env_float("SOAK_SECONDS", 600), env_float("SOAK_RATE", 40)
    every, pool = env_float("SOAK_SAMPLE", 5), int(env_float("SOAK_USERS", 50))
    concurrency = int(env_float("SOAK_CONCURRENCY", 64))
    gate = asyncio.Semaphore(concurrency)
    results, samples = Results(), []
    # At most one keep-alive connection per flow in flight: the gateway's descriptors and
    # tasks then say what it holds beyond the connections the generator keeps open.
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        traffic = Traffic(base, http, results)
        for _ in range(10):
            await traffic.mini_login(pool)
        results.samples.clear()

        async def one(kind: str) -> None:
            try:
                if kind == "mini_login":
                    await traffic.mini_login(pool)
                else:
                    await getattr(traffic, kind)()
            except Exception as exc:  # every failure is counted, whatever it is
                results.error(kind, exc)
            finally:
                gate.release()

        started = time.monotonic()
        tasks: set[asyncio.Task[None]] = set()
        next_sample = started
        kinds = mix()
        for i, kind in enumerate(itertools.cycle(random.sample(kinds, len(kinds)))):
            now = time.monotonic()
            if now - started >= seconds:
                break
            if now >= next_sample:
                samples.append(sample(pid, stats, now - started))
                samples[-1].in_flight = len(tasks)
                next_sample += every
            await asyncio.sleep(max(0.0, started + i / rate - now))
            await gate.acquire()
            task = asyncio.create_task(one(kind))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        samples.append(sample(pid, stats, time.monotonic() - started))
        return results, samples, time.monotonic() - started


def report(results: Results, samples: list[Sample], elapsed: float, log: Path) -> dict[str, Any]:
    warmup = env_float("SOAK_WARMUP", env_float("SOAK_SECONDS", 600) / 10)
    steady = [s for s in samples if s.at >= warmup] or samples
    first, last = steady[0], steady[-1]
    minutes = max(1e-9, (last.at - first.at) / 60)
    error_lines = [
        line for line in log.read_text(errors="replace").splitlines()
        if '"level": "ERROR"' in line or '"level": "CRITICAL"' in line or "Traceback" in line
    ]  # fmt: skip
    kinds = {kind: {**summary_ms(values), "errors": results.errors.get(kind, 0)}
             for kind, values in sorted(results.samples.items())}  # fmt: skip
    for kind, count in results.errors.items():
        kinds.setdefault(kind, {"n": 0, "errors": count})
    # Sessions (a login or a redeemed ticket) and rotated refresh tokens are kept for
    # refresh_ttl (30 days) in the store: with memory:// they are the gateway's own RSS.
    stateful = sum(len(results.samples.get(k, ())) for k in ("mini_login", "scan", "refresh"))
    steady_share = (last.at - first.at) / max(1e-9, elapsed)
    per_state_kb = (last.rss_mb - first.rss_mb) * 1024 / max(1.0, stateful * steady_share)
    return {
        "seconds": round(elapsed, 1),
        "stored_sessions_and_rotations": stateful,
        "rss_growth_kb_per_stored": round(per_state_kb, 2),
        "rate_flows_per_s": env_float("SOAK_RATE", 40),
        "mix": sorted(set(mix())),
        "kinds": kinds,
        "errors_total": sum(results.errors.values()),
        "error_examples": results.examples,
        "rss_mb": {"after_warmup": round(first.rss_mb, 1), "end": round(last.rss_mb, 1),
                   "growth": round(last.rss_mb - first.rss_mb, 1),
                   "slope_per_min": round((last.rss_mb - first.rss_mb) / minutes, 3),
                   "max": round(max(s.rss_mb for s in steady), 1)},
        "fds": {"min": min(s.fds for s in steady), "max": max(s.fds for s in steady),
                "end": last.fds},
        "tasks": {"min": min(s.tasks for s in steady), "max": max(s.tasks for s in steady),
                  "end": last.tasks},
        "threads": {"max": max(s.threads for s in steady)},
        "in_flight": {"max": max(s.in_flight for s in steady), "end": last.in_flight},
        "gateway_error_log_lines": len(error_lines),
        "gateway_error_log_examples": [line[:300] for line in error_lines[:5]],
        "samples": [vars(s) for s in samples],
    }  # fmt: skip


async def soak(base: str, proc: subprocess.Popen[bytes], stats: Path, log: Path) -> int:
    await wait_ready(base, proc, log)
    print(f"soak: gateway pid {proc.pid} at {base}; {env_float('SOAK_SECONDS', 600):.0f}s "
          f"at {env_float('SOAK_RATE', 40):.0f} flows/s", flush=True)  # fmt: skip
    results, samples, elapsed = await drive(base, proc.pid, stats)
    summary = report(results, samples, elapsed, log)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "samples"}, indent=2))
    print(f"soak: full report with every sample in {RESULTS / 'soak.json'}")
    return 1 if summary["errors_total"] or proc.poll() is not None else 0


def main() -> int:
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory(prefix="wxgate-soak-") as tmp:
        work, port = Path(tmp), free_port()
        stats, log = work / "stats.json", work / "gateway.log"
        env = {**os.environ, "WXGATE_SERVER__DATA_DIR": str(work / "var"),
               "PYTHONPATH": str(root), **LIFTED}  # fmt: skip
        cmd = [sys.executable, "-m", "tests.soak.child", "--port", str(port), "--stats", str(stats)]
        with log.open("wb") as out:  # the gateway on core 1, this generator on core 0
            proc = subprocess.Popen(pinned(cmd, 1), env=env, cwd=root, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        if len(os.sched_getaffinity(0)) > 1:
            os.sched_setaffinity(0, {0})
        try:
            return asyncio.run(soak(f"http://127.0.0.1:{port}", proc, stats, log))
        finally:
            stop(proc)

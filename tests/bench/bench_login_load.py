"""Logins as users see them: the default configuration, WeChat 30 ms away, proxied traffic beside.

One gateway worker (access log on, the default) pinned to core 0; the simulator, an nginx
upstream and the load generators on core 1. The simulator answers ``jscode2session`` after
``--wechat-ms`` (30 ms, a realistic WeChat round trip) through its latency fault.

1. **CPU per login in RS256 signatures**: the gateway's CPU per mini-program login (new users,
   then the same people returning) divided by the CPU of one raw RSA-2048 signature measured on
   the same core in the same run.
2. **Logins/s at concurrency 64** against the slow simulator: with WeChat's latency in every
   login, the gateway's core is not what limits it (``server_cpu_busy`` says how busy it was).
3. **Proxy p99 while logins run**: a light proxied load (``--proxy-concurrency`` clients, a
   JWT route to the nginx upstream) measured alone, then again while the login burst runs;
   the user-visible cost of a burst is the difference. Measured by the clients (which share
   core 1 with the simulator and the login load) and, from the gateway's access log
   (``duration_ms``), on the gateway's side (``server_side_proxy_ms``).

Run: ``.venv/bin/python -m tests.bench.bench_login_load [--logins N]``; saved as
``tests/bench/results/login_load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from tests.bench.bench_login import (
    CONFIG,
    MINI_APPID,
    MINI_SECRET,
    make_codes,
    measure,
    sign_ops_on_core,
)
from tests.bench.common import WXGATE, Proc, save, summary_ms, wait_http
from tests.fixtures.net import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
BODY = '{"ok": true}'
ROUTE = """
[[proxy.routes]]
prefix = "/api/"
upstream = "http://127.0.0.1:{upstream}"
auth = "required"
"""


def _config(tmp: Path, port: int, sim: str, upstream: int) -> Path:
    text = CONFIG.format(port=port, data=f"{tmp}/var", sim=sim, appid=MINI_APPID,
                         secret=MINI_SECRET)  # fmt: skip
    text = text.replace(
        "access_log = false", f'access_log = true\naccess_log_path = "{tmp}/access.log"'
    )
    path = tmp / "gateway.toml"
    path.write_text(text + ROUTE.format(upstream=upstream))
    return path


def _nginx(tmp: Path, port: int) -> Proc:
    prefix = tmp / "nginx"
    (prefix / "logs").mkdir(parents=True)
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"user root; worker_processes 1; events {{ worker_connections 1024; }}\n"
        f"http {{ access_log off; client_body_temp_path {prefix}/cb; proxy_temp_path {prefix}/p;\n"
        f"  server {{ listen 127.0.0.1:{port};\n"
        f"    location / {{ default_type application/json; return 200 '{BODY}'; }} }} }}\n"
    )
    pid = f"daemon off; pid {prefix / 'nginx.pid'};"
    return Proc([NGINX, "-e", "stderr", "-p", str(prefix), "-c", str(conf), "-g", pid], core=1)


async def _slow_wechat(sim: str, ms: float) -> None:
    fault = {"api": "jscode2session", "kind": "latency", "seconds": ms / 1000, "times": 0}
    async with aiohttp.ClientSession() as s, s.post(f"{sim}/sim/faults", json=fault) as r:
        r.raise_for_status()


async def proxy_latencies(
    url: str, token: str, concurrency: int, stop: asyncio.Event
) -> list[float]:
    """Closed-loop proxied GETs by ``concurrency`` clients until ``stop``: each latency (s)."""
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as s:

        async def client() -> None:
            while not stop.is_set():
                sent = time.perf_counter()
                async with s.get(url) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"proxy answered {r.status}")
                latencies.append(time.perf_counter() - sent)

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies


WINDOWS: dict[str, list[tuple[float, float]]] = {"alone": [], "beside": []}


async def _proxy_alone(url: str, token: str, concurrency: int, seconds: float) -> list[float]:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    started = time.time()
    latencies = await proxy_latencies(url, token, concurrency, stop)
    WINDOWS["alone"].append((started, time.time()))
    return latencies


def server_side(access_log: Path) -> dict[str, list[dict[str, float]]]:
    """The proxied requests' durations as the gateway logged them (``duration_ms``), per
    window: what the gateway did, without the load generators' own delays (they share the
    other core with the simulator)."""
    lines = [json.loads(line) for line in access_log.read_text().splitlines()]
    stamped = [
        (datetime.fromisoformat(x["ts"].replace("Z", "+00:00")).timestamp(), x["duration_ms"])
        for x in lines
        if x.get("route") == "/api/"
    ]
    return {
        kind: [
            summary_ms([ms / 1000 for ts, ms in stamped if start <= ts <= end])
            for start, end in windows
        ]
        for kind, windows in WINDOWS.items()
    }


async def _proxy_beside_logins(
    url: str, token: str, concurrency: int, logins: Any
) -> tuple[list[float], dict[str, Any]]:
    stop = asyncio.Event()
    proxied = asyncio.ensure_future(proxy_latencies(url, token, concurrency, stop))
    await asyncio.sleep(0.2)  # the proxied load is running before the burst starts
    started = time.time()
    run: dict[str, Any] = await logins
    WINDOWS["beside"].append((started, time.time()))
    stop.set()
    return await proxied, run


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wxgate-login-load-") as name:
        tmp = Path(name)
        port, sim_port, upstream = free_port(), free_port(), free_port()
        sim = f"http://127.0.0.1:{sim_port}"
        cfg = _config(tmp, port, sim, upstream)
        subprocess.run([*WXGATE, "keys", "generate", "--config", str(cfg)],
                       check=True, capture_output=True)  # fmt: skip
        token = subprocess.run(
            [*WXGATE, "token", "issue", "--config", str(cfg), "--sub", "bench"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        sign_before = sign_ops_on_core(0)
        simulate = [*WXGATE, "simulate", "--port", str(sim_port), "--config", str(cfg)]
        with Proc(simulate, core=1), _nginx(tmp, upstream):
            wait_http(f"{sim}/sim/calls")
            await _slow_wechat(sim, args.wechat_ms)
            with Proc([*WXGATE, "serve", "--config", str(cfg)], core=0) as gateway:
                base = f"http://127.0.0.1:{port}"
                wait_http(f"{base}/readyz")
                result = await _runs(args, base, gateway.proc.pid, sim, token)
            result["server_side_proxy_ms"] = server_side(tmp / "access.log")  # stopped: flushed
        sign_after = sign_ops_on_core(0)
    sign_us = 1e6 / ((sign_before + sign_after) / 2)
    for kind in ("new_user_runs", "returning_user_runs"):
        for run in result[kind]:
            run["cpu_per_login_in_signatures"] = round(run["server_cpu_us_per_login"] / sign_us, 2)
    result["rsa2048_sign_us_core0"] = round(sign_us, 1)
    return result


async def _runs(
    args: argparse.Namespace, base: str, pid: int, sim: str, token: str
) -> dict[str, Any]:
    url = f"{base}/api/items"
    await _proxy_alone(url, token, args.proxy_concurrency, 0.5)  # warm-up
    WINDOWS["alone"].clear()
    alone, beside, new_users, returning, bursts = [], [], [], [], []
    for i in range(args.runs):  # alternate: the proxy alone, logins alone, then both together
        alone.append(summary_ms(await _proxy_alone(url, token, args.proxy_concurrency, 3.0)))
        codes = await make_codes(sim, args.logins, f"n{i}")
        new_users.append(await measure(base, pid, codes, args.concurrency))
        codes = await make_codes(sim, args.logins, f"b{i}")
        logins = measure(base, pid, codes, args.concurrency)
        latencies, run = await _proxy_beside_logins(url, token, args.proxy_concurrency, logins)
        beside.append(summary_ms(latencies))
        run.pop("server_cpu_us_per_login")  # the proxied requests' CPU is in it too
        bursts.append(run)
    for i in range(args.runs):  # the people of the first runs again
        codes = await make_codes(sim, args.logins, f"n{i}")
        returning.append(await measure(base, pid, codes, args.concurrency))
    return {
        "benchmark": "login_load",
        "wechat_latency_ms": args.wechat_ms,
        "concurrency": args.concurrency,
        "proxy_concurrency": args.proxy_concurrency,
        "new_user_runs": new_users,
        "returning_user_runs": returning,
        "login_runs_beside_proxy": bursts,
        "proxy_alone": alone,
        "proxy_beside_logins": beside,
        "proxy_p99_ms_alone_vs_beside_logins": [
            (a["p99_ms"], b["p99_ms"]) for a, b in zip(alone, beside, strict=True)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--proxy-concurrency", type=int, default=4)
    parser.add_argument("--wechat-ms", type=float, default=30.0)
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {1})  # the load generators stay off the gateway's core
    save("login_load", asyncio.run(bench(args)))


if __name__ == "__main__":
    main()

"""Mini-program logins per second through the gateway against ``wxgate simulate``.

One gateway worker pinned to core 0; the simulator and this load generator on core 1. Each
login is the whole flow C: jscode2session over HTTP to the simulator, a new user linked in
SQLite, an RS256 access token signed, a refresh family stored, the session_key sealed. The
bound is raw ``cryptography`` RSA-2048 signing on the gateway's core, measured in the same run
(goal: logins/s >= 0.5x signs/s).

Run: ``.venv/bin/python -m tests.bench.bench_login [--logins N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.bench.common import PYTHON, WXGATE, Proc, pinned, save, wait_http
from tests.fixtures.net import free_port

MINI_APPID = "wx00000000000000c3"
CONFIG = """
[server]
host = "127.0.0.1"
port = {port}
public_url = "http://127.0.0.1:{port}"
data_dir = "{data}"
[logging]
level = "WARNING"
access_log = false
[tokens]
issuer = "https://bench.wxgate.test"
[wechat]
api_base = "{sim}"
api_failover_base = "{sim}"
open_base = "{sim}"
session_key_encryption_key = "ZGV2LW9ubHktc2Vzc2lvbi1rZXktZW5jcnlwdGlvbiE="
[wechat.apps.mini]
kind = "miniprogram"
appid = "{appid}"
secret = "0000000000000000000000000000d0c3"
[login]
rate_limit_per_minute = 100000000
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sign_ops_on_core(core: int) -> float:
    code = "from tests.bench.common import rsa_sign_ops; print(rsa_sign_ops(2.0))"
    out = subprocess.run(
        pinned([PYTHON, "-c", code], core), capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


async def make_codes(sim: str, n: int, tag: str) -> list[str]:
    async with aiohttp.ClientSession() as s:

        async def one(i: int) -> str:
            body = {"appid": MINI_APPID, "user": f"bench-{tag}-{i}"}
            async with s.post(f"{sim}/dev/js_code", json=body) as r:
                return str((await r.json())["code"])

        return list(await asyncio.gather(*(one(i) for i in range(n))))


async def run_logins(base: str, codes: list[str], concurrency: int) -> dict[str, Any]:
    queue = list(reversed(codes))
    failures = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as s:

        async def worker() -> None:
            nonlocal failures
            while queue:
                code = queue.pop()
                async with s.post(
                    f"{base}/auth/wechat/miniprogram/login", json={"code": code}
                ) as r:
                    await r.read()
                    failures += r.status != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"logins": len(codes), "seconds": round(elapsed, 3),
            "per_second": round(len(codes) / elapsed, 1), "failures": failures}  # fmt: skip


async def bench(logins: int, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        port, sim_port = free_port(), free_port()
        sim = f"http://127.0.0.1:{sim_port}"
        cfg = Path(tmp) / "gateway.toml"
        cfg.write_text(CONFIG.format(port=port, data=f"{tmp}/var", sim=sim, appid=MINI_APPID))
        subprocess.run([*WXGATE, "keys", "generate", "--config", str(cfg)],
                       check=True, capture_output=True)  # fmt: skip
        sign_before = sign_ops_on_core(0)
        with (
            Proc([*WXGATE, "simulate", "--port", str(sim_port), "--config", str(cfg)], core=1),
            Proc([*WXGATE, "serve", "--config", str(cfg)], core=0) as gateway,
        ):
            wait_http(f"{sim}/sim/calls")
            wait_http(f"http://127.0.0.1:{port}/readyz")
            runs = []
            for i in range(2):
                codes = await make_codes(sim, logins, f"r{i}")
                cpu_before = cpu_seconds(gateway.proc.pid)
                run = await run_logins(f"http://127.0.0.1:{port}", codes, concurrency)
                cpu = cpu_seconds(gateway.proc.pid) - cpu_before
                run["gateway_cpu_us_per_login"] = round(cpu / logins * 1e6, 1)
                run["gateway_cpu_busy"] = round(cpu / run["seconds"], 3)
                runs.append(run)
        sign_after = sign_ops_on_core(0)
    sign = (sign_before + sign_after) / 2
    best = max(r["per_second"] for r in runs)
    return {
        "benchmark": "miniprogram_logins",
        "rsa2048_sign_ops_per_s_core0": round(sign, 1),
        "runs": runs,
        "logins_per_s_best": best,
        "ratio_logins_to_sign": round(best / sign, 3),
        "goal_ratio": 0.5,
        "concurrency": concurrency,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {1})  # the load generator stays off the gateway's core
    save("login", asyncio.run(bench(args.logins, args.concurrency)))


if __name__ == "__main__":
    main()

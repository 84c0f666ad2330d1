"""Shared pieces of the benchmarks: processes pinned to cores, ports, waiting, statistics."""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "tests" / "bench" / "results"
PYTHON = sys.executable
WXGATE = [PYTHON, "-m", "gateway"]


def cores() -> int:
    return len(os.sched_getaffinity(0))


def pinned(cmd: Sequence[str], core: int | None) -> list[str]:
    """``cmd`` run under ``taskset -c core`` when taskset exists and the machine has the core."""
    if core is None or shutil.which("taskset") is None or core >= cores():
        return list(cmd)
    return ["taskset", "-c", str(core), *cmd]


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status < 500:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


class Proc:
    """A child process we started; stopped by PID (SIGTERM, then SIGKILL)."""

    def __init__(self, cmd: Sequence[str], *, env: dict[str, str] | None = None,
                 cwd: Path | None = None, core: int | None = None) -> None:  # fmt: skip
        self.log = open(os.devnull, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            pinned(cmd, core), env={**os.environ, **(env or {})}, cwd=cwd,
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def __enter__(self) -> Proc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tree_cpu_seconds(roots: Sequence[int]) -> float:
    """User + system CPU seconds of the processes ``roots`` and all their descendants (Linux
    ``/proc``): what a configuration cost the server core, whatever else shares the machine."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    wanted, total = set(roots), 0.0
    for pid in times:
        ancestor = pid
        while ancestor > 1 and ancestor not in wanted:
            ancestor = parents.get(ancestor, 0)
        if ancestor in wanted:
            total += times[pid]
    return total


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary_ms(values: Sequence[float]) -> dict[str, float]:
    """p50/p99/mean of durations given in seconds, in milliseconds."""
    return {
        "p50_ms": round(percentile(values, 50) * 1000, 3),
        "p99_ms": round(percentile(values, 99) * 1000, 3),
        "mean_ms": round(statistics.fmean(values) * 1000, 3) if values else float("nan"),
        "n": len(values),
    }


def save(name: str, result: dict[str, Any]) -> Path:
    """Write ``result`` as JSON under tests/bench/results and print it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return path


def rsa_sign_ops(seconds: float = 1.5) -> float:
    """Raw ``cryptography`` RSA-2048 PKCS#1 v1.5 SHA-256 signatures per second (this core)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    msg = b"x" * 300
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
        n += 1
    return n / (time.perf_counter() - started)

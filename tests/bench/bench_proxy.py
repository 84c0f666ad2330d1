"""Benchmark of the proxy hot path and forward auth, every configuration in one run.

``.venv/bin/python -m tests.bench.bench_proxy [--duration 4] [--runs 2] [--connections 32]``

Layout (2 cores): the servers under test run on core 0, the load generator (wrk, else a Python
generator) on core 1. The upstream is an nginx server block answering a small JSON body (C,
cheap, so it barely competes with the server measured). Configurations:

- ``a_upstream_direct``      wrk → upstream
- ``b_wxgate_jwt``           wrk → wxgate (route auth=required, valid JWT) → upstream
- ``c_wxgate_public``        wrk → wxgate (route auth=public) → upstream
- ``d_nginx_wxgate_verify``  wrk → nginx (the shipped deploy/nginx/wxgate.conf, auth_request
                             → wxgate /auth/verify) → upstream
- ``e_naive_proxy``          wrk → tests/bench/naive_proxy.py (PyJWT per request) → upstream
- ``f_nginx_naive_verify``   wrk → nginx auth_request → naive /verify → upstream
- ``g_wxgate_jwt_1w`` / ``h_wxgate_jwt_2w``: (b) with 1 and with 2 workers on Redis, both
  unpinned (with two cores the second worker shares a core with the load generator).
- ``b_wxgate_jwt_log_off``   (b) with ``logging.access_log = false`` (the log's cost)
- ``d_nginx_wxgate_verify_lean``   (d) asking wxgate's lean listener (``forward_auth.listen_port``)
- ``d_nginx_wxgate_verify_cached`` (d) with nginx ``proxy_cache`` of 200 answers (5 s)
- ``i_nginx_proxy_pass``     wrk → nginx ``proxy_pass`` → upstream (one C hop: the ceiling)
- ``j_apache_oauth2_cache`` / ``k_apache_oauth2_nocache``: wrk → Apache httpd + mod_oauth2
  (C; the same JWT, signature + exp + aud) with / without its result cache → upstream
  (``tests/bench/peers.py``; ``make bench-deps`` installs it)

wxgate runs the default configuration (access log on, written to a file), except (b_log_off).
Each configuration runs ``--runs`` times (default 7 x 2 s), interleaved (round 1 of all, then
round 2..., each round rotated by one), after a warm-up; each ratio is the median of the
per-round ratios (both sides measured in the same round, so the machine's drift cancels).
Besides req/s, the CPU every server process of the run spent per request (``/proc``, all on
core 0) is reported, with the same ratios computed on it: on a machine others load too, CPU per
request moves far less than req/s. About 4 minutes in all. Results: a JSON summary and a table
on stdout, also saved to tests/bench/results/proxy.json. ``--only NAME...`` runs a subset.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.bench.common import (
    PYTHON,
    ROOT,
    WXGATE,
    Proc,
    pinned,
    save,
    tree_cpu_seconds,
    wait_http,
)
from tests.bench.peers import AUTH_CACHE_SECONDS, nginx_conf, start_apache
from tests.fixtures.net import free_port

SERVER_CORE = 0
CLIENT_CORE = 1
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
WRK = shutil.which("wrk")
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


def _gateway_config(tmp: Path, app_port: int) -> Path:
    base = (ROOT / "config" / "dev.toml").read_text().split("[[proxy.routes]]")[0]
    routes = "".join(
        f'[[proxy.routes]]\nprefix = "{prefix}"\nupstream = "http://127.0.0.1:{app_port}"\n'
        f'auth = "{auth}"\n'
        for prefix, auth in (("/api/", "required"), ("/public/", "public"))
    )
    path = tmp / "bench.toml"
    path.write_text(base + routes)
    return path


def _gateway_env(
    tmp: Path, issuer_port: int, name: str, store: str = "memory://", access_log: bool = True
) -> dict[str, str]:
    """The default configuration (access log on, to a file here so the terminal stays
    readable: the same buffered writer as stdout) unless ``access_log`` is False."""
    return {
        "WXGATE_SERVER__DATA_DIR": str(tmp / "var"),
        "WXGATE_TOKENS__ISSUER": f"http://127.0.0.1:{issuer_port}",  # one issuer for all
        "WXGATE_LOGGING__ACCESS_LOG": "true" if access_log else "false",
        "WXGATE_LOGGING__ACCESS_LOG_PATH": str(tmp / f"access-{name}.log"),
        "WXGATE_LOGGING__LEVEL": "WARNING",
        "WXGATE_STORE__URL": store,
        "WXGATE_STORE__PREFIX": f"bench-{name}:",
    }


def _run(cmd: list[str], env: dict[str, str]) -> str:
    import os

    done = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd}: {done.stderr[-2000:]}")
    return done.stdout.strip()


def _public_pem(jwks_url: str, out: Path) -> Path:
    import jwt
    from cryptography.hazmat.primitives import serialization

    with urllib.request.urlopen(jwks_url, timeout=5) as resp:
        jwk = json.loads(resp.read())["keys"][0]
    key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk))
    pem = key.public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    out.write_bytes(pem)
    return out


def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _check(url: str, headers: dict[str, str]) -> None:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=5) as resp:
        if resp.status != 200:
            raise RuntimeError(f"{url}: {resp.status}")


def _check_refused(url: str, headers: dict[str, str] | None = None) -> None:
    """A peer that lets a request without a (valid) token through would be measured doing
    nothing."""
    try:
        urllib.request.urlopen(
            urllib.request.Request(url, headers=headers or {}), timeout=5
        ).close()
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            return
        raise
    raise RuntimeError(f"{url}: answered without a token")


def load(url: str, headers: dict[str, str], seconds: float, connections: int) -> float:
    """Requests per second against ``url`` (wrk pinned to the client core, else Python)."""
    if WRK is None:
        return _python_load(url, headers, seconds, connections)
    cmd = [WRK, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run(pinned([*cmd, url], CLIENT_CORE), capture_output=True, text=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{url}: {non2xx.group(1)} failed responses")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"wrk output not understood: {out}")
    return float(match.group(1))


def _python_load(url: str, headers: dict[str, str], seconds: float, connections: int) -> float:
    code = (
        "import asyncio,aiohttp,sys,time,json\n"
        "async def main(url,h,sec,c):\n"
        "  n=0\n"
        "  async with aiohttp.ClientSession(headers=h) as s:\n"
        "    end=time.monotonic()+sec\n"
        "    async def one():\n"
        "      nonlocal n\n"
        "      while time.monotonic()<end:\n"
        "        async with s.get(url) as r: await r.read(); n+=1\n"
        "    await asyncio.gather(*(one() for _ in range(c)))\n"
        "  print(n/sec)\n"
        "asyncio.run(main(sys.argv[1],json.loads(sys.argv[2]),float(sys.argv[3]),int(sys.argv[4])))\n"
    )
    cmd = [PYTHON, "-c", code, url, json.dumps(headers), str(seconds), str(connections)]
    return float(subprocess.run(pinned(cmd, CLIENT_CORE), capture_output=True, text=True).stdout)


class Bench:
    """Every process of the run; stopped by PID at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[Proc] = []
        names = (
            "app", "front", "front_naive", "front_cached", "front_lean", "ceiling", "wxgate",
            "wxgate_lean", "wxgate_nolog",
            "naive", "wx1", "wx2", "redis", "apache_cache", "apache_nocache",
        )  # fmt: skip
        self.ports = {name: free_port() for name in names}

    def start(
        self, cmd: list[str], env: dict[str, str] | None = None, core: int | None = None
    ) -> None:
        self.procs.append(Proc(cmd, env=env, core=core))

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    def setup(self) -> dict[str, tuple[str, dict[str, str]]]:
        p, tmp = self.ports, self.tmp
        config = _gateway_config(tmp, p["app"])
        env = _gateway_env(tmp, p["wxgate"], "one")
        env["WXGATE_FORWARD_AUTH__LISTEN_PORT"] = str(p["wxgate_lean"])
        _run([*WXGATE, "keys", "generate", "--dev", "--config", str(config)], env)
        token = _run(
            [*WXGATE, "token", "issue", "--dev", "--config", str(config), "--sub", "bench"], env
        )
        serve = [*WXGATE, "serve", "--dev", "--config", str(config)]
        self.start([*serve, "--port", str(p["wxgate"])], env, SERVER_CORE)
        nolog = _gateway_env(tmp, p["wxgate"], "nolog", access_log=False)
        self.start([*serve, "--port", str(p["wxgate_nolog"])], nolog, SERVER_CORE)
        wxgate = f"http://127.0.0.1:{p['wxgate']}"
        wait_http(f"{wxgate}/healthz")
        pem = _public_pem(f"{wxgate}/.well-known/jwks.json", tmp / "public.pem")
        naive = [PYTHON, "-m", "tests.bench.naive_proxy", "--port", str(p["naive"])]
        naive += ["--upstream", f"http://127.0.0.1:{p['app']}", "--public-key", str(pem)]
        naive += ["--issuer", wxgate, "--audience", "wxgate"]
        self.start(naive, None, SERVER_CORE)
        self._nginx()
        self._apache(f"{wxgate}/.well-known/jwks.json")
        self._workers(config, token)
        return self._targets(token)

    def _nginx(self) -> None:
        nginx_dir = self.tmp / "nginx"
        (nginx_dir / "logs").mkdir(parents=True)
        (nginx_dir / "nginx.conf").write_text(nginx_conf(nginx_dir, self.ports))
        conf = str(nginx_dir / "nginx.conf")
        pid = f"daemon off; pid {nginx_dir / 'nginx.pid'};"
        self.start(
            [NGINX, "-e", "stderr", "-p", str(nginx_dir), "-c", conf, "-g", pid], None, SERVER_CORE
        )

    def _apache(self, jwks_url: str) -> None:
        with urllib.request.urlopen(jwks_url, timeout=5) as resp:
            jwk = json.dumps(json.loads(resp.read())["keys"][0])
        for name, cache in (("apache_cache", True), ("apache_nocache", False)):
            args = {"app_port": self.ports["app"], "jwk": jwk, "cache": cache}
            self.procs.append(start_apache(self.tmp, name, self.ports[name], args))

    def _targets(self, token: str) -> dict[str, tuple[str, dict[str, str]]]:
        auth = {"Authorization": f"Bearer {token}"}

        def url(name: str, path: str = "/api/items") -> str:
            return f"http://127.0.0.1:{self.ports[name]}{path}"

        targets = {
            "a_upstream_direct": (url("app"), {}),
            "b_wxgate_jwt": (url("wxgate"), auth),
            "b_wxgate_jwt_log_off": (url("wxgate_nolog"), auth),
            "c_wxgate_public": (url("wxgate", "/public/items"), {}),
            "d_nginx_wxgate_verify": (url("front"), auth),
            "d_nginx_wxgate_verify_cached": (url("front_cached"), auth),
            "d_nginx_wxgate_verify_lean": (url("front_lean"), auth),
            "e_naive_proxy": (url("naive"), auth),
            "f_nginx_naive_verify": (url("front_naive"), auth),
            "g_wxgate_jwt_1w": (url("wx1"), auth),
            "h_wxgate_jwt_2w": (url("wx2"), auth),
            "i_nginx_proxy_pass": (url("ceiling"), {}),
            "j_apache_oauth2_cache": (url("apache_cache"), auth),
            "k_apache_oauth2_nocache": (url("apache_nocache"), auth),
        }
        for target, headers in targets.values():
            _wait_port(int(target.split(":")[2].split("/")[0]))
            _check(target, headers)
        forged = {"Authorization": f"Bearer {token[:-6]}AAAAAA"}  # a bad signature
        for peer in ("apache_cache", "apache_nocache"):
            _check_refused(url(peer))
            _check_refused(url(peer), forged)
        return targets

    def _workers(self, config: Path, token: str) -> None:
        """1 and 2 workers on Redis, unpinned, sharing the keys of the first gateway."""
        p = self.ports
        redis = [
            REDIS,
            "--bind",
            "127.0.0.1",
            "--port",
            str(p["redis"]),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.start(redis)
        time.sleep(0.3)
        store = f"redis://127.0.0.1:{p['redis']}/0"
        serve = [*WXGATE, "serve", "--dev", "--config", str(config)]
        for name, workers in (("wx1", "1"), ("wx2", "2")):
            env = _gateway_env(self.tmp, p["wxgate"], name, store)  # same issuer as the token
            self.start([*serve, "--port", str(p[name]), "--workers", workers], env)
            wait_http(f"http://127.0.0.1:{p[name]}/healthz")


def measure(
    targets: dict[str, tuple[str, dict[str, str]]],
    runs: int,
    seconds: float,
    connections: int,
    pids: list[int],
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """``runs`` rounds over every target; each round starts one target later (so no
    configuration always follows the same one). Requests/s, and the CPU µs every server
    process of the run (``pids`` and their children) spent per request."""
    results: dict[str, list[float]] = {name: [] for name in targets}
    cpu: dict[str, list[float]] = {name: [] for name in targets}
    names = list(targets)
    for name in names:  # warm-up: connection pools, verification cache, nginx keepalive
        load(*targets[name], 1, connections)
    for round_ in range(runs):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            before = tree_cpu_seconds(pids)
            rate = load(*targets[name], seconds, connections)
            spent = tree_cpu_seconds(pids) - before
            results[name].append(rate)
            cpu[name].append(spent / (rate * max(1, round(seconds))) * 1e6)
    return results, cpu


# name: (numerator, denominator); the default configuration (access log on) unless "log_off"
RATIOS = {
    "proxy_over_naive": ("b_wxgate_jwt", "e_naive_proxy"),
    "verify_over_naive": ("d_nginx_wxgate_verify", "f_nginx_naive_verify"),
    "log_on_over_off": ("b_wxgate_jwt", "b_wxgate_jwt_log_off"),
    "verify_over_mod_oauth2_cache": ("d_nginx_wxgate_verify", "j_apache_oauth2_cache"),
    "verify_over_mod_oauth2_nocache": ("d_nginx_wxgate_verify", "k_apache_oauth2_nocache"),
    "lean_verify_over_naive": ("d_nginx_wxgate_verify_lean", "f_nginx_naive_verify"),
    "lean_verify_over_mod_oauth2_cache": ("d_nginx_wxgate_verify_lean", "j_apache_oauth2_cache"),
    "lean_verify_over_verify": ("d_nginx_wxgate_verify_lean", "d_nginx_wxgate_verify"),
    "nginx_cached_verify_over_mod_oauth2_cache": (
        "d_nginx_wxgate_verify_cached",
        "j_apache_oauth2_cache",
    ),
    "proxy_over_nginx_proxy_pass": ("b_wxgate_jwt", "i_nginx_proxy_pass"),
    "jwt_over_public": ("b_wxgate_jwt", "c_wxgate_public"),
    "2w_over_1w": ("h_wxgate_jwt_2w", "g_wxgate_jwt_1w"),
}
GOALS = {
    "proxy_over_naive": 1.5,
    "verify_over_naive": 1.5,
    "log_on_over_off": 0.95,
    "verify_over_mod_oauth2_cache": 1.0,
    "lean_verify_over_naive": 1.5,
    "lean_verify_over_mod_oauth2_cache": 1.0,
    "jwt_over_public": 0.9,
}


def report(
    results: dict[str, list[float]], cpu: dict[str, list[float]], args: argparse.Namespace
) -> dict[str, Any]:
    med = {name: statistics.median(values) for name, values in results.items()}
    cpu_med = {name: statistics.median(values) for name, values in cpu.items()}

    def paired(x: str, y: str) -> float:
        # the median of per-round ratios: both sides of a ratio were measured in the same round,
        # minutes apart at most, so the machine's drift (seen here: +-30% between rounds)
        # cancels, which a ratio of medians across rounds does not do
        return statistics.median(a / b for a, b in zip(results[x], results[y], strict=True))

    ratios = {key: paired(x, y) for key, (x, y) in RATIOS.items() if x in results and y in results}
    # the same comparisons as CPU cost: the other side's CPU per request over this side's,
    # (>1: this side is cheaper) - steadier than req/s when other load shares the machine
    cpu_ratios = {
        key: statistics.median(b / a for a, b in zip(cpu[x], cpu[y], strict=True))
        for key, (x, y) in RATIOS.items()
        if x in cpu and y in cpu
    }
    summary = {
        "load_generator": "wrk" if WRK else "python",
        "duration_s": args.duration,
        "runs": args.runs,
        "connections": args.connections,
        "req_per_s": {name: [round(v) for v in values] for name, values in results.items()},
        "median_req_per_s": {name: round(v) for name, v in med.items()},
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "server_cpu_us_per_request": {name: round(v, 1) for name, v in cpu_med.items()},
        "requests_per_core_second": {name: round(1e6 / v) for name, v in cpu_med.items() if v},
        "cpu_ratios": {k: round(v, 3) for k, v in cpu_ratios.items()},
        "goals_met": {k: ratios[k] >= goal for k, goal in GOALS.items() if k in ratios},
        "noise": _noise(results),
        "nginx_auth_cache_seconds": AUTH_CACHE_SECONDS,
    }
    save("proxy", summary)
    print(f"\n{'configuration':<30} {'req/s':>7} {'cpu µs/req':>10}  runs (req/s)")
    for name, values in results.items():
        runs = ", ".join(f"{v:.0f}" for v in values)
        print(f"{name:<30} {med[name]:>7.0f} {cpu_med[name]:>10.0f}  {runs}")
    print(f"\n{'ratio':<42} {'req/s':>6} {'cpu':>6}")
    for key, value in ratios.items():
        goal = GOALS.get(key)
        mark = "" if goal is None else f"  (goal >= {goal}: {'met' if value >= goal else 'MISSED'})"
        print(f"{key:<42} {value:>6.2f} {cpu_ratios[key]:>6.2f}{mark}")
    print(f"noise (max/min of each configuration's runs, median): {summary['noise']}")
    return summary


def _noise(results: dict[str, list[float]]) -> float:
    """How noisy the machine was: the median over configurations of (best run / worst run)."""
    spreads = [max(v) / min(v) for v in results.values() if v and min(v) > 0]
    return round(statistics.median(spreads), 3) if spreads else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", nargs="*", help="configuration names (default: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wxgate-bench-") as tmp:
        bench = Bench(Path(tmp))
        try:
            targets = bench.setup()
            if args.only:
                targets = {k: v for k, v in targets.items() if k in args.only}
            pids = [proc.proc.pid for proc in bench.procs]
            results, cpu = measure(targets, args.runs, args.duration, args.connections, pids)
        finally:
            bench.stop()
    report(results, cpu, args)


if __name__ == "__main__":
    main()

"""Benchmark of route policies: the proxy with a three-rule policy on the route vs the same
route with none, in the same run.

``.venv/bin/python -m tests.bench.bench_authz [--duration 2] [--runs 6] [--connections 32]``

One gateway (pinned to core 0, the default configuration: access log on) proxies two routes to
the same nginx upstream (a small JSON body): ``/plain/`` (``auth = "required"``) and
``/policy/`` (the same, plus ``allowed_roles = ["ops", "admin"]``, ``allowed_subjects =
["bench", "other"]``, ``required_claims = {client_id = "wxgate"}``). wrk (pinned to core 1)
sends the same token (roles ``ops``, from ``wxgate token issue --role ops``) to both,
alternating the order each round; the ratio is the median of per-round ratios
``policy / plain`` (goal >= 0.97). Results: tests/bench/results/authz.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from tests.bench.bench_proxy import (
    CLIENT_CORE,
    NGINX,
    SERVER_CORE,
    _check,
    _run,
    _wait_port,
    load,
)
from tests.bench.common import ROOT, WXGATE, Proc, save, wait_http
from tests.fixtures.net import free_port

BODY = '{"ok": true, "items": [1, 2, 3], "name": "upstream"}'
GOAL = 0.97
POLICY = (
    'allowed_roles = ["ops", "admin"]\n'
    'allowed_subjects = ["bench", "other"]\n'
    'required_claims = { client_id = "wxgate" }\n'
)


def _config(tmp: Path, app_port: int) -> Path:
    base = (ROOT / "config" / "dev.toml").read_text().split("[[proxy.routes]]")[0]
    route = f'[[proxy.routes]]\nupstream = "http://127.0.0.1:{app_port}"\nauth = "required"\n'
    path = tmp / "bench.toml"
    path.write_text(
        f'{base}{route}prefix = "/plain/"\n\n{route}prefix = "/policy/"\nname = "policy"\n{POLICY}'
    )
    return path


def _upstream(tmp: Path, port: int) -> list[str]:
    prefix = tmp / "nginx"
    (prefix / "logs").mkdir(parents=True)
    temp = " ".join(f"{k}_temp_path {prefix / k};" for k in ("client_body", "proxy"))
    (prefix / "nginx.conf").write_text(
        "user root;\nworker_processes 1;\nevents { worker_connections 4096; }\n"
        f"http {{ access_log off; {temp} keepalive_requests 1000000;\n"
        f"  server {{ listen 127.0.0.1:{port};\n"
        f"    location / {{ default_type application/json; return 200 '{BODY}'; }} }} }}\n"
    )
    pid = f"daemon off; pid {prefix / 'nginx.pid'};"
    return [NGINX, "-e", "stderr", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", pid]


def run(args: argparse.Namespace) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"plain": [], "policy": []}
    with tempfile.TemporaryDirectory(prefix="wxgate-bench-authz-") as name:
        tmp = Path(name)
        app_port, gw_port = free_port(), free_port()
        config = _config(tmp, app_port)
        env = {"WXGATE_SERVER__DATA_DIR": str(tmp / "var"), "WXGATE_LOGGING__LEVEL": "WARNING",
               "WXGATE_TOKENS__ISSUER": f"http://127.0.0.1:{gw_port}"}  # fmt: skip
        cli = ["--dev", "--config", str(config)]
        _run([*WXGATE, "keys", "generate", *cli], env)
        token = _run([*WXGATE, "token", "issue", *cli, "--sub", "bench", "--role", "ops"], env)
        procs = [Proc(_upstream(tmp, app_port), core=SERVER_CORE)]
        try:
            serve = [*WXGATE, "serve", *cli, "--port", str(gw_port)]
            procs.append(Proc(serve, env=env, core=SERVER_CORE))
            wait_http(f"http://127.0.0.1:{gw_port}/healthz")
            _wait_port(app_port)
            auth = {"Authorization": f"Bearer {token}"}
            urls = {k: f"http://127.0.0.1:{gw_port}/{k}/items" for k in results}
            for url in urls.values():
                _check(url, auth)
                load(url, auth, 1, args.connections)  # warm-up
            for round_ in range(args.runs):
                order = list(urls) if round_ % 2 == 0 else list(reversed(urls))
                for key in order:
                    results[key].append(load(urls[key], auth, args.duration, args.connections))
        finally:
            for proc in reversed(procs):
                proc.stop()
    return results


def report(results: dict[str, list[float]], args: argparse.Namespace) -> dict[str, Any]:
    per_round = [p / q for p, q in zip(results["policy"], results["plain"], strict=True)]
    ratio = statistics.median(per_round)
    summary = {
        "duration_s": args.duration,
        "runs": args.runs,
        "connections": args.connections,
        "cores": {"server": SERVER_CORE, "load": CLIENT_CORE},
        "req_per_s": {k: [round(v) for v in vs] for k, vs in results.items()},
        "median_req_per_s": {k: round(statistics.median(vs)) for k, vs in results.items()},
        "per_round_ratio": [round(r, 3) for r in per_round],
        "policy_over_plain_ratio": round(ratio, 3),
        "goal": GOAL,
        "goal_met": ratio >= GOAL,
    }
    save("authz", summary)
    for key, values in results.items():
        print(f"{key:<8} median {statistics.median(values):>8.0f} req/s  runs "
              + ", ".join(f"{v:.0f}" for v in values))  # fmt: skip
    verdict = "met" if ratio >= GOAL else "MISSED"
    print(f"policy / plain: {ratio:.3f} (goal >= {GOAL}: {verdict})")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    report(run(args), args)


if __name__ == "__main__":
    main()

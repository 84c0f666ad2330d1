"""``make bench``: every benchmark in turn, each in its own process, then one summary.

Each benchmark measures its baseline in the same run and reports ratios (the machines are
noisy); results land in tests/bench/results/<name>.json. ``BENCH`` picks a subset, e.g.
``make bench BENCH_ARGS="tokens login"``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.bench.common import RESULTS

BENCHMARKS = {
    "tokens": "tests.bench.bench_tokens",
    "login": "tests.bench.bench_login",
    "login_load": "tests.bench.bench_login_load",
    "scan": "tests.bench.bench_scan",
    "follow": "tests.bench.bench_follow",
    "proxy": "tests.bench.bench_proxy",
    "oidc": "tests.bench.bench_oidc",
    "authz": "tests.bench.bench_authz",
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    failed = []
    for name in names:
        print(f"\n=== {name} ({BENCHMARKS[name]}) ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", BENCHMARKS[name]])
        print(f"=== {name}: exit {code} after {time.monotonic() - started:.0f}s", flush=True)
        if code != 0:
            failed.append(name)
    print("\nresults:")
    for name in names:
        path = RESULTS / f"{name}.json"
        if path.exists():
            print(f"  {name}: {path}")
            data = json.loads(path.read_text())
            print("    " + json.dumps(_headline(data))[:400])
    return 1 if failed else 0


def _headline(data: dict[str, object]) -> dict[str, object]:
    """The ratio fields of a result, which are what the issues set goals for."""
    keep = {k: v for k, v in data.items() if "ratio" in k or "goal" in k}
    return keep or {k: v for k, v in list(data.items())[:6]}


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""OpenID Provider token endpoint: authorization-code exchanges/s and ``client_credentials``
tokens/s on one gateway worker, beside raw RS256 signs/s measured in the same run.

The gateway runs as a real process, ``wxgate serve --dev`` (config/dev.toml: access log on,
INFO logging, memory store, the WeChat simulator mounted at /_sim/wechat, the clients
``demo-spa`` and ``demo-rp``), one worker pinned to core 0; this load generator is on core 1.

- Set-up (untimed): one mini-program login through the mounted simulator gives a wxgate session
  (``wxgate_session=<access>~<refresh>``); with it, ``--codes`` authorization requests for
  ``demo-spa`` (public, PKCE S256, first-party: no consent) each give a code in the 302.
- ``exchange``: ``POST /auth/token`` ``grant_type=authorization_code`` for every code at
  ``--concurrency``: the code redeemed, a client session opened (access token signed, refresh
  family stored) and an ID token signed, i.e. two RS256 signatures per exchange.
- ``client_credentials``: ``POST /auth/token`` with HTTP Basic ``demo-rp:dev-demo-rp-secret``:
  one RS256 signature per token. Anchor: Keycloak's sizing guide, 120 client-credential grants/s
  per vCPU; goal >= 10x that on one core (>= 1,200/s), reported against signs/s as well.

Each phase runs ``--rounds`` times (3; codes are fresh for each exchange run: they live
``oidc.code_ttl``, 60 s). Raw ``cryptography`` RSA-2048 signs/s on core 0 are measured before
each round and after the last, in a pinned process while the gateway idles; the baseline is the
best of those samples, as the headline rates are each phase's best run (the least disturbed by
neighbours; the samples and every run are in the JSON). The gateway's CPU for each run comes
from /proc, so a run the load generator could not saturate still says what a request costs
(``server_cpu_us_per_request``, ``cpu_bound_per_s`` = 1e6 / that); ``client_cpu_busy`` is the
load generator's own share of its core.

Run: ``.venv/bin/python -m tests.bench.bench_oidc [--codes N] [--cc-requests N] [--rounds N]``
(or ``make bench BENCH_ARGS=oidc``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from tests.bench.bench_login import cpu_seconds
from tests.bench.common import PYTHON, WXGATE, Proc, percentile, pinned, save, wait_http
from tests.fixtures.net import free_port

MINI_APPID = "wx00000000000000c3"
SPA = "demo-spa"
RP, RP_SECRET = "demo-rp", "dev-demo-rp-secret"
COOKIE = "wxgate_session"
CC_GOAL_PER_S = 1200.0  # 10x Keycloak's 120 client-credential grants/s per vCPU
SIGN_SECONDS = 1.5


class Unexpected(RuntimeError):
    """The gateway answered something the bench does not expect (request and answer shown)."""


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def _expect(r: aiohttp.ClientResponse, status: int, what: str) -> str:
    body = await r.text()
    if r.status != status:
        raise Unexpected(f"{what}: {r.method} {r.url} -> {r.status} "
                         f"{dict(r.headers)} {body[:500]}")  # fmt: skip
    return body


async def browser_session(base: str) -> str:
    """A wxgate session cookie value from one mini-program login (flow C)."""
    async with aiohttp.ClientSession() as s:
        body = {"appid": MINI_APPID, "user": "bench-oidc"}
        async with s.post(f"{base}/_sim/wechat/dev/js_code", json=body) as r:
            await _expect(r, 200, "simulator js_code")
            code = (await r.json())["code"]
        async with s.post(f"{base}/auth/wechat/miniprogram/login", json={"code": code}) as r:
            await _expect(r, 200, "mini-program login")
            pair = await r.json()
    return f"{pair['access_token']}~{pair['refresh_token']}"


async def make_codes(base: str, cookie: str, redirect_uri: str, challenge: str, n: int,
                     concurrency: int) -> list[str]:  # fmt: skip
    """``n`` authorization codes for demo-spa from ``GET /auth/authorize`` (302 to the RP)."""
    params = {"response_type": "code", "client_id": SPA, "redirect_uri": redirect_uri,
              "scope": "openid", "code_challenge": challenge,
              "code_challenge_method": "S256", "state": "s"}  # fmt: skip
    codes: list[str] = []
    left = n
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Cookie": f"{COOKIE}={cookie}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as s:

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                async with s.get(f"{base}/auth/authorize", params=params,
                                 allow_redirects=False) as r:  # fmt: skip
                    await _expect(r, 302, "authorize")
                    query = parse_qs(urlsplit(r.headers["Location"]).query)
                if "code" not in query:
                    raise Unexpected(f"authorize: 302 without a code: {r.headers['Location']}")
                codes.append(query["code"][0])

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return codes


async def run_requests(base: str, forms: list[dict[str, str]], auth: aiohttp.BasicAuth | None,
                       concurrency: int) -> dict[str, Any]:  # fmt: skip
    """Every form POSTed to /auth/token at ``concurrency``; each answer must be a 200 with an
    access token (the first other answer stops the run, shown whole)."""
    queue = list(reversed(forms))
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, auth=auth) as s:

        async def worker() -> None:
            while queue:
                form = queue.pop()
                sent = time.perf_counter()
                async with s.post(f"{base}/auth/token", data=form) as r:
                    body = await r.read()
                    if r.status != 200 or b'"access_token"' not in body:
                        raise Unexpected(f"token: POST {r.url} {form} -> {r.status} "
                                         f"{dict(r.headers)} {body[:500]!r}")  # fmt: skip
                latencies.append(time.perf_counter() - sent)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ms = {f"latency_p{p}_ms": round(percentile(latencies, p) * 1000, 2) for p in (50, 99)}
    return {"requests": len(forms), "seconds": round(elapsed, 3),
            "per_second": round(len(forms) / elapsed, 1), **ms}  # fmt: skip


async def measure(base: str, pid: int, forms: list[dict[str, str]],
                  auth: aiohttp.BasicAuth | None, concurrency: int) -> dict[str, Any]:  # fmt: skip
    """One timed run, with the CPU the gateway process ``pid`` spent on it."""
    cpu_before, own_before = cpu_seconds(pid), time.process_time()
    run = await run_requests(base, forms, auth, concurrency)
    cpu, own = cpu_seconds(pid) - cpu_before, time.process_time() - own_before
    us = cpu / len(forms) * 1e6
    run["server_cpu_us_per_request"] = round(us, 1)
    run["server_cpu_busy"] = round(cpu / run["seconds"], 3)
    # this load generator's share of core 1: near 1.0, the client, not the gateway, set the pace
    run["client_cpu_busy"] = round(own / run["seconds"], 3)
    run["cpu_bound_per_s"] = round(1e6 / us, 1) if us else None
    return run


def sign_ops(core: int, seconds: float) -> float:
    """Raw RSA-2048 signs/s in a fresh process pinned to ``core`` (the gateway idles)."""
    code = f"from tests.bench.common import rsa_sign_ops; print(rsa_sign_ops({seconds}))"
    out = subprocess.run(
        pinned([PYTHON, "-c", code], core), capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


async def bench(codes: int, cc_requests: int, concurrency: int, rounds: int) -> dict[str, Any]:
    signs: list[float] = []
    exchanges: list[dict[str, Any]] = []
    cc_runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="wxgate-bench-oidc-") as tmp:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        redirect_uri = f"{base}/_sim/rp/callback"  # demo-spa's "/_sim/rp/callback", resolved
        env = {"WXGATE_SERVER__DATA_DIR": f"{tmp}/var"}
        serve = [*WXGATE, "serve", "--dev", "--port", str(port), "--workers", "1"]
        with Proc(serve, env=env, cwd=Path(tmp), core=0) as gateway:
            wait_http(f"{base}/readyz")
            pid = gateway.proc.pid
            cookie = await browser_session(base)
            verifier, challenge = _pkce()
            basic = aiohttp.BasicAuth(RP, RP_SECRET)
            cc_form = {"grant_type": "client_credentials"}
            # warm-up (untimed): the first requests of each kind
            warm = await make_codes(base, cookie, redirect_uri, challenge, 64, concurrency)
            await run_requests(base, _exchange_forms(warm, redirect_uri, verifier), None, 8)
            await run_requests(base, [cc_form] * 200, basic, 8)
            for _ in range(rounds):
                signs.append(sign_ops(0, SIGN_SECONDS))
                fresh = await make_codes(base, cookie, redirect_uri, challenge, codes,
                                         concurrency)  # fmt: skip
                forms = _exchange_forms(fresh, redirect_uri, verifier)
                exchanges.append(await measure(base, pid, forms, None, concurrency))
                cc_runs.append(await measure(base, pid, [cc_form] * cc_requests, basic,
                                             concurrency))  # fmt: skip
        signs.append(sign_ops(0, SIGN_SECONDS))
    # best of each (the least disturbed by neighbours, as for the rates)
    sign = max(signs)
    best_exchange = max(r["per_second"] for r in exchanges)
    best_cc = max(r["per_second"] for r in cc_runs)
    return {
        "benchmark": "oidc_token_endpoint",
        "config": "wxgate serve --dev (config/dev.toml; access log on), 1 worker on core 0",
        "rsa2048_sign_ops_per_s_core0": round(sign, 1),
        "rsa2048_sign_ops_per_s_samples": [round(v, 1) for v in signs],
        "exchange_runs": exchanges,
        "client_credentials_runs": cc_runs,
        "exchanges_per_s_best": best_exchange,
        "ratio_exchanges_to_sign": round(best_exchange / sign, 3),
        "client_credentials_per_s_best": best_cc,
        "ratio_client_credentials_to_sign": round(best_cc / sign, 3),
        "goal_client_credentials_per_s": CC_GOAL_PER_S,
        "ratio_client_credentials_to_goal": round(best_cc / CC_GOAL_PER_S, 3),
        "goal_client_credentials_met": best_cc >= CC_GOAL_PER_S,
        # the goal in signatures: what 1,200/s is of this core's signs/s
        "goal_client_credentials_as_ratio_to_sign": round(CC_GOAL_PER_S / sign, 3),
        "cpu_us_per_request": {
            "rsa_sign": round(1e6 / sign, 1),
            # two signatures: the client session's access token and the ID token
            "exchange": min(r["server_cpu_us_per_request"] for r in exchanges),
            # one signature: the client's access token
            "client_credentials": min(r["server_cpu_us_per_request"] for r in cc_runs),
        },
        "rounds": rounds,
        "codes_per_run": codes,
        "client_credentials_per_run": cc_requests,
        "concurrency": concurrency,
    }


def _exchange_forms(codes: list[str], redirect_uri: str, verifier: str) -> list[dict[str, str]]:
    form = {"grant_type": "authorization_code", "client_id": SPA, "redirect_uri": redirect_uri,
            "code_verifier": verifier}  # fmt: skip
    return [{**form, "code": code} for code in codes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codes", type=int, default=2000, help="codes exchanged per run")
    parser.add_argument("--cc-requests", type=int, default=4000,
                        help="client_credentials requests per run")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each phase")
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {1})  # the load generator stays off the gateway's core
    result = asyncio.run(bench(args.codes, args.cc_requests, args.concurrency, args.rounds))
    save("oidc", result)
    print(table(result))


def table(result: dict[str, Any]) -> str:
    sign = result["rsa2048_sign_ops_per_s_core0"]
    cc = result["client_credentials_per_s_best"]
    rows = [
        f"{'RS256 signs/s (raw, core 0, best)':<36}{sign:>8,.0f}",
        f"{'code exchanges/s (best run)':<36}{result['exchanges_per_s_best']:>8,.0f}  "
        f"{result['ratio_exchanges_to_sign']:.3f}x signs/s",
        f"{'client_credentials tokens/s (best)':<36}{cc:>8,.0f}  "
        f"{result['ratio_client_credentials_to_sign']:.3f}x signs/s  "
        f"goal >= {CC_GOAL_PER_S:,.0f}/s (= {result['goal_client_credentials_as_ratio_to_sign']}x "
        f"signs/s here): {result['ratio_client_credentials_to_goal']:.2f}x of it, "
        f"{'ok' if result['goal_client_credentials_met'] else 'MISSED'}",
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    main()

"""Token signing and verification against raw ``cryptography``, measured in the same run.

Run: ``.venv/bin/python -m tests.bench.bench_tokens [--alg RS256|ES256] [--slices N]``.

In one process (pinned to one core), short slices (25 ms) of every operation are interleaved
``--slices`` times, so a noisy neighbour hits all of them alike. Headline figures are each
operation's best slice (the least disturbed, as ``timeit`` recommends); medians are reported
too. The contenders:

- ``raw_sign``: ``key.sign(signing_input, PKCS1v15(), SHA256())`` (ES256: ECDSA P-256) on the
  signing input of a real access token;
- ``sign``: ``AccessTokenIssuer.issue`` (claims, JSON, base64url, jti, the metric), the whole
  token; goal >= 0.9x raw_sign;
- ``raw_verify``: ``public_key.verify`` of that signature;
- ``cold_verify``: ``Verifier.verify`` with the cache off (parse, alg/kid/typ checks, signature,
  claims, revocation, metric); goal >= 0.4x raw_verify;
- ``hot_verify``: ``Verifier.verify`` of a cached token; goal >= 10x raw_verify;
- for reference: joserfc ``jwt.encode`` and ``jwt.decode`` + claims registry, PyJWT ``decode``.

Prints a table and a JSON summary (saved as tests/bench/results/tokens.json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt as pyjwt
from joserfc import jwk as jjwk
from joserfc import jwt as jjwt

from gateway.clock import SystemClock
from gateway.metrics import Metrics
from gateway.tokens.issuer import AccessTokenIssuer
from gateway.tokens.jws import b64url_decode, sign, verify
from gateway.tokens.keyfiles import generate_private_key, write_key_file
from gateway.tokens.keys import KeyRing
from gateway.tokens.verifier import Verifier
from tests.bench.common import save

ISSUER = "https://bench.wxgate.test"
AUDIENCE = "wxgate"
GOALS = {"sign": 0.9, "cold_verify": 0.4, "hot_verify": 10.0}


class NoRevocations:
    def __init__(self) -> None:
        self.jtis: dict[str, float] = {}
        self.sids: dict[str, float] = {}


def calibrate(fn: Callable[[], object], target: float) -> int:
    """Calls of ``fn`` that take about ``target`` seconds."""
    batch = 1
    while True:
        started = time.perf_counter()
        for _ in range(batch):
            fn()
        if time.perf_counter() - started >= target / 4:
            return max(1, int(batch * target / (time.perf_counter() - started)))
        batch *= 2


def timed(fn: Callable[[], object], batch: int) -> float:
    """Calls per second over one batch."""
    started = time.perf_counter()
    for _ in range(batch):
        fn()
    return batch / (time.perf_counter() - started)


def build(alg: str, keys_dir: Path) -> dict[str, Callable[[], object]]:
    clock, metrics = SystemClock(), Metrics()
    now = clock.time()
    write_key_file(keys_dir, generate_private_key(alg), alg, created=now, activates_at=now)  # type: ignore[arg-type]
    ring = KeyRing(keys_dir, algorithm=alg, access_ttl=900, leeway=30, clock=clock)  # type: ignore[arg-type]
    ring.load()
    issuer = AccessTokenIssuer(ring, issuer=ISSUER, audience=AUDIENCE, access_ttl=900,
                               scope="", clock=clock, metrics=metrics)  # fmt: skip

    def issue() -> str:
        return issuer.issue("u_3q2-7wEhWd0a1b2c3d4e5f", sid="sid-0123456789abcdef",
                            amr=["wechat_qr"], appid="wx00000000000000a1",
                            openid="oAbCdEfGhIjKlMnOpQrStUvWxYz0", unionid="uAbCdEfGhIjKlMnOpQrS",
                            ).token  # fmt: skip

    def verifier(cache_size: int) -> Verifier:
        return Verifier(ring, NoRevocations(), issuer=ISSUER, audience=AUDIENCE, leeway=30,
                        max_lifetime=86400, max_token_bytes=8192, cache_size=cache_size,
                        clock=clock, metrics=metrics)  # fmt: skip

    token = issue()
    key = ring.active
    assert key is not None
    signing_input = token.rsplit(".", 1)[0].encode()
    signature = b64url_decode(token.rsplit(".", 1)[1])
    cold, hot = verifier(0), verifier(10_000)
    hot.verify(token)
    key_class = jjwk.RSAKey if alg == "RS256" else jjwk.ECKey
    jose_key = key_class.import_key(key.private_key)
    header = {"alg": alg, "kid": key.kid, "typ": "at+jwt"}
    claims = json.loads(b64url_decode(token.split(".")[1]))
    registry = jjwt.JWTClaimsRegistry(iss={"essential": True, "value": ISSUER},
                                      aud={"essential": True, "value": AUDIENCE},
                                      sub={"essential": True}, exp={"essential": True})  # fmt: skip
    pyjwt_key = key.public_key

    def pyjwt_decode() -> None:
        pyjwt.decode(token, pyjwt_key, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER)

    def joserfc_decode() -> None:
        registry.validate(jjwt.decode(token, jose_key, algorithms=[alg]).claims)

    assert verify(key.public_key, signature, signing_input)
    return {
        "raw_sign": lambda: sign(key.private_key, signing_input),
        "sign": issue,
        "raw_verify": lambda: verify(key.public_key, signature, signing_input),
        "cold_verify": lambda: cold.verify(token),
        "hot_verify": lambda: hot.verify(token),
        "joserfc_encode": lambda: jjwt.encode(header, claims, jose_key, algorithms=[alg]),
        "joserfc_decode": joserfc_decode,
        "pyjwt_decode": pyjwt_decode,
    }


def run(alg: str, slices: int, slice_seconds: float) -> dict[str, Any]:
    """Short slices of every operation, interleaved; per operation the best slice (least
    disturbed by other processes) and the median slice; ratios of each."""
    with tempfile.TemporaryDirectory(prefix="wxgate-bench-keys-") as tmp:
        ops = build(alg, Path(tmp))
        batches = {name: calibrate(fn, slice_seconds) for name, fn in ops.items()}
        samples: dict[str, list[float]] = {name: [] for name in ops}
        for _ in range(slices):
            for name, fn in ops.items():
                samples[name].append(timed(fn, batches[name]))
    best = {name: max(values) for name, values in samples.items()}
    median = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "benchmark": "tokens",
        "alg": alg,
        "slices": slices,
        "slice_seconds": slice_seconds,
        "ops_per_s_best": {k: round(v, 1) for k, v in best.items()},
        "ops_per_s_median": {k: round(v, 1) for k, v in median.items()},
        "us_per_op_best": {k: round(1e6 / v, 3) for k, v in best.items()},
        "ratios": _ratios(best),
        "ratios_median": _ratios(median),
        "goals": GOALS,
        "met": {k: v >= GOALS[k] for k, v in _ratios(best).items()},
    }


def _ratios(rates: dict[str, float]) -> dict[str, float]:
    return {
        "sign": round(rates["sign"] / rates["raw_sign"], 3),
        "cold_verify": round(rates["cold_verify"] / rates["raw_verify"], 3),
        "hot_verify": round(rates["hot_verify"] / rates["raw_verify"], 3),
    }


def table(result: dict[str, Any]) -> str:
    base = {"sign": "raw_sign", "cold_verify": "raw_verify", "hot_verify": "raw_verify",
            "joserfc_encode": "raw_sign", "joserfc_decode": "raw_verify",
            "pyjwt_decode": "raw_verify"}  # fmt: skip
    ops, us = result["ops_per_s_best"], result["us_per_op_best"]
    lines = [f"{'operation':<16} {'ops/s':>12} {'us/op':>10} {'vs raw':>8}  goal"]
    for name in ops:
        ratio = f"{ops[name] / ops[base[name]]:.2f}x" if name in base else "1.00x"
        goal = (
            f">= {GOALS[name]}x {'ok' if result['met'][name] else 'MISSED'}"
            if name in GOALS
            else ""
        )
        lines.append(f"{name:<16} {ops[name]:>12,.0f} {us[name]:>10.2f} {ratio:>8}  {goal}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alg", choices=["RS256", "ES256"], default="RS256")
    parser.add_argument("--slices", type=int, default=60, help="slices per operation")
    parser.add_argument("--slice-seconds", type=float, default=0.025)
    parser.add_argument("--core", type=int, default=0, help="pin to this core (-1: no pinning)")
    args = parser.parse_args()
    if args.core >= 0 and args.core in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {args.core})
    result = run(args.alg, args.slices, args.slice_seconds)
    print(table(result))
    save("tokens" if args.alg == "RS256" else f"tokens_{args.alg.lower()}", result)


if __name__ == "__main__":
    main()

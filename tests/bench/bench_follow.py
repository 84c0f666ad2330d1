"""Follow-login (flow E) benchmark: WeChat's event POST → the waiting PC notified, and the events
endpoint's own throughput. Reported beside ``bench_scan``'s figures (same gateway children).

Run: ``.venv/bin/python -m tests.bench.bench_follow`` (``--help`` for sizes). Everything runs on
127.0.0.1; gateways (``bench_scan``'s ``--serve`` children, dev config: the ``mp`` account in
safe mode) and redis-server are started here and stopped by PID; gateways pinned to core 1, this
load generator to core 0.

1. Notify latency (a returning follower, whose unionid the gateway keeps, and a new person
   each time): per ticket, the PC creates a follow-login ticket on process A and waits on
   its WebSocket (``pending``); then the clock starts, the signed, encrypted ``subscribe`` +
   ``qrscene_<scene>`` push is POSTed (as WeChat would) to A (memory store, one process) or to
   B (Redis, two replicas), and the clock stops when ``confirmed`` arrives at the PC. The push
   answer's own round trip is reported too. Goals: p99 < 5 ms (one process), < 15 ms (replicas).
2. Throughput: signed plain-mode ``SCAN`` pushes/s on one worker (access log on, the default),
   each with a fresh (timestamp, nonce) and event, against ``GET /healthz``/s in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from gateway.wechat import MessageCipher, envelope_xml, event_xml, signature
from tests.bench.bench_scan import (
    PC_UA,
    ROOT,
    Client,
    Proc,
    one_ticket,
    pin,
    raise_fd_limit,
    scanned_tickets,
    start_gateway,
    summary_ms,
)
from tests.fixtures.net import free_port
from tests.fixtures.redis_server import RedisServer, unique_prefix

MP_APPID = "wx00000000000000b2"
TOKEN = "wxgatedevtoken"
AES_KEY = "ZGV2LW9ubHktZW5jb2RpbmctYWVzLWtleS1mb3Itd3g"
EVENTS = "/auth/wechat/mp/events"
_counter = 0
_people = 0


def push_request(
    scene: str, openid: str, *, encrypt: bool, event: str = "subscribe"
) -> tuple[str, bytes]:
    """A signed push (query string, body) with a fresh nonce and a unique CreateTime."""
    global _counter
    _counter += 1
    now = int(time.time())
    key = f"qrscene_{scene}" if event == "subscribe" else scene
    xml = event_xml("gh_bench", openid, now - 100_000 + _counter, event, key, "tk")
    ts, nonce = str(now), f"{os.getpid()}{_counter}"
    query = {"signature": signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce,
             "openid": openid}  # fmt: skip
    body = xml
    if encrypt:
        enc = MessageCipher(AES_KEY, MP_APPID).encrypt(xml)
        body = envelope_xml("gh_bench", enc)
        query |= {"encrypt_type": "aes", "msg_signature": signature(TOKEN, ts, nonce, enc)}
    return f"{EVENTS}?{urlencode(query)}", body


async def follow_tickets(pc: aiohttp.ClientSession, a: Proc, count: int) -> list[dict[str, str]]:
    """``count`` follow-login tickets on ``a`` with their scenes (not measured)."""
    created = []
    for _ in range(count):
        async with pc.post(f"{a.base}/auth/qr", json={"flow": "follow"}) as r:
            assert r.status == 200, await r.text()
            created.append(await r.json())
    async with pc.get(f"{a.base}/_sim/wechat/dev/qrcodes") as r:
        scenes = {q["url"]: q["scene"] for q in (await r.json())["qrcodes"]}
    return [{"ticket": c["ticket"], "ws_url": c["ws_url"], "scene": scenes[c["qr_content"]]}
            for c in created]  # fmt: skip


async def openid_on(session: aiohttp.ClientSession, gw: Proc, user: str) -> str:
    """The openid of a follower of the account in ``gw``'s simulator (its user/info answers
    with the unionid)."""
    async with session.post(f"{gw.base}/_sim/wechat/dev/followers",
                            json={"appid": MP_APPID, "user": user}) as r:  # fmt: skip
        return str((await r.json())["openid"])


async def follow_samples(
    count: int, store: str, a: Proc, b: Proc, *, returning: bool
) -> tuple[list[float], list[float]]:
    """Push -> notified and push answer times (s). ``returning``: one follower scans every QR
    (its unionid cached after the first), else a new person each time (``cgi-bin/user/info``
    and a new user for every login)."""
    global _people
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, headers={"User-Agent": PC_UA}) as pc, \
            aiohttp.ClientSession() as wechat:  # fmt: skip
        tickets = await follow_tickets(pc, a, count)
        people = []
        for _ in tickets:
            _people += 1
            people.append(f"bench-{store}-{'r' if returning else _people}")
        openids = [await openid_on(wechat, b, p) for p in people]
        notify, answer = [], []
        for t, openid in zip(tickets, openids, strict=True):
            url, body = push_request(t["scene"], openid, encrypt=True)
            async with pc.ws_connect(t["ws_url"], autoping=True) as ws:
                assert json.loads((await ws.receive()).data)["state"] == "pending"
                started = time.perf_counter()
                post = asyncio.ensure_future(wechat.post(f"{b.base}{url}", data=body))
                msg = await ws.receive()
                notify.append(time.perf_counter() - started)
                async with await post as r:
                    assert r.status == 200, await r.text()
                    await r.read()
                answer.append(time.perf_counter() - started)
                assert json.loads(msg.data)["state"] == "confirmed", msg.data
    return notify, answer


async def scan_samples(count: int, a: Proc, b: Proc) -> list[float]:
    """Flow D on the same processes: the mini-program's confirm at ``b`` -> the PC's WebSocket
    on ``a`` (``bench_scan``'s measurement)."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, headers={"User-Agent": PC_UA}) as pc, \
            aiohttp.ClientSession() as ph:  # fmt: skip
        client = Client(pc, ph)
        await client.login_phone(b.base)
        tickets = await scanned_tickets(client, a, b, count)
        return [await one_ticket(client, a, b, "ws", t) for t in tickets]


async def measure(args: argparse.Namespace, store: str, a: Proc, b: Proc) -> list[dict[str, Any]]:
    """Flow D, flow E with a returning follower and with new people, alternating in rounds so
    the machine's noise falls on all three alike; the first round's first 20 are warm-up."""
    per_round = max(1, args.tickets // args.rounds)
    scan: list[float] = []
    follow: dict[bool, tuple[list[float], list[float]]] = {True: ([], []), False: ([], [])}
    for n in range(args.rounds):
        warm = 20 if n == 0 else 0
        scan += (await scan_samples(per_round + warm, a, b))[warm:]
        for returning in (True, False):
            notify, answer = await follow_samples(per_round + warm, store, a, b,
                                                  returning=returning)  # fmt: skip
            follow[returning][0].extend(notify[warm:])
            follow[returning][1].extend(answer[warm:])
    base = summary_ms(scan)
    rows = [{"part": 1, "store": store, "flow": "scan (D), baseline", **base}]
    for returning, (notify, answer) in follow.items():
        row = {"part": 1, "store": store, "flow": "follow (E)",
               "follower": "returning" if returning else "new", **summary_ms(notify),
               "push_answer": summary_ms(answer)}  # fmt: skip
        row["p50_vs_scan_ratio"] = round(row["p50_ms"] / base["p50_ms"], 2)
        row["p99_vs_scan_ratio"] = round(row["p99_ms"] / base["p99_ms"], 2)
        rows.append(row)
    return rows


async def throughput(args: argparse.Namespace, gw: Proc) -> dict[str, Any]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        openid = await openid_on(s, gw, "bench-throughput")
        requests = [push_request(f"unknown{i}", openid, encrypt=False, event="SCAN")
                    for i in range(args.events)]  # fmt: skip

        async def fire(items: list[Any], call: Any) -> float:
            queue = list(items)

            async def worker() -> None:
                while queue:
                    await call(queue.pop())

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            return len(items) / (time.perf_counter() - started)

        async def push(item: tuple[str, bytes]) -> None:
            async with s.post(f"{gw.base}{item[0]}", data=item[1]) as r:
                assert r.status == 200, await r.text()
                await r.read()

        async def health(_: int) -> None:
            async with s.get(f"{gw.base}/healthz") as r:
                await r.read()

        await fire(list(range(500)), health)  # warm up
        health_rate = await fire(list(range(args.events)), health)
        events_rate = await fire(requests, push)
        health_rate2 = await fire(list(range(args.events)), health)
    baseline = (health_rate + health_rate2) / 2
    return {"part": 2, "events_per_s": round(events_rate), "healthz_per_s": round(baseline),
            "events_vs_healthz_ratio": round(events_rate / baseline, 2)}  # fmt: skip


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wxgate-bench-follow-") as tmp:
        workdir = Path(tmp)
        redis = RedisServer(shutil.which("redis-server") or "/usr/bin/redis-server", workdir,
                            free_port())  # fmt: skip
        redis.start()
        if pin(1) and redis._proc is not None:
            subprocess.run(["taskset", "-pc", "1", str(redis._proc.pid)],
                           check=False, capture_output=True)  # fmt: skip
        env = {"WXGATE_STORE__URL": redis.url, "WXGATE_STORE__PREFIX": unique_prefix("follow")}
        procs: list[Proc] = []
        try:
            memory = await start_gateway("memory", workdir / "m", {})
            procs.append(memory)
            a = await start_gateway("redis-a", workdir / "r", env)
            procs.append(a)
            b = await start_gateway("redis-b", workdir / "r", env)
            procs.append(b)
            for store, waiter, receiver in (("memory", memory, memory),
                                            ("redis-two-replicas", a, b)):  # fmt: skip
                for row in await measure(args, store, waiter, receiver):
                    rows.append(row)
                    print(json.dumps(row), flush=True)
            plain = await start_gateway("plain", workdir / "p", {
                "WXGATE_WECHAT__APPS__MP__MESSAGE_MODE": "plain",
                "WXGATE_LOGGING__ACCESS_LOG": "true", "WXGATE_LOGGING__LEVEL": "INFO"})  # fmt: skip
            procs.append(plain)
            rows.append(await throughput(args, plain))
            print(json.dumps(rows[-1]), flush=True)
        finally:
            for proc in procs:
                proc.stop()
            redis.stop()
    return {"benchmark": "follow-login", "cpus": os.cpu_count(), "pinned": bool(pin(1)),
            "elapsed_s": round(time.perf_counter() - started, 1), "rows": rows,
            "goal": "push -> PC notified p99 < 5 ms (memory), < 15 ms (replicas)"}  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tickets", type=int, default=600, help="tickets per latency row")
    p.add_argument("--rounds", type=int, default=6, help="alternating rounds per row")
    p.add_argument("--events", type=int, default=5000, help="pushes for the throughput row")
    p.add_argument("--concurrency", type=int, default=32, help="connections for throughput")
    p.add_argument("--json", default=str(ROOT / "tests" / "bench" / "results" / "follow.json"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    if pin(0):
        os.sched_setaffinity(0, {0})
    from gateway.server.workers import install_uvloop

    install_uvloop()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The baseline the benchmark compares wxgate with: a naive aiohttp proxy and verifier.

What a reasonable engineer writes in an afternoon: one shared ``ClientSession`` (so it is not
the 4-5x slower session-per-request kind), uvloop, and PyJWT ``jwt.decode`` with the algorithm,
audience and issuer pinned, on every request (no cache). Two endpoints:

- ``/verify`` (any method): 200 with ``X-Auth-Subject``, or 401 — for nginx ``auth_request``;
- anything else: verify, then forward to ``--upstream`` with the client's headers (minus
  Host, hop-by-hop and any ``X-Auth-Subject``) plus the verified ``X-Auth-Subject``, and
  return the upstream's status and body.

Run: ``python -m tests.bench.naive_proxy --port P --upstream http://127.0.0.1:U
--public-key PEM --issuer ISS --audience AUD``.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import aiohttp
import jwt
from aiohttp import web

__all__ = ["create_app", "main"]

_SKIP = frozenset({"host", "connection", "content-length", "transfer-encoding", "x-auth-subject"})


def _claims(request: web.Request) -> dict[str, object] | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    app = request.app
    try:
        claims: dict[str, object] = jwt.decode(
            header[7:],
            app[KEY],
            algorithms=["RS256"],
            audience=app[AUDIENCE],
            issuer=app[ISSUER],
        )
    except jwt.PyJWTError:
        return None
    return claims


async def verify(request: web.Request) -> web.Response:
    claims = _claims(request)
    if claims is None:
        return web.Response(status=401)
    return web.Response(headers={"X-Auth-Subject": str(claims["sub"])})


async def proxy(request: web.Request) -> web.Response:
    claims = _claims(request)
    if claims is None:
        return web.json_response({"error": "invalid_token"}, status=401)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIP}
    headers["X-Auth-Subject"] = str(claims["sub"])
    url = request.app[UPSTREAM] + request.path_qs
    async with request.app[SESSION].request(
        request.method, url, headers=headers, data=await request.read() or None
    ) as upstream:
        body = await upstream.read()
        return web.Response(body=body, status=upstream.status, content_type=upstream.content_type)


KEY = web.AppKey("key", str)
AUDIENCE = web.AppKey("audience", str)
ISSUER = web.AppKey("issuer", str)
UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)


async def _session_ctx(app: web.Application):  # type: ignore[no-untyped-def]
    app[SESSION] = aiohttp.ClientSession()
    yield
    await app[SESSION].close()


def create_app(upstream: str, public_key_pem: str, issuer: str, audience: str) -> web.Application:
    app = web.Application()
    app[KEY] = public_key_pem
    app[AUDIENCE] = audience
    app[ISSUER] = issuer
    app[UPSTREAM] = upstream.rstrip("/")
    app.cleanup_ctx.append(_session_ctx)
    app.router.add_route("*", "/verify", verify)
    app.router.add_route("*", "/{tail:.*}", proxy)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--public-key", required=True, help="PEM file")
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--audience", required=True)
    args = parser.parse_args()
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    pem = Path(args.public_key).read_text()
    app = create_app(args.upstream, pem, args.issuer, args.audience)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()

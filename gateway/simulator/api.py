"""HTTP endpoints of the simulated server APIs (same paths and parameters as reference §2).

Every endpoint: counts the call, applies an injected fault, checks the method (43001/43002),
then answers HTTP 200 with JSON under a rotating Content-Type (reference §1.2, §1.3, §5.2) or,
for ``wxa/getwxacodeunlimit``, image bytes as ``image/jpeg``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.simulator.core import Simulator
from gateway.simulator.faults import Fault
from gateway.simulator.model import SimError

__all__ = ["API_ROUTES", "Call", "add_api_routes", "base_url"]


@dataclass(frozen=True, slots=True)
class Call:
    """One API request as the simulator's logic sees it."""

    params: dict[str, str]
    body: Any  # parsed JSON of a POST body; None when absent or not JSON
    base_url: str
    remote: str


Result = dict[str, Any] | tuple[bytes, str]
Logic = Callable[[Simulator, Call], Result]

API_ROUTES: tuple[tuple[str, str, Logic], ...] = (
    ("GET", "sns/oauth2/access_token", lambda s, c: s.oauth.access_token(c.params)),
    ("GET", "sns/oauth2/refresh_token", lambda s, c: s.oauth.refresh(c.params)),
    ("GET", "sns/auth", lambda s, c: s.oauth.check(c.params)),
    ("GET", "sns/userinfo", lambda s, c: s.oauth.userinfo(c.params, c.base_url)),
    ("GET", "sns/jscode2session", lambda s, c: s.mini.jscode2session(c.params)),
    ("GET", "wxa/checksession", lambda s, c: s.mini.checksession(c.params)),
    ("POST", "wxa/business/getuserphonenumber", lambda s, c: s.mini.phone_number(c.params, c.body)),
    ("GET", "cgi-bin/token", lambda s, c: s.server_tokens.classic(c.params, c.remote)),
    ("POST", "cgi-bin/stable_token", lambda s, c: s.server_tokens.stable(c.body, c.remote)),
    ("POST", "wxa/getwxacodeunlimit", lambda s, c: s.wxacodes.unlimit(c.params, c.body)),
    # flow E (reference §2.15): parametric QR codes and who follows
    ("POST", "cgi-bin/qrcode/create", lambda s, c: s.follow.create(c.params, c.body, c.base_url)),
    ("GET", "cgi-bin/showqrcode", lambda s, c: s.follow.image(c.params)),
    ("GET", "cgi-bin/user/info", lambda s, c: s.follow.user_info(c.params)),
)

_DEFAULT_ERRMSG = {
    -1: "system error",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    40226: "code blocked",
    45009: "reach max api daily quota limit",
}


def base_url(sim: Simulator, request: web.Request, route_path: str) -> str:
    """The simulator's public base URL: ``public_prefix`` or derived from the request."""
    if sim.public_prefix:
        return sim.public_prefix
    prefix = request.path[: len(request.path) - len(route_path)]
    return f"{request.url.origin()}{prefix}".rstrip("/")


def add_api_routes(app: web.Application, sim: Simulator) -> None:
    """Register every simulated server API on ``app``."""
    for method, api, logic in API_ROUTES:
        app.router.add_route("*", f"/{api}", _endpoint(sim, method, api, logic))


def _endpoint(
    sim: Simulator, method: str, api: str, logic: Logic
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        fault = sim.faults.take(api)
        if fault is not None and fault.kind != "latency":
            return _fault_response(sim, fault)
        if request.method != method:
            wanted = "POST" if method == "POST" else "GET"
            errcode = 43002 if wanted == "POST" else 43001
            return _error(sim, SimError(errcode, f"require {wanted} method"))
        call = await _call(sim, request, api)
        if fault is None:
            return _answer(sim, logic, call)
        # A slow WeChat still processes the request after the caller gave up (the code is
        # consumed), whatever the server does with handlers of closed connections.
        task = asyncio.create_task(_later(fault.seconds, sim, logic, call))
        sim.background.add(task)
        task.add_done_callback(sim.background.discard)
        return await asyncio.shield(task)

    return handler


async def _later(seconds: float, sim: Simulator, logic: Logic, call: Call) -> web.Response:
    await asyncio.sleep(seconds)
    return _answer(sim, logic, call)


def _answer(sim: Simulator, logic: Logic, call: Call) -> web.Response:
    try:
        result = logic(sim, call)
    except SimError as error:
        return _error(sim, error)
    if isinstance(result, tuple):
        # reference §2.14: observed image/jpeg; PNG answers keep it too, so clients must
        # sniff the magic bytes as the reference says.
        return web.Response(body=result[0], headers={"Content-Type": "image/jpeg"})
    return _json(sim, result)


async def _call(sim: Simulator, request: web.Request, api: str) -> Call:
    body: Any = None
    if request.method == "POST" and request.can_read_body:
        raw = await request.read()
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            body = None
    params = {k: v for k, v in request.query.items()}
    return Call(params, body, base_url(sim, request, f"/{api}"), request.remote or "")


def _json(sim: Simulator, data: dict[str, Any]) -> web.Response:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return web.Response(body=body, headers={"Content-Type": sim.json_content_type()})


def _error(sim: Simulator, error: SimError) -> web.Response:
    return _json(sim, sim.error_body(error))


def _fault_response(sim: Simulator, fault: Fault) -> web.Response:
    if fault.kind == "errcode":
        errmsg = fault.errmsg or _DEFAULT_ERRMSG.get(fault.errcode, "simulated error")
        return _error(sim, SimError(fault.errcode, errmsg))
    if fault.kind == "http5xx":
        text = f"<html><body><h1>{fault.status} Service Unavailable</h1></body></html>"
        return web.Response(status=fault.status, text=text, content_type="text/html")
    # empty_body: as seen historically on cgi-bin/token (reference §1.3)
    return web.Response(status=200, body=b"", headers={"Content-Type": "text/html; charset=gbk"})

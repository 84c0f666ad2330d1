"""Control and helper endpoints of the simulator (not WeChat APIs; dev and tests only).

- ``POST /sim/faults``: one fault or a list (``{"api", "kind", "times", "errcode", "errmsg",
  "seconds", "status"}``, see ``gateway.simulator.faults``); ``GET`` lists, ``DELETE`` clears.
- ``GET /sim/calls``: ``{"calls": {"sns/jscode2session": 3, ...}}``; ``DELETE`` resets.
- ``GET``/``POST /sim/options``: read / change ``SimOptions`` switches.
- ``POST /dev/js_code`` ``{"appid", "user"[, "session_key"]}`` -> ``{"code"}``: ``wx.login()``.
- ``POST /dev/phone_code`` ``{"appid", "user", "phone"[, "country_code"]}`` -> ``{"code"}``:
  the ``getPhoneNumber`` button.
- ``POST /dev/user_info`` ``{"appid", "user"}`` -> ``{"rawData", "signature",
  "encryptedData", "iv"}``: legacy ``wx.getUserInfo`` with the current session_key.
- ``GET /dev/identity?appid=&user=`` -> ``{"openid", "unionid"}``.
- ``GET /dev/wxacodes`` -> the mini-program codes issued so far (scene, page, ...).

Bad input answers 400 ``{"error": "..."}``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.simulator.core import Simulator
from gateway.simulator.faults import Fault

__all__ = ["add_control_routes"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JsonLogic = Callable[[Simulator, Any], Any]


class _BadInput(Exception):
    pass


def add_control_routes(app: web.Application, sim: Simulator) -> None:
    """Register the control and helper endpoints on ``app``."""
    routes: tuple[tuple[str, str, JsonLogic], ...] = (
        ("POST", "/sim/faults", _add_faults),
        ("GET", "/sim/faults", lambda s, _: {"faults": [f.to_json() for f in s.faults.active()]}),
        ("DELETE", "/sim/faults", _clear_faults),
        ("GET", "/sim/calls", lambda s, _: {"calls": dict(s.faults.calls)}),
        ("DELETE", "/sim/calls", _reset_calls),
        ("GET", "/sim/options", lambda s, _: dataclasses.asdict(s.options)),
        ("POST", "/sim/options", _set_options),
        ("POST", "/dev/js_code", _js_code),
        ("POST", "/dev/phone_code", _phone_code),
        ("POST", "/dev/user_info", lambda s, b: s.mini.open_data(_s(b, "appid"), _s(b, "user"))),
        ("GET", "/dev/identity", _identity),
        ("GET", "/dev/wxacodes", lambda s, _: {"codes": [_code(c) for c in s.wxacodes.issued]}),
    )
    for method, path, logic in routes:
        app.router.add_route(method, path, _json_handler(sim, method, logic))


def _json_handler(sim: Simulator, method: str, logic: JsonLogic) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            if method == "POST":
                payload: Any = await request.json()
            else:
                payload = dict(request.query)
            return web.json_response(logic(sim, payload))
        except (_BadInput, ValueError, KeyError, TypeError) as exc:
            return web.json_response({"error": _describe(exc)}, status=400)

    return handler


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"unknown or missing field {exc.args[0]!r}"
    return str(exc) or type(exc).__name__


def _s(body: Any, key: str, default: str | None = None) -> str:
    value = body.get(key, default) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise _BadInput(f"{key} (a non-empty string) is required")
    return value


def _add_faults(sim: Simulator, body: Any) -> dict[str, Any]:
    items = body if isinstance(body, list) else [body]
    faults = [Fault.from_json(item) for item in items]
    for fault in faults:
        sim.faults.add(fault)
    return {"faults": [f.to_json() for f in sim.faults.active()]}


def _clear_faults(sim: Simulator, _: Any) -> dict[str, Any]:
    sim.clear_faults()
    return {"faults": []}


def _reset_calls(sim: Simulator, _: Any) -> dict[str, Any]:
    sim.reset_calls()
    return {"calls": {}}


def _set_options(sim: Simulator, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _BadInput("a JSON object of options is required")
    sim.set_options(**body)
    return dataclasses.asdict(sim.options)


def _js_code(sim: Simulator, body: Any) -> dict[str, str]:
    key = body.get("session_key") if isinstance(body, dict) else None
    if key is not None and not isinstance(key, str):
        raise _BadInput("session_key must be a string")
    return {"code": sim.mint_js_code(_s(body, "appid"), _s(body, "user"), session_key=key)}


def _phone_code(sim: Simulator, body: Any) -> dict[str, str]:
    appid, user, phone = _s(body, "appid"), _s(body, "user"), _s(body, "phone")
    country = _s(body, "country_code", "86")
    return {"code": sim.mint_phone_code(appid, user, phone, country)}


def _identity(sim: Simulator, query: Any) -> dict[str, str]:
    appid, user = _s(query, "appid"), _s(query, "user")
    return {"openid": sim.openid(appid, user), "unionid": sim.unionid(user)}


def _code(code: Any) -> dict[str, Any]:
    return dataclasses.asdict(code)

"""The simulated phone of flow E and its control endpoint (reference §2.15, §5).

- ``GET /q/{code}``: a parametric QR's ``url`` opened in a browser is the simulated phone: who
  holds it, "new follower" or "already follows", and switches for WeChat's retries (the same
  event three times), a bad signature, a stale timestamp and an unverified account (48001 for
  the next QR codes). ``POST /q/{code}`` scans: the signed (in safe mode encrypted) event is
  pushed to the account's server URL, and the page lists each delivery's answer.
- ``POST /dev/follow_scan`` ``{"code" | "url", "user", "follower"?, "retries"?,
  "bad_signature"?, "stale"?, "server_url"?}`` does the same for tests and answers ``{"openid",
  "deliveries": [{"status", "body", "ms"}]}``; ``GET /dev/qrcodes`` lists the QR codes;
  ``POST /dev/followers`` ``{"appid", "user"}`` makes someone a follower (``{"openid",
  "unionid"}``), as if they had followed before.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from html import escape
from typing import Any

import aiohttp
from aiohttp import web

from gateway.simulator.core import Simulator
from gateway.simulator.follow import Delivery
from gateway.simulator.model import SimError
from gateway.simulator.templates import FOLLOW_PAGE, FOLLOW_RESULT

__all__ = ["add_follow_routes", "push"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUSH_TIMEOUT = 5.0  # WeChat waits 5 s for an answer (§2.15)


async def push(deliveries: list[Delivery]) -> list[dict[str, Any]]:
    """POST each delivery in turn as WeChat does; each answer's status, body and time."""
    answers = []
    timeout = aiohttp.ClientTimeout(total=PUSH_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()) as s:
        for delivery in deliveries:
            started = time.perf_counter()
            try:
                async with s.post(delivery.url, data=delivery.body,
                                  headers={"Content-Type": "text/xml"}) as response:  # fmt: skip
                    body = await response.text()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                body, status = type(exc).__name__, 0
            ms = (time.perf_counter() - started) * 1000
            answers.append({"status": status, "body": body[:2000], "ms": round(ms, 2)})
    return answers


def add_follow_routes(app: web.Application, sim: Simulator) -> None:
    app.router.add_get("/q/{code}", _phone(sim))
    app.router.add_post("/q/{code}", _scan_form(sim))
    app.router.add_post("/dev/follow_scan", _scan_json(sim))
    app.router.add_get("/dev/qrcodes", _qrcodes(sim))
    app.router.add_post("/dev/followers", _follow(sim))


def _phone(sim: Simulator) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        code = request.match_info["code"]
        try:
            record = sim.follow.record(code)
        except SimError as error:
            return _page(FOLLOW_RESULT, title="WeChat", text=escape(error.errmsg), rows="")
        user = request.cookies.get("sim_user", "alice")
        return _page(FOLLOW_PAGE, appid=escape(record.appid), code=escape(code),
                     user=escape(user), action=escape(request.path))  # fmt: skip

    return handler


def _flag(form: Any, name: str) -> bool:
    return form.get(name) in ("on", "true", "1", True)


def _scan_form(sim: Simulator) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        user = str(form.get("sim_user", "")).strip() or "alice"
        sim.options.oa_unverified = _flag(form, "unverified")
        try:
            deliveries = sim.follow.scan(
                request.match_info["code"], user,
                follower=str(form.get("follower", "")) == "yes",
                retries=3 if _flag(form, "retries") else 1,
                bad_signature=_flag(form, "bad_signature"), stale=_flag(form, "stale"),
            )  # fmt: skip
        except SimError as error:
            return _page(FOLLOW_RESULT, title="WeChat", text=escape(error.errmsg), rows="")
        answers = await push(deliveries)
        rows = "".join(
            f'<li class="delivery">HTTP {a["status"]} in {a["ms"]} ms: '
            f"<code>{escape(a['body'][:200])}</code></li>"
            for a in answers
        )
        response = _page(FOLLOW_RESULT, title="Scanned", text="WeChat pushed:", rows=rows)
        response.set_cookie("sim_user", user, httponly=True, samesite="Lax")
        return response

    return handler


def _scan_json(sim: Simulator) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            code = str(body.get("code") or str(body.get("url", "")).rsplit("/", 1)[-1])
            user = str(body.get("user") or "alice")
            follower = body.get("follower")
            deliveries = sim.follow.scan(
                code, user, follower=follower if isinstance(follower, bool) else None,
                retries=int(body.get("retries", 1)),
                bad_signature=body.get("bad_signature") is True, stale=body.get("stale") is True,
                server_url=str(body.get("server_url") or ""),
            )  # fmt: skip
        except SimError as error:
            return web.json_response({"error": error.errmsg}, status=400)
        except (ValueError, TypeError, AttributeError):
            return web.json_response({"error": "a JSON object with code and user"}, status=400)
        openid = sim.openid(sim.follow.qrcodes[code].appid, user)
        return web.json_response({"openid": openid, "deliveries": await push(deliveries)})

    return handler


def _follow(sim: Simulator) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            appid, user = str(body["appid"]), str(body["user"])
        except (ValueError, TypeError, KeyError):
            return web.json_response({"error": "a JSON object with appid and user"}, status=400)
        sim.follow.followers.add((appid, user))
        return web.json_response({"openid": sim.openid(appid, user), "unionid": sim.unionid(user)})

    return handler


def _qrcodes(sim: Simulator) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        codes = [{"code": r.code, "appid": r.appid, "scene": r.scene, "url": r.url,
                  "expires_at": r.expires_at, "scans": r.scans}
                 for r in sim.follow.qrcodes.values()]  # fmt: skip
        return web.json_response({"qrcodes": codes})

    return handler


def _page(template: str, **values: str) -> web.Response:
    return web.Response(text=template.format(**values), content_type="text/html")

"""The admin API under ``/admin/api/`` (README "Administration"): JSON in, JSON out.

Every call is authorized by ``guard.require_admin`` (401 anonymous, 403 not an administrator,
403 ``csrf_required`` for a cookie-authenticated change without ``X-CSRF-Token``); every change
goes through ``Administration``, which writes one audit entry naming the actor and the target.
"""

from __future__ import annotations

from aiohttp import web

from gateway.admin import user_json, view_json
from gateway.server.admin.csrf import csrf_token
from gateway.server.admin.guard import require_admin
from gateway.server.admin.views import audit_query, cursor, page_limit
from gateway.server.common import NO_STORE
from gateway.server.keys import ADMIN, STORE

__all__ = ["setup_api"]


def _json(body: object, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers=NO_STORE)


async def csrf(request: web.Request) -> web.Response:
    admin = await require_admin(request, mutating=False)
    token = await csrf_token(request.app[STORE], admin.sid) if admin.sid else ""
    return _json({"csrf_token": token})


async def list_users(request: web.Request) -> web.Response:
    await require_admin(request, mutating=False)
    q = request.query.get("q", "").strip()[:256]
    limit = page_limit(request.query)
    found = await request.app[ADMIN].users.search(q, after=cursor(request.query), limit=limit)
    next_cursor = found[-1].sub if len(found) == limit else None
    return _json({"users": [user_json(u) for u in found], "next_cursor": next_cursor})


async def show_user(request: web.Request) -> web.Response:
    await require_admin(request, mutating=False)
    view = await request.app[ADMIN].view(request.match_info["sub"])
    return _json(view_json(view))


async def role(request: web.Request) -> web.Response:
    admin = await require_admin(request, mutating=True)
    sub, name = request.match_info["sub"], request.match_info["role"]
    service = request.app[ADMIN]
    if request.method == "POST":
        changed = await service.grant_role(admin.actor, sub, name)
    else:
        changed = await service.revoke_role(admin.actor, sub, name)
    return _json({"changed": changed, **view_json(await service.view(sub))})


async def disabled(request: web.Request) -> web.Response:
    admin = await require_admin(request, mutating=True)
    sub, service = request.match_info["sub"], request.app[ADMIN]
    ended = await service.set_disabled(admin.actor, sub, request.method == "POST")
    return _json({"sessions_ended": len(ended), **view_json(await service.view(sub))})


async def end_session(request: web.Request) -> web.Response:
    admin = await require_admin(request, mutating=True)
    sub, sid = request.match_info["sub"], request.match_info["sid"]
    await request.app[ADMIN].revoke_session(admin.actor, sub, sid)
    return _json({"sessions_ended": 1})


async def end_sessions(request: web.Request) -> web.Response:
    admin = await require_admin(request, mutating=True)
    ended = await request.app[ADMIN].revoke_sessions(admin.actor, request.match_info["sub"])
    return _json({"sessions_ended": len(ended)})


async def audit(request: web.Request) -> web.Response:
    await require_admin(request, mutating=False)
    query = audit_query(request.query)
    entries = await request.app[ADMIN].users.query_audit(query)
    next_cursor = entries[-1].id if len(entries) == query.limit else None
    return _json({"entries": [e.as_json() for e in entries], "next_cursor": next_cursor})


def setup_api(app: web.Application) -> None:
    r = app.router
    base = "/admin/api"
    r.add_get(f"{base}/csrf", csrf)
    r.add_get(f"{base}/users", list_users)
    r.add_get(f"{base}/users/{{sub}}", show_user)
    r.add_route("POST", f"{base}/users/{{sub}}/roles/{{role}}", role)
    r.add_route("DELETE", f"{base}/users/{{sub}}/roles/{{role}}", role)
    r.add_route("POST", f"{base}/users/{{sub}}/disabled", disabled)
    r.add_route("DELETE", f"{base}/users/{{sub}}/disabled", disabled)
    r.add_route("DELETE", f"{base}/users/{{sub}}/sessions", end_sessions)
    r.add_route("DELETE", f"{base}/users/{{sub}}/sessions/{{sid}}", end_session)
    r.add_get(f"{base}/audit", audit)

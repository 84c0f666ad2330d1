"""``server/admin``: the admin API (``/admin/api/``), the admin page (``/admin/``) and the
person's own account page (``/auth/account`` and its forms)."""

from __future__ import annotations

from typing import Any

from gateway.config import Config
from gateway.server.openapi.spec import (
    HTML,
    Paths,
    error,
    json_content,
    op,
    param,
    responses,
)

__all__ = ["paths"]

_TAG = "admin"
_NULLABLE = {"type": ["string", "null"]}
_WHEN = {"type": ["number", "null"]}
_IDENTITY = {
    "type": "object",
    "required": ["app", "appid", "openid", "linked_at"],
    "properties": {"app": {"type": "string"}, "appid": {"type": "string"},
                   "openid": {"type": "string"}, "unionid": _NULLABLE,
                   "linked_at": {"type": "number"}},
}  # fmt: skip
_USER: dict[str, Any] = {
    "type": "object",
    "required": ["sub", "created_at", "roles", "disabled", "identities"],
    "properties": {
        "sub": {"type": "string"}, "created_at": {"type": "number"}, "unionid": _NULLABLE,
        "nickname": _NULLABLE, "avatar_url": _NULLABLE,
        "roles": {"type": "array", "items": {"type": "string"}},
        "disabled": {"type": "boolean"}, "disabled_at": _WHEN,
        "identities": {"type": "array", "items": _IDENTITY},
    },
}  # fmt: skip
_SESSION = {
    "type": "object",
    "required": ["sid", "created_at", "expires_at", "current"],
    "properties": {"sid": {"type": "string"}, "created_at": {"type": "number"},
                   "refreshed_at": _WHEN, "expires_at": {"type": "number"},
                   "client_ip": _NULLABLE, "user_agent": _NULLABLE, "flow": _NULLABLE,
                   "app": _NULLABLE, "client_id": _NULLABLE, "current": {"type": "boolean"}},
}  # fmt: skip
_VIEW: dict[str, Any] = {
    **_USER,
    "required": [*_USER["required"], "sessions"],
    "properties": {**_USER["properties"], "sessions": {"type": "array", "items": _SESSION}},
}
_ENTRY = {
    "type": "object",
    "required": ["id", "at", "kind", "action", "actor", "subject", "result", "details"],
    "properties": {"id": {"type": "string"}, "at": {"type": "number"},
                   "kind": {"type": "string"}, "action": {"type": "string"},
                   "actor": {"type": "string"}, "subject": {"type": "string"},
                   "result": {"type": "string"}, "client_ip": {"type": "string"},
                   "user_agent": {"type": "string"}, "details": {"type": "object"}},
}  # fmt: skip
# the admin token (``[admin] token_file``) is a bearer too
_ADMIN: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}]
_SUB = param("sub", "path")
_PAGE = [param("limit", type="integer", minimum=1, maximum=200), param("cursor", maxLength=128)]
_DENIED = error(403, "`access_denied` (not an administrator), `csrf_required` (a change "
                "authenticated by the session cookie without `X-CSRF-Token`)")  # fmt: skip
_REDIRECT = {"description": "to the login page (no session)"}


def _ok(schema: dict[str, Any], text: str = "done") -> dict[str, Any]:
    return {"description": text, "content": json_content(schema)}


def _with(schema: dict[str, Any], **more: dict[str, Any]) -> dict[str, Any]:
    """The user view with ``more`` properties (required) beside it."""
    return {**schema, "required": [*schema["required"], *more],
            "properties": {**schema["properties"], **more}}  # fmt: skip


def _change(summary: str, answer: dict[str, Any], *names: str) -> dict[str, Any]:
    return op(summary, _TAG, responses(400, 401, 404, 503, _200=answer, _403=_DENIED),
              parameters=[_SUB, *(param(n, "path") for n in names)],
              security=_ADMIN)  # fmt: skip


def _api() -> Paths:
    ended = {"type": "object", "required": ["sessions_ended"],
             "properties": {"sessions_ended": {"type": "integer"}}}  # fmt: skip
    changed = _ok(_with(_VIEW, changed={"type": "boolean"}), "the user after the change")
    disabled = _ok(_with(_VIEW, sessions_ended={"type": "integer"}), "the user after it")
    found = {"type": "object", "required": ["users", "next_cursor"],
             "properties": {"users": {"type": "array", "items": _USER},
                            "next_cursor": _NULLABLE}}  # fmt: skip
    audit = {"type": "object", "required": ["entries", "next_cursor"],
             "properties": {"entries": {"type": "array", "items": _ENTRY},
                            "next_cursor": _NULLABLE}}  # fmt: skip
    times = [param(n, description="epoch seconds or ISO 8601") for n in ("since", "until")]
    filters = [param(n, maxLength=256) for n in ("actor", "subject", "action", "kind")]
    base = "/admin/api"
    return {
        f"{base}/csrf": {"get": op("The calling session's CSRF token", _TAG, responses(
            401, 503, _403=_DENIED, _200=_ok({"type": "object", "required": ["csrf_token"],
                "properties": {"csrf_token": {"type": "string"}}}, "the token")),
            security=_ADMIN)},
        f"{base}/users": {"get": op("Search users (sub, openid, unionid, nickname)", _TAG,
            responses(400, 401, 503, _403=_DENIED, _200=_ok(found, "a page, by sub")),
            parameters=[param("q", maxLength=256), *_PAGE], security=_ADMIN)},
        f"{base}/users/{{sub}}": {"get": op("A user with their live sessions", _TAG,
            responses(401, 404, 503, _403=_DENIED, _200=_ok(_VIEW, "the user")),
            parameters=[_SUB], security=_ADMIN)},
        f"{base}/users/{{sub}}/roles/{{role}}": {
            "post": _change("Grant a role", changed, "role"),
            "delete": _change("Remove a role", changed, "role"),
        },
        f"{base}/users/{{sub}}/disabled": {
            "post": _change("Disable the user and end every session", disabled),
            "delete": _change("Enable the user", disabled),
        },
        f"{base}/users/{{sub}}/sessions": {
            "delete": _change("End every session of the user", _ok(ended)),
        },
        f"{base}/users/{{sub}}/sessions/{{sid}}": {
            "delete": _change("End one live session of the user", _ok(ended), "sid"),
        },
        f"{base}/audit": {"get": op("The audit log, newest first", _TAG,
            responses(400, 401, 503, _403=_DENIED, _200=_ok(audit, "a page of entries")),
            parameters=[*times, *filters, *_PAGE], security=_ADMIN)},
    }  # fmt: skip


def _account() -> Paths:
    def form(*names: str) -> dict[str, Any]:
        schema = {"type": "object", "properties": {n: {"type": "string"} for n in names}}
        return {"required": False,
                "content": {"application/x-www-form-urlencoded": {"schema": schema}}}  # fmt: skip

    stale = error(403, "`access_denied`: the form's `csrf_token` is stale")
    done = responses(400, 401, 413, 503, _303={"description": "done; to the account page"},
                     _403=stale)  # fmt: skip
    cookie: list[dict[str, list[str]]] = [{"session": []}, {"bearer": []}]
    return {
        "/auth/account": {"get": op("The person's account page: identities, live sessions",
            _TAG, responses(503, _200={"description": "the page", "content": HTML},
                            _302=_REDIRECT), security=[{}, *cookie])},
        "/auth/account/sessions/end": {"post": op("End one of the person's sessions (`sid`)",
            _TAG, done, requestBody=form("sid", "csrf_token"), security=cookie)},
        "/auth/account/sessions/end-others": {"post": op(
            "End every session of the person but this one", _TAG, done,
            requestBody=form("csrf_token"), security=cookie)},
    }  # fmt: skip


def paths(config: Config) -> Paths:
    del config
    page = {"description": "the admin page", "content": HTML}
    no_access = {"description": 'the "no access" page (not an administrator)', "content": HTML}
    return {
        "/admin": {"get": op("To `/admin/`", _TAG, responses(_302={"description": "to /admin/"}))},
        "/admin/": {"get": op("The admin page (it works through the admin API only)", _TAG,
            responses(503, _200=page, _302=_REDIRECT, _403=no_access),
            security=[{}, *_ADMIN])},
        **_api(),
        **_account(),
    }  # fmt: skip

"""The admin API's JSON shapes and query parsing (no I/O)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from multidict import MultiMapping

from gateway.admin import UserView
from gateway.errors import InvalidRequest
from gateway.tokens import Session
from gateway.users import AuditQuery, User

__all__ = ["audit_query", "cursor", "page_limit", "session_json", "user_json", "view_json"]

_MAX_CURSOR = 128


def user_json(user: User) -> dict[str, Any]:
    return {
        "sub": user.sub,
        "created_at": user.created_at,
        "unionid": user.unionid,
        "nickname": user.nickname,
        "avatar_url": user.avatar_url,
        "roles": sorted(user.roles),
        "disabled": user.disabled,
        "disabled_at": user.disabled_at,
        "identities": [
            {"app": i.app, "appid": i.appid, "openid": i.openid, "unionid": i.unionid,
             "linked_at": i.linked_at}
            for i in user.identities
        ],
    }  # fmt: skip


def session_json(session: Session, current: str = "") -> dict[str, Any]:
    """One session as the person and their operators see it (no token, no hash)."""
    return {
        "sid": session.sid,
        "created_at": session.created_at,
        "refreshed_at": float(session.refreshed_at) if session.refreshed_at else None,
        "expires_at": session.expires_at,
        "client_ip": session.client_ip,
        "user_agent": session.user_agent,
        "flow": ",".join(session.amr),
        "app": session.appid,
        "client_id": session.client_id,
        "current": session.sid == current,
    }


def view_json(view: UserView) -> dict[str, Any]:
    return {**user_json(view.user), "sessions": [session_json(s) for s in view.sessions]}


def page_limit(query: MultiMapping[str], default: int = 50, maximum: int = 200) -> int:
    raw = query.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise InvalidRequest(f"limit must be a whole number from 1 to {maximum}")
    return int(raw)


def cursor(query: MultiMapping[str]) -> str | None:
    value = query.get("cursor") or None
    if value is not None and (len(value) > _MAX_CURSOR or not value.isprintable()):
        raise InvalidRequest("cursor is not one this API handed out")
    return value


def _time(query: MultiMapping[str], name: str) -> float | None:
    raw = query.get(name)
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(raw).timestamp()
    except ValueError as exc:
        raise InvalidRequest(f"{name}: epoch seconds or an ISO 8601 time") from exc


def _text(query: MultiMapping[str], name: str) -> str | None:
    value = query.get(name) or None
    if value is not None and len(value) > 256:
        raise InvalidRequest(f"{name} is too long")
    return value


def audit_query(query: MultiMapping[str]) -> AuditQuery:
    """``GET /admin/api/audit``'s filters and page."""
    return AuditQuery(
        since=_time(query, "since"),
        until=_time(query, "until"),
        actor=_text(query, "actor"),
        subject=_text(query, "subject"),
        action=_text(query, "action"),
        kind=_text(query, "kind"),
        before=cursor(query),
        limit=page_limit(query),
    )

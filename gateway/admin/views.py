"""Users and sessions as JSON, as the admin API, the account page and the CLI show them:
identifiers and times only (no token, no refresh-token hash, no phone number)."""

from __future__ import annotations

from typing import Any

from gateway.admin.service import UserView
from gateway.tokens import Session
from gateway.users import User

__all__ = ["session_json", "user_json", "view_json"]


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

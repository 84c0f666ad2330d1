"""Operator functions behind the ``wxgate users ...`` verbs: each opens the configured
administration (``operator.open_administration``), acts as actor ``cli`` (audited like the
admin API) and returns the lines to print. Errors are GatewayErrors (NotFound for an unknown
user, InvalidRequest for a bad role name) with a message meant for the operator."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from gateway.admin.operator import CLI_ACTOR, open_administration
from gateway.admin.service import Administration
from gateway.admin.views import view_json
from gateway.config import Config

__all__ = ["users_command"]


def _iso(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


async def users_command(
    config: Config, action: str, sub: str = "", role: str = "", query: str = "", limit: int = 50
) -> list[str]:
    """Run ``wxgate users <action>``; the output lines."""
    async with open_administration(config) as admin:
        if action == "list":
            users = await admin.users.search(query, limit=limit)
            lines = [f"{'SUB':<26} {'DISABLED':<8} {'ROLES':<24} NICKNAME"]
            for u in users:
                roles = ",".join(sorted(u.roles)) or "-"
                flag = "yes" if u.disabled else "no"
                lines.append(f"{u.sub:<26} {flag:<8} {roles:<24} {u.nickname or '-'}")
            return lines
        if action == "show":
            return [json.dumps(view_json(await admin.view(sub)), indent=2, ensure_ascii=False)]
        if action == "sessions":
            view = await admin.view(sub)
            lines = [f"{'SID':<24} {'CREATED':<25} {'REFRESHED':<25} {'FLOW':<12} CLIENT"]
            for s in view.sessions:
                refreshed = _iso(float(s.refreshed_at)) if s.refreshed_at else "-"
                client = f"{s.client_ip or '-'} {s.user_agent[:60]}".rstrip()
                lines.append(f"{s.sid:<24} {_iso(s.created_at):<25} {refreshed:<25} "
                             f"{','.join(s.amr):<12} {client}")  # fmt: skip
            return lines
        return await _change(admin, action, sub, role)


async def _change(admin: Administration, action: str, sub: str, role: str) -> list[str]:
    if action == "grant":
        changed = await admin.grant_role(CLI_ACTOR, sub, role)
        return [f"{sub}: role {role} {'granted' if changed else 'already held'}"]
    if action == "ungrant":
        changed = await admin.revoke_role(CLI_ACTOR, sub, role)
        return [f"{sub}: role {role} {'removed' if changed else 'was not held'}"]
    if action in ("disable", "enable"):
        ended = await admin.set_disabled(CLI_ACTOR, sub, action == "disable")
        return [f"{sub}: {action}d; {len(ended)} session(s) ended"]
    if action == "logout":
        ended = await admin.revoke_sessions(CLI_ACTOR, sub)
        return [f"{sub}: {len(ended)} session(s) ended"]
    raise ValueError(f"unknown users action {action!r}")

"""The audit log's values: an entry and a query (the table itself: ``users.audit``)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AuditEntry", "AuditQuery", "new_entry_id"]


def new_entry_id(at: float) -> str:
    """A unique id that sorts by time (``at`` in epoch seconds)."""
    return f"{int(at * 1_000_000_000):020d}{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One audit event. ``actor``: who acted (a subject, ``admin-token``, ``cli``, or ""
    for the person themselves); ``subject``: whom it concerns; ``details``: flat JSON-able
    values (``before``/``after`` of an admin action, a flow, a route)."""

    id: str
    at: float
    kind: str
    action: str
    actor: str = ""
    subject: str = ""
    result: str = "ok"
    client_ip: str = ""
    user_agent: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The entry as the admin API and the audit logger show it."""
        return {
            "id": self.id, "at": self.at, "kind": self.kind, "action": self.action,
            "actor": self.actor, "subject": self.subject, "result": self.result,
            "client_ip": self.client_ip, "user_agent": self.user_agent,
            "details": dict(self.details),
        }  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditQuery:
    """Filters (all optional, combined with AND) and a page: newest first, ``before`` the
    last id of the previous page."""

    since: float | None = None
    until: float | None = None
    actor: str | None = None
    subject: str | None = None
    action: str | None = None
    kind: str | None = None
    before: str | None = None
    limit: int = 50

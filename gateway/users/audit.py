"""The audit log's rows: an append-only table in the user directory (schema version 3).

Each entry is one event: a login (its flow, app and result), a logout, a refresh-token reuse,
a revocation, a policy denial or an administrator's action (actor, target, before and after).
Entries are never updated; the retention sweep deletes those older than
``audit.retention_days``. The table is schema version 3 (``sql.MIGRATIONS``).
``id`` is time-ordered text (nanoseconds, then random bits) so one statement text serves SQLite
and PostgreSQL alike, and pagination runs newest first on it (``before`` = the last id seen).

Nothing secret goes in: the writer (``gateway.admin.AuditLog``) passes identifiers
(subjects, session ids, role names, flows), never a token, a code or a key.
"""

from __future__ import annotations

import json

from gateway.users.entries import AuditEntry, AuditQuery
from gateway.users.sql import Row, Tx

__all__ = ["append_entry", "purge_entries", "query_entries"]

_COLUMNS = "id, at, kind, action, actor, subject, result, client_ip, user_agent, details"
_INSERT = f"INSERT INTO audit_log ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"  # noqa: S608
_PURGE = "DELETE FROM audit_log WHERE at < $1"


async def append_entry(tx: Tx, entry: AuditEntry) -> None:
    await tx.execute(
        _INSERT, entry.id, entry.at, entry.kind, entry.action, entry.actor, entry.subject,
        entry.result, entry.client_ip, entry.user_agent, json.dumps(dict(entry.details)),
    )  # fmt: skip


async def query_entries(tx: Tx, query: AuditQuery) -> list[AuditEntry]:
    clauses: list[str] = []
    args: list[object] = []
    for column, op, value in (
        ("at", ">=", query.since),
        ("at", "<", query.until),
        ("actor", "=", query.actor),
        ("subject", "=", query.subject),
        ("action", "=", query.action),
        ("kind", "=", query.kind),
        ("id", "<", query.before),
    ):
        if value is not None:
            args.append(value)
            clauses.append(f"{column} {op} ${len(args)}")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    args.append(max(1, min(query.limit, 500)))
    # only fixed column names and placeholders are formatted in; the values are bound
    sql = f"SELECT {_COLUMNS} FROM audit_log {where} ORDER BY id DESC LIMIT ${len(args)}"  # noqa: S608
    return [_entry(row) for row in await tx.fetch(sql, *args)]


async def purge_entries(tx: Tx, before: float) -> int:
    return await tx.execute(_PURGE, before)


def _entry(row: Row) -> AuditEntry:
    details = json.loads(row["details"])
    return AuditEntry(
        id=str(row["id"]), at=float(row["at"]), kind=row["kind"], action=row["action"],
        actor=row["actor"], subject=row["subject"], result=row["result"],
        client_ip=row["client_ip"], user_agent=row["user_agent"],
        details=details if isinstance(details, dict) else {},
    )  # fmt: skip

"""Finding users for operators: by subject id, openid, unionid or nickname, a page at a time.

``q`` matches a user whose ``sub`` or ``unionid`` equals it, who holds an identity with that
``openid``, or whose nickname contains it (case-insensitively for ASCII; ``%`` and ``_`` in
``q`` match themselves). An empty ``q`` lists everyone. Pages are ordered by ``sub``; the next
page starts after the last ``sub`` of the previous one (``after``: a stable cursor even while
users are added).
"""

from __future__ import annotations

from gateway.users.sql import Tx

__all__ = ["search_subjects"]

_MATCH = """(u.sub = $1 OR u.unionid = $1
  OR u.sub IN (SELECT sub FROM identities WHERE openid = $1)
  OR LOWER(u.nickname) LIKE $2 ESCAPE '!')"""


def _like(q: str) -> str:
    escaped = q.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


async def search_subjects(tx: Tx, q: str, after: str | None, limit: int) -> list[str]:
    """The subject ids of one page of matching users (see the module docstring)."""
    args: list[object] = []
    clauses: list[str] = []
    if q:
        args += [q, _like(q)]
        clauses.append(_MATCH)
    if after:
        args.append(after)
        clauses.append(f"u.sub > ${len(args)}")
    args.append(max(1, min(limit, 200)))
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    # only fixed clauses and placeholders are formatted in; the values are bound
    sql = f"SELECT u.sub FROM users u {where} ORDER BY u.sub LIMIT ${len(args)}"  # noqa: S608
    return [str(row["sub"]) for row in await tx.fetch(sql, *args)]

"""The admin API's query parsing (no I/O); the JSON shapes are ``gateway.admin``'s."""

from __future__ import annotations

import math
from datetime import datetime

from multidict import MultiMapping

from gateway.errors import InvalidRequest
from gateway.users import AuditQuery

__all__ = ["audit_query", "cursor", "page_limit"]

_MAX_CURSOR = 128


def page_limit(query: MultiMapping[str], default: int = 50, maximum: int = 200) -> int:
    raw = query.get("limit")
    if raw is None:
        return default
    # isascii: str.isdigit also holds for "²" and "٣", which int() refuses or reads
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
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
    refused = InvalidRequest(f"{name}: epoch seconds or an ISO 8601 time")
    try:
        seconds = float(raw)
    except ValueError:
        try:
            seconds = datetime.fromisoformat(raw).timestamp()
        except (ValueError, OverflowError) as exc:
            raise refused from exc
    if not math.isfinite(seconds):  # "nan", "inf", "1e400": no instant
        raise refused
    return seconds


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

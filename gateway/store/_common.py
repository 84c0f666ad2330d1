"""Argument rules shared by every Store backend, so both interpret a call the same way."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping

__all__ = ["encode_record", "float_arg", "from_states", "require_fields", "ttl_ms"]


def ttl_ms(ttl: float) -> int:
    """A TTL in seconds as whole milliseconds, rounded up (the protocol's rule).

    Raises ValueError for a TTL that is not a positive finite number: a key that expires at
    once, or never, is a caller bug, and Redis would reject it anyway.
    """
    if not math.isfinite(ttl) or ttl <= 0:
        raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
    return max(1, math.ceil(ttl * 1000))


def from_states(states: Collection[str]) -> tuple[str, ...]:
    """``from_states`` as a tuple; a bare string is refused (it would iterate characters)."""
    if isinstance(states, str):
        raise TypeError("from_states must be a collection of states, not a string")
    return tuple(states)


def require_fields(fields: Mapping[str, str]) -> dict[str, str]:
    """A record needs at least one field: Redis has no empty hashes."""
    if not fields:
        raise ValueError("a record needs at least one field")
    return dict(fields)


def encode_record(record: Mapping[str, str]) -> str:
    """The JSON text published by ``transition(..., channel=...)``.

    Readers must parse it (``json.loads``): key order and escaping differ between backends
    (Redis encodes with Lua's cjson).
    """
    return json.dumps(dict(record), separators=(",", ":"), ensure_ascii=False)


def float_arg(value: float) -> str:
    """A float as text that Redis (strtod) and Lua (tonumber) read back as the same double."""
    return repr(float(value))

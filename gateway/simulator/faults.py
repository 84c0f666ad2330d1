"""Fault injection and call counting for the simulated APIs (reference §5.1).

A fault matches an API by its path (``sns/jscode2session``), its last segment
(``jscode2session``) or ``*``. Kinds:

- ``latency``: wait ``seconds``, then answer normally (the request is processed, as when a
  slow WeChat answers after the client gave up);
- ``errcode``: answer HTTP 200 ``{"errcode": errcode, "errmsg": ...}`` (default -1);
- ``http5xx``: answer HTTP ``status`` (default 503) with an HTML body;
- ``empty_body``: answer HTTP 200 with an empty body and ``text/html; charset=gbk`` (§1.3).

``times`` is how many matching calls the fault affects (``<= 0``: until cleared). The first
matching fault in insertion order applies.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["FAULT_KINDS", "Fault", "FaultBook"]

FaultKind = Literal["latency", "errcode", "http5xx", "empty_body"]
FAULT_KINDS: tuple[str, ...] = ("latency", "errcode", "http5xx", "empty_body")


@dataclass(slots=True)
class Fault:
    api: str
    kind: FaultKind
    times: int = 1
    errcode: int = -1
    errmsg: str = ""
    seconds: float = 0.0
    status: int = 503

    def matches(self, api: str) -> bool:
        return self.api in ("*", api, api.rsplit("/", 1)[-1])

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        """A fault from control-API JSON; ValueError when malformed."""
        if not isinstance(data, dict) or not isinstance(data.get("api"), str):
            raise ValueError("a fault needs an api")
        if data.get("kind") not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        fault = cls(**data)
        if not 500 <= fault.status <= 599:
            raise ValueError("status must be 5xx")
        if not isinstance(fault.errcode, int) or fault.seconds < 0:
            raise ValueError("errcode must be an integer, seconds not negative")
        return fault

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultBook:
    """Active faults and per-API call counters."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self.calls: Counter[str] = Counter()

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()

    def active(self) -> list[Fault]:
        return list(self._faults)

    def take(self, api: str) -> Fault | None:
        """Count a call to ``api`` and return the fault to apply to it, if any."""
        self.calls[api] += 1
        for fault in self._faults:
            if fault.matches(api):
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                return fault
        return None

    def count(self, api: str) -> int:
        """Calls so far to ``api`` (path or last segment)."""
        return sum(n for name, n in self.calls.items() if api in (name, name.rsplit("/", 1)[-1]))

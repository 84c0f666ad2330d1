"""Scan-login tickets as data: states, ids, the stored record and the event a waiter sees.

Pure (no I/O). A ticket is one Store record (flat ``dict[str, str]``) under ``ticket_key(id)``;
every transition publishes the new record on ``ticket_channel(id)``.

States: ``pending → scanned → confirmed → redeemed``, ``pending|scanned → denied``, and every
live state (``pending``, ``scanned``, ``confirmed``) reads as ``expired`` once ``expires_at``
has passed, whether or not a transition recorded it. ``seq`` is the state's rank: it only grows
along any path, so it serves as the SSE event id (``Last-Event-ID`` resume) with no counter.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CONFIRMED",
    "DENIED",
    "EXPIRED",
    "LIVE_STATES",
    "PENDING",
    "REDEEMED",
    "SCANNED",
    "SEQ",
    "TERMINAL_STATES",
    "Identity",
    "Ticket",
    "TicketEvent",
    "browser_summary",
    "is_ticket_id",
    "new_ticket_id",
    "ticket_channel",
    "ticket_key",
]

PENDING, SCANNED, CONFIRMED = "pending", "scanned", "confirmed"
REDEEMED, DENIED, EXPIRED = "redeemed", "denied", "expired"
LIVE_STATES = frozenset({PENDING, SCANNED, CONFIRMED})
TERMINAL_STATES = frozenset({REDEEMED, DENIED, EXPIRED})
SEQ = {PENDING: 1, SCANNED: 2, CONFIRMED: 3, REDEEMED: 4, DENIED: 4, EXPIRED: 4}

# 22 base62 characters = 130.9 random bits (>= 128), URL-safe, and valid in a mini-program
# ``scene``, which allows at most 32 characters of [0-9A-Za-z] and some punctuation
# (reference §2.14, §6.12).
_ALPHABET = string.digits + string.ascii_letters
TICKET_LENGTH = 22
_TICKET_RE = re.compile(rf"[0-9A-Za-z]{{{TICKET_LENGTH}}}")


def new_ticket_id() -> str:
    """A fresh ticket id: 22 characters of base62 from the OS CSPRNG."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(TICKET_LENGTH))


def is_ticket_id(value: str) -> bool:
    """True when ``value`` has the shape of a ticket id (checked before any Store access)."""
    return _TICKET_RE.fullmatch(value) is not None


def ticket_key(ticket_id: str) -> str:
    return f"scan:ticket:{ticket_id}"


def ticket_channel(ticket_id: str) -> str:
    return f"scan:events:{ticket_id}"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who acts on the phone: the gateway subject plus the WeChat identity it logged in with."""

    sub: str
    amr: tuple[str, ...] = ()
    appid: str | None = None
    openid: str | None = None
    unionid: str | None = None


def _float(record: Mapping[str, str], name: str) -> float:
    try:
        return float(record.get(name) or 0.0)
    except ValueError:
        return 0.0


@dataclass(frozen=True, slots=True)
class Ticket:
    """A ticket record as read from the Store (``state`` is the stored state)."""

    id: str
    record: Mapping[str, str]

    @property
    def state(self) -> str:
        return self.record.get("state", "")

    @property
    def expires_at(self) -> float:
        return _float(self.record, "expires_at")

    @property
    def created_at(self) -> float:
        return _float(self.record, "created_at")

    @property
    def committed_at(self) -> float:
        """When the last transition was committed (epoch seconds): the latency origin."""
        return _float(self.record, "at")

    def field(self, name: str) -> str:
        return self.record.get(name, "")

    def effective_state(self, now: float) -> str:
        """The state as anyone should see it at ``now``: live states past expiry are expired."""
        state = self.state
        if state in LIVE_STATES and now >= self.expires_at:
            return EXPIRED
        return state

    def confirmed_identity(self) -> Identity:
        """The identity stored by the confirming phone."""
        return Identity(
            sub=self.field("sub"),
            amr=tuple(a for a in self.field("amr").split(" ") if a),
            appid=self.field("appid") or None,
            openid=self.field("openid") or None,
            unionid=self.field("unionid") or None,
        )

    def pc_info(self) -> dict[str, Any]:
        """What the phone is shown about the computer asking to log in."""
        return {
            "ip": self.field("pc_ip"),
            "browser": self.field("pc_browser"),
            "created_at": int(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class TicketEvent:
    """One state a waiter is told about.

    ``pushed`` is True for an event that came from a committed transition (its
    ``committed_at`` is then the origin of ``scan_notify_latency``), False for a snapshot
    (the current state sent on connect) or a locally detected expiry.
    """

    ticket: str
    state: str
    seq: int
    expires_at: float
    committed_at: float
    pushed: bool

    @classmethod
    def of(cls, ticket: Ticket, now: float, *, pushed: bool) -> TicketEvent:
        state = ticket.effective_state(now)
        return cls(ticket.id, state, SEQ.get(state, 0), ticket.expires_at,
                   ticket.committed_at, pushed and state == ticket.state)  # fmt: skip

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def frame(self, now: float) -> dict[str, Any]:
        """The JSON object every transport sends: ``{"state", "ticket", "seq", "expires_in"}``."""
        expires_in = 0 if self.terminal else max(0, int(self.expires_at - now))
        return {"state": self.state, "ticket": self.ticket, "seq": self.seq,
                "expires_in": expires_in}  # fmt: skip

    def json(self, now: float) -> str:
        return json.dumps(self.frame(now), separators=(",", ":"))


_BROWSERS = (
    ("MicroMessenger", "WeChat"),
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Windows", "Windows"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Mac OS X", "macOS"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def browser_summary(user_agent: str) -> str:
    """A short, safe description of a User-Agent ("Chrome 120 on Windows"), for the phone."""
    name = next((label for token, label in _BROWSERS if token in user_agent), "")
    version = ""
    if name:
        token = next(t for t, label in _BROWSERS if label == name)
        match = re.search(re.escape(token) + r"(\d+)", user_agent)
        version = match.group(1) if match else ""
    system = next((label for token, label in _SYSTEMS if token in user_agent), "")
    text = " ".join(p for p in (name, version) if p) or "Unknown browser"
    return f"{text} on {system}" if system else text

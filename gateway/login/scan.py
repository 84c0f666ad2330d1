"""Flow D, scan-login: the ticket state machine and its waiters (store-agnostic, no web framework).

A PC browser creates a ticket (``create``) bound to it by a random secret whose SHA-256 is
stored (the raw value lives only in the browser's HttpOnly cookie). A phone scans it
(``scan``), its user confirms or cancels (``confirm``/``deny``), and the PC that created it
turns the confirmed ticket into a session (``redeem``), exactly once. States and ids:
``scan_ticket``; waiters: ``scan_hub``. Reference §0 (flow D), §2.14 and §6.12.

Every transition is one atomic ``Store.transition`` from the state just read, with the
ticket's ``expires_at`` checked in the same step and the new record published on the ticket's
channel, so concurrent phones, redeems and expiry timers cannot both win. Rules:

- ``scan``: pending → scanned; the scan extends ``expires_at`` by ``scan_extend`` (once:
  there is only one scan), so the phone has time to log in and confirm. A scan carries the
  scanner's identity when known (mini-program, or a phone that already has a session) and
  then binds the ticket to that subject; WeChat's browser scans anonymously before logging
  in (flow B), and then whoever confirms first wins.
- ``confirm``: scanned → confirmed, storing the confirming subject and WeChat identity.
  Confirming a pending ticket, a second confirmation, or a confirmation by another subject
  than the one bound at scan time is a ``TicketConflict`` (409).
- ``deny``: pending|scanned → denied (same subject rule).
- ``redeem``: confirmed → redeemed for the browser holding the secret (else AccessDenied, 403).
- ``expire``: a live ticket past ``expires_at`` → expired (records what the clock decided).
- ``confirm_by_event``: pending → confirmed in one step, for follow-login tickets (flow E,
  ``login.follow``): the scan inside WeChat is the consent, there is no confirm page.

Every ticket records its ``flow`` (``scan``, flow D, or ``follow``, flow E): the
``wxgate_scan_tickets_total{flow,result}`` funnel counts both.

Records outlive their expiry by ``GRACE`` seconds so late waiters learn ``expired`` rather
than "not found".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from gateway.clock import Clock
from gateway.config import ScanConfig
from gateway.errors import AccessDenied, Conflict, NotFound
from gateway.login.metrics import ScanMetrics
from gateway.login.scan_hub import Waiter, WaiterHub
from gateway.login.scan_ticket import (
    CONFIRMED,
    DENIED,
    EXPIRED,
    LIVE_STATES,
    PENDING,
    REDEEMED,
    SCANNED,
    Identity,
    Ticket,
    browser_summary,
    is_ticket_id,
    new_ticket_id,
    ticket_channel,
    ticket_key,
)
from gateway.metrics import Metrics
from gateway.store import Store
from gateway.tokens import TokenPair

__all__ = [
    "GRACE",
    "SCAN_AMR",
    "Identity",
    "NewTicket",
    "Redeemed",
    "ScanLogin",
    "SessionStarter",
    "Ticket",
    "TicketConflict",
]

GRACE = 600.0
SCAN_AMR = "wechat_scan"


class TicketConflict(Conflict):
    """409: the ticket is not in a state that allows this (``state`` says which it is in), or
    (``other_subject``) another account scanned it."""

    def __init__(self, state: str, *, other_subject: bool = False) -> None:
        text = "another account scanned this ticket" if other_subject else f"the ticket is {state}"
        super().__init__(text)
        self.state = state
        self.other_subject = other_subject


class SessionStarter(Protocol):
    """What ``redeem`` needs from the token service."""

    async def issue_session(
        self,
        sub: str,
        amr: list[str] | tuple[str, ...],
        *,
        appid: str | None = None,
        openid: str | None = None,
        unionid: str | None = None,
        scope: str | None = None,
    ) -> TokenPair: ...


@dataclass(frozen=True, slots=True)
class NewTicket:
    """A created ticket and the binding secret for the creating browser's cookie."""

    ticket: Ticket
    secret: str

    def __repr__(self) -> str:
        return f"NewTicket({self.ticket.id})"


@dataclass(frozen=True, slots=True)
class Redeemed:
    """The session a redeemed ticket opened, and where the browser asked to go."""

    tokens: TokenPair
    identity: Identity
    return_to: str | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _ts(value: float) -> str:
    return f"{value:.6f}"


def _flow(ticket: Ticket) -> str:
    return ticket.field("flow") or "scan"


class ScanLogin:
    """The scan-login service of one process (see module doc)."""

    def __init__(
        self,
        store: Store,
        config: ScanConfig,
        clock: Clock,
        metrics: Metrics,
        *,
        waiters_per_address: int = 50,
    ) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        self._metrics = metrics.of(ScanMetrics)
        self.hub = WaiterHub(store, clock, metrics, load=self.load, on_expire=self.expire,
                             max_waiters=config.max_waiters_per_ticket,
                             max_per_client=waiters_per_address)  # fmt: skip

    @property
    def config(self) -> ScanConfig:
        return self._config

    async def close(self) -> None:
        """Stop every waiter and release every subscription."""
        await self.hub.close()

    def watch(self, ticket_id: str, transport: str, client: str) -> Waiter:
        """A waiter (async context manager) on the ticket for the client address ``client``
        (capped per ticket and per address: ``TooManyWaiters``); NotFound for a malformed id."""
        if not is_ticket_id(ticket_id):
            raise NotFound("no such ticket")
        return self.hub.watch(ticket_id, transport, client)

    # -- PC side ------------------------------------------------------------------------

    async def create(
        self,
        *,
        pc_ip: str,
        user_agent: str,
        return_to: str | None,
        flow: str = "scan",
        ttl: float | None = None,
        extra: dict[str, str] | None = None,
    ) -> NewTicket:
        """A new pending ticket; the secret goes into the creating browser's cookie only.
        ``flow``, ``ttl`` (default ``scan.ticket_ttl``) and ``extra`` fields: follow-login."""
        now = self._clock.time()
        life = self._config.ticket_ttl if ttl is None else ttl
        secret = secrets.token_urlsafe(32)
        fields = {
            **(extra or {}), "state": PENDING, "created_at": _ts(now), "at": _ts(now),
            "expires_at": _ts(now + life), "bind": _hash(secret),
            "csrf": secrets.token_urlsafe(32), "pc_ip": pc_ip[:64],
            "pc_browser": browser_summary(user_agent[:512]), "return_to": return_to or "",
            "flow": flow,
        }  # fmt: skip
        while True:
            ticket_id = new_ticket_id()
            if await self._store.create_record(ticket_key(ticket_id), fields, life + GRACE):
                break  # a collision of 130 random bits: only in theory
        self._metrics.tickets.labels(flow, "created").inc()
        return NewTicket(Ticket(ticket_id, fields), secret)

    async def redeem(self, ticket_id: str, secret: str | None, issuer: SessionStarter) -> Redeemed:
        """Turn the confirmed ticket into a session, once, for the browser that created it."""
        ticket = await self.get(ticket_id)
        if not secret or not hmac.compare_digest(_hash(secret), ticket.field("bind")):
            raise AccessDenied("this browser did not create the ticket")
        await self._require(ticket, (CONFIRMED,))
        # The session first, the ticket used up second: if issuing fails (store, key ring),
        # the ticket stays confirmed and the page can redeem again. A redeemer losing the race
        # below drops its session unseen (its tokens never leave this process).
        identity = ticket.confirmed_identity()
        tokens = await issuer.issue_session(
            identity.sub, [SCAN_AMR],
            appid=identity.appid, openid=identity.openid, unionid=identity.unionid,
        )  # fmt: skip
        moved = await self._move(ticket, (CONFIRMED,), REDEEMED, {}, ttl=GRACE)
        self._metrics.tickets.labels(_flow(ticket), "redeemed").inc()
        return Redeemed(tokens, identity, moved.field("return_to") or None)

    # -- phone side ---------------------------------------------------------------------

    async def scan(self, ticket_id: str, scanner: Identity | None) -> Ticket:
        """pending → scanned (idempotent for the same phone); see module doc."""
        ticket = await self._phone_ticket(ticket_id)
        if ticket.effective_state(self._clock.time()) == SCANNED:
            self._check_subject(ticket, scanner)
            return ticket
        now = self._clock.time()
        expires_at = ticket.expires_at + self._config.scan_extend
        fields = {"scanned_at": _ts(now), "scanned_by": scanner.sub if scanner else "",
                  "expires_at": _ts(expires_at)}  # fmt: skip
        moved = await self._move(ticket, (PENDING,), SCANNED, fields, ttl=expires_at - now + GRACE)
        self._metrics.tickets.labels(_flow(ticket), "scanned").inc()
        self._metrics.time_to_scan.observe(max(0.0, now - ticket.created_at))
        return moved

    async def confirm(self, ticket_id: str, who: Identity) -> Ticket:
        """scanned → confirmed by ``who``; TicketConflict otherwise (see module doc)."""
        ticket = await self._phone_ticket(ticket_id)
        self._check_subject(ticket, who)
        fields = {
            "confirmed_at": _ts(self._clock.time()), "sub": who.sub, "amr": " ".join(who.amr),
            "appid": who.appid or "", "openid": who.openid or "", "unionid": who.unionid or "",
        }  # fmt: skip
        moved = await self._move(ticket, (SCANNED,), CONFIRMED, fields)
        self._metrics.tickets.labels(_flow(ticket), "confirmed").inc()
        scanned_at = float(ticket.field("scanned_at") or ticket.created_at)
        self._metrics.time_to_confirm.observe(max(0.0, self._clock.time() - scanned_at))
        return moved

    async def confirm_by_event(self, ticket: Ticket, who: Identity) -> Ticket:
        """pending → confirmed by ``who`` in one step (flow E: WeChat's scan event is the
        consent); TicketConflict when the ticket is not pending (used, expired)."""
        now = self._clock.time()
        fields = {
            "scanned_at": _ts(now), "confirmed_at": _ts(now), "sub": who.sub,
            "amr": " ".join(who.amr), "appid": who.appid or "", "openid": who.openid or "",
            "unionid": who.unionid or "",
        }  # fmt: skip
        moved = await self._move(ticket, (PENDING,), CONFIRMED, fields)
        self._metrics.tickets.labels(_flow(ticket), "confirmed").inc()
        self._metrics.time_to_scan.observe(max(0.0, now - ticket.created_at))
        return moved

    async def deny(self, ticket_id: str, who: Identity | None) -> Ticket:
        """pending|scanned → denied (the phone's user cancelled)."""
        ticket = await self._phone_ticket(ticket_id)
        self._check_subject(ticket, who)
        fields = {"denied_at": _ts(self._clock.time())}
        moved = await self._move(ticket, (PENDING, SCANNED), DENIED, fields, ttl=GRACE)
        self._metrics.tickets.labels(_flow(ticket), "denied").inc()
        return moved

    def csrf_token(self, ticket: Ticket, sid: str) -> str:
        """The confirm page's CSRF token: HMAC of the ticket and the phone's session id, keyed
        by a per-ticket secret kept in the record (so any replica can check it)."""
        key = ticket.field("csrf").encode()
        mac = hmac.new(key, f"scan-confirm|{ticket.id}|{sid}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()

    def check_csrf(self, ticket: Ticket, sid: str, token: str | None) -> None:
        """AccessDenied (403) unless ``token`` is this ticket's token for session ``sid``."""
        if not token or not hmac.compare_digest(self.csrf_token(ticket, sid), token):
            raise AccessDenied("missing or invalid CSRF token; reload the page")

    # -- reading and expiry -------------------------------------------------------------

    async def load(self, ticket_id: str) -> Ticket | None:
        """The ticket, or None when unknown or gone."""
        if not is_ticket_id(ticket_id):
            return None
        record = await self._store.get_record(ticket_key(ticket_id))
        return None if record is None else Ticket(ticket_id, record)

    async def get(self, ticket_id: str) -> Ticket:
        """The ticket; NotFound when unknown or gone."""
        ticket = await self.load(ticket_id)
        if ticket is None:
            raise NotFound("no such ticket (unknown, or expired long ago)")
        return ticket

    async def expire(self, ticket_id: str) -> Ticket | None:
        """Record the expiry of a live ticket past ``expires_at``; the ticket as it stands."""
        ticket = await self.load(ticket_id)
        if ticket is None or ticket.effective_state(self._clock.time()) != EXPIRED:
            return ticket
        if ticket.state == EXPIRED:
            return ticket
        result = await self._store.transition(
            ticket_key(ticket_id), from_states=(ticket.state,), to_state=EXPIRED,
            fields={"at": _ts(self._clock.time())}, ttl=GRACE, channel=ticket_channel(ticket_id),
        )  # fmt: skip
        if result.ok:
            self._metrics.tickets.labels(_flow(ticket), "expired").inc()
        return None if result.record is None else Ticket(ticket_id, result.record)

    # -- internals ----------------------------------------------------------------------

    async def _phone_ticket(self, ticket_id: str) -> Ticket:
        """A flow-D ticket for the phone's pages; a follow-login ticket is moved by WeChat's
        signed event only, so for them it does not exist (NotFound)."""
        ticket = await self.get(ticket_id)
        if _flow(ticket) != "scan":
            raise NotFound("no such ticket (unknown, or expired long ago)")
        return ticket

    def _check_subject(self, ticket: Ticket, who: Identity | None) -> None:
        bound = ticket.field("scanned_by")
        if bound and who is not None and who.sub != bound:
            raise TicketConflict(ticket.state, other_subject=True)

    async def _require(self, ticket: Ticket, allowed: Collection[str]) -> float:
        """The time now; TicketConflict unless the ticket is in one of ``allowed`` (an expiry
        noticed here is recorded, once)."""
        now = self._clock.time()
        state = ticket.effective_state(now)
        if state not in allowed:
            if state == EXPIRED and ticket.state in LIVE_STATES:
                await self.expire(ticket.id)
            raise TicketConflict(state)
        return now

    async def _move(
        self,
        ticket: Ticket,
        allowed: Collection[str],
        to_state: str,
        fields: dict[str, str],
        ttl: float | None = None,
    ) -> Ticket:
        """One atomic transition from the state just read (which must be in ``allowed``)."""
        now = await self._require(ticket, allowed)
        result = await self._store.transition(
            ticket_key(ticket.id), from_states=(ticket.state,), to_state=to_state,
            fields={**fields, "at": _ts(now)}, ttl=ttl, unexpired_at=now,
            channel=ticket_channel(ticket.id),
        )  # fmt: skip
        if result.ok and result.record is not None:
            return Ticket(ticket.id, result.record)
        if result.record is None:
            raise NotFound("no such ticket (unknown, or expired long ago)")
        raise TicketConflict(Ticket(ticket.id, result.record).effective_state(now))

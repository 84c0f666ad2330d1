"""The demo relying party's state, in memory: its clients, each browser's RP session (logins
started, the login, the logout ``state``), the back-channel logouts received."""

from __future__ import annotations

import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.clock import Clock
from gateway.config import Config
from gateway.simulator.rp.provider import OpError, Provider, RpClient

__all__ = [
    "RP",
    "RP_COOKIE",
    "BackchannelRecord",
    "BrowserSession",
    "DemoRelyingParty",
    "Login",
    "Pending",
]

RP_COOKIE = "sim_rp"
_MAX_SESSIONS = 1000


@dataclass(frozen=True, slots=True)
class Pending:
    """A login this browser started: what its callback must match."""

    client_id: str
    nonce: str
    verifier: str
    started: float


@dataclass(frozen=True, slots=True)
class Login:
    """The person logged in to the RP: what the provider said."""

    client_id: str
    id_token: str
    claims: dict[str, Any]
    userinfo: dict[str, Any]


@dataclass(slots=True)
class BrowserSession:
    """One browser's RP session."""

    pending: OrderedDict[str, Pending] = field(default_factory=OrderedDict)
    login: Login | None = None
    logout_state: str | None = None
    notice: tuple[str, str] | None = None  # (css class, text), shown once


@dataclass(frozen=True, slots=True)
class BackchannelRecord:
    """One logout token accepted."""

    at: float
    client_id: str
    sub: str | None
    sid: str | None
    ended: int  # RP sessions it ended


class DemoRelyingParty:
    """The RP's state: its clients, the browsers' sessions, the back-channel log."""

    def __init__(self, config: Config, clock: Clock, prefix: str) -> None:
        self.path = prefix.rstrip("/")
        self.base = config.public_url + self.path
        self.callback_url = f"{self.base}/callback"
        self.clients = {
            c.client_id: RpClient.of(c, self.base)
            for c in config.oidc.clients
            if self.callback_url in c.redirect_uris
        }
        self.clock = clock
        self.secure = config.cookie_secure
        self.public_url = config.public_url
        self.issuer = config.issuer
        self.sessions: OrderedDict[str, BrowserSession] = OrderedDict()
        self.backchannel: deque[BackchannelRecord] = deque(maxlen=10)
        self._op: Provider | None = None

    @property
    def op(self) -> Provider:
        if self._op is None:
            raise OpError("the demo relying party is not started")
        return self._op

    def session(self, request: web.Request, *, create: bool) -> tuple[str, BrowserSession | None]:
        """This browser's session (a new one when ``create``) and its cookie value."""
        key = request.cookies.get(RP_COOKIE, "")
        found = self.sessions.get(key)
        if found is not None:
            self.sessions.move_to_end(key)
            return key, found
        if not create:
            return "", None
        key = secrets.token_urlsafe(32)
        self.sessions[key] = found = BrowserSession()
        while len(self.sessions) > _MAX_SESSIONS:
            self.sessions.popitem(last=False)
        return key, found

    def end_sessions(self, client_id: str, sub: str | None, sid: str | None) -> int:
        """End the RP sessions of ``client_id`` with this ``sid`` (else ``sub``)."""
        ended = 0
        for session in self.sessions.values():
            login = session.login
            if login is None or login.client_id != client_id:
                continue
            if (sid and login.claims.get("sid") == sid) or (not sid and login.claims["sub"] == sub):
                session.login = None
                session.notice = ("notice", "The provider ended this session (back-channel).")
                ended += 1
        return ended

    def attach(self, op: Provider | None) -> None:
        """The provider client while the application runs (None once it stops)."""
        self._op = op


RP = web.AppKey("demo_relying_party", DemoRelyingParty)

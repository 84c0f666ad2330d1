"""Simulated server access tokens: ``cgi-bin/token`` and ``cgi-bin/stable_token``.

reference §5.7: each classic call issues a new token and the previous one dies 5 minutes
later; a daily counter gives 45009; an IP allow-list gives 40164; a wrong secret 40125/40001.
reference §5.8 (§2.13): the stable token is isolated from the classic one; normal mode returns
the same token while it has more than 300 s left and a new one in its last 300 s (both valid
meanwhile); ``force_refresh`` kills the previous token at once, at most 20 a day and at least
30 s apart (closer calls change nothing). reference §5.9: consuming APIs answer 42001 for an
expired token and 40001 for a superseded one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from gateway.clock import Clock
from gateway.simulator.model import AppRegistry, SimError, SimOptions, random_token

__all__ = ["ServerTokens"]

_GRACE = 300.0  # §2.12: the previous classic token lives 5 more minutes
_LAST_MINUTES = 300.0  # §2.13: stable tokens renew in their last 5 minutes
_FORCE_SPACING = 30.0  # §2.13
_DAY = 86400


@dataclass(slots=True)
class _Token:
    value: str
    appid: str
    expires_at: float
    dead_at: float | None = None


class ServerTokens:
    """Issues and validates server tokens for every simulated app."""

    def __init__(self, apps: AppRegistry, clock: Clock, options: SimOptions) -> None:
        self._apps = apps
        self._clock = clock
        self._options = options
        self._tokens: dict[str, _Token] = {}
        self._classic: dict[str, _Token] = {}
        self._stable: dict[str, _Token] = {}
        self._daily: dict[tuple[str, str, int], int] = {}
        self._last_force: dict[str, float] = {}

    def classic(self, params: dict[str, str], remote: str) -> dict[str, Any]:
        """``GET cgi-bin/token`` (reference §2.12)."""
        self._check_ip(remote)
        if params.get("grant_type") != "client_credential":
            raise SimError(40002, "invalid grant_type")
        app = self._apps.authenticate(params.get("appid"), params.get("secret"))
        self._count(app.appid, "classic", self._options.classic_token_daily_quota)
        now = self._clock.time()
        previous = self._classic.get(app.appid)
        if previous is not None and previous.dead_at is None:
            previous.dead_at = now + _GRACE
        token = self._new(app.appid)
        self._classic[app.appid] = token
        return {"access_token": token.value, "expires_in": int(token.expires_at - now)}

    def stable(self, body: Any, remote: str) -> dict[str, Any]:
        """``POST cgi-bin/stable_token`` with an already-parsed JSON body (reference §2.13)."""
        self._check_ip(remote)
        if not isinstance(body, dict):
            raise SimError(41002, "appid missing")
        if body.get("grant_type") != "client_credential":
            raise SimError(40002, "invalid grant_type")
        app = self._apps.authenticate(body.get("appid"), body.get("secret"))
        current = self._stable.get(app.appid)
        if body.get("force_refresh") is True:
            token = self._force(app.appid, current)
        elif current is not None and self._alive(current, margin=_LAST_MINUTES):
            token = current
        else:
            token = self._new(app.appid)  # the previous one stays valid until it expires
        self._stable[app.appid] = token
        return {"access_token": token.value, "expires_in": int(token.expires_at - self._now())}

    def validate(self, access_token: str | None) -> str:
        """The appid of a usable token, else 41001/40001/42001 (reference §5.9)."""
        if not access_token:
            raise SimError(41001, "access_token missing")
        token = self._tokens.get(access_token)
        now = self._now()
        if token is None or (token.dead_at is not None and now >= token.dead_at):
            raise SimError(40001, "invalid credential, access_token is invalid or not latest")
        if now >= token.expires_at:
            raise SimError(42001, "access_token expired")
        return token.appid

    def _force(self, appid: str, current: _Token | None) -> _Token:
        now = self._now()
        last = self._last_force.get(appid)
        too_soon = last is not None and now - last < _FORCE_SPACING
        if current is not None and too_soon and self._alive(current, margin=0.0):
            return current  # too soon: no refresh (§2.13)
        self._count(appid, "force", self._options.stable_force_daily)
        self._last_force[appid] = now
        if current is not None:
            current.dead_at = now
        return self._new(appid)

    def _new(self, appid: str) -> _Token:
        self._purge()
        value = f"{secrets.randbelow(90) + 10}_{random_token(150)}"  # §1.6: long, opaque
        token = _Token(value, appid, self._now() + self._options.token_ttl)
        self._tokens[value] = token
        return token

    def _alive(self, token: _Token, *, margin: float) -> bool:
        now = self._now()
        dead = token.dead_at is not None and now >= token.dead_at
        return not dead and now < token.expires_at - margin

    def _count(self, appid: str, kind: str, quota: int) -> None:
        key = (appid, kind, int(self._now() // _DAY))
        self._daily[key] = self._daily.get(key, 0) + 1
        if self._daily[key] > quota:
            raise SimError(45009, "reach max api daily quota limit")

    def _check_ip(self, remote: str) -> None:
        allow = self._options.ip_allowlist
        if allow and remote not in allow:
            raise SimError(40164, f"invalid ip {remote} ipv6 ::ffff:{remote}, not in whitelist")

    def _purge(self) -> None:
        if len(self._tokens) < 1000:
            return
        now = self._now()
        for value, token in list(self._tokens.items()):
            if now >= token.expires_at or (token.dead_at is not None and now >= token.dead_at):
                del self._tokens[value]

    def _now(self) -> float:
        return self._clock.time()

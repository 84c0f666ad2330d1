"""Flows A (website QR, ``qrconnect``) and B (official account inside WeChat's browser).

Both are OAuth 2 authorization-code flows against WeChat (reference §2.1-§2.7):

``begin``: a fresh ``state`` (190 bits, ``[A-Za-z0-9]``, reference §6.8) is stored for
``login.state_ttl`` seconds, bound to this browser by the hash of a binding cookie, with the
validated ``return_to``; the caller redirects to WeChat.

``complete``: the callback's state must exist, belong to this browser and this flow, and is
used once. The code is exchanged **exactly once** (reference §6.1): concurrent duplicate
callbacks (double submit, reload) share one exchange — in-process through a ``SingleFlight`` on
the code's hash (one task, which a browser that goes away does not cancel), across replicas
through a Store claim on the same hash: the claim's winner leaves the resulting session sealed
under a key derived from the code, so only a holder of the same code can read it, and the
losers poll for it (backing off) until the claim's budget is spent. A callback with state but
no code means the user refused (reference §2.1/§7).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from gateway.clock import Clock
from gateway.config import Config, WeChatAppConfig
from gateway.errors import GatewayError, InvalidGrant, InvalidRequest, NotFound
from gateway.login.identity import SessionIssuer
from gateway.login.metrics import LoginMetrics
from gateway.login.returnto import safe_return_to
from gateway.metrics import Metrics
from gateway.sealed import SealError, open_with_secret, seal_with_secret
from gateway.singleflight import SingleFlight
from gateway.store import Store
from gateway.users import Identity, Profile
from gateway.wechat import WeChatClient, authorize_url, qrconnect_url, widget_params

__all__ = ["Flow", "LoginDenied", "LoginDone", "LoginStart", "OAuthFlows", "SnapshotUser"]

Flow = Literal["web", "mp"]
_KIND: dict[str, str] = {"web": "website", "mp": "official_account"}
_AMR: dict[str, str] = {"web": "wechat_qr", "mp": "wechat_mp"}
_ALPHABET = string.ascii_letters + string.digits
_SEAL_PURPOSE = b"wxgate oauth code result v1"
log = logging.getLogger("gateway.login")


@dataclass(frozen=True, slots=True)
class LoginStart:
    """Where to send the browser; ``widget`` holds wxLogin.js options for ``mode=embed``."""

    redirect_url: str
    state: str
    widget: dict[str, str | bool | int] | None = None


@dataclass(frozen=True, slots=True)
class LoginDone:
    access_token: str
    refresh_token: str
    expires_in: int
    return_to: str
    sub: str

    def __repr__(self) -> str:
        return f"LoginDone(sub={self.sub!r}, return_to={self.return_to!r})"


class LoginDenied(Exception):
    """The user refused on WeChat's page; ``retry_url`` starts again."""

    def __init__(self, retry_url: str) -> None:
        super().__init__("login refused by the user")
        self.retry_url = retry_url


class SnapshotUser(Exception):
    """WeChat's snapshot mode gave virtual ids (reference §2.3, §6.10): no account is made."""

    def __init__(self, retry_url: str) -> None:
        super().__init__("snapshot-mode user")
        self.retry_url = retry_url


def binding_hash(binding: str) -> str:
    return hashlib.sha256(binding.encode()).hexdigest()


class OAuthFlows:
    """Flows A and B; no web framework here (server.login adapts it)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        wechat: WeChatClient,
        sessions: SessionIssuer,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self._config = config
        self._store = store
        self._wechat = wechat
        self._sessions = sessions
        self._metrics = metrics.of(LoginMetrics)
        self._clock = clock
        self._exchanges: SingleFlight[str, LoginDone] = SingleFlight(name="oauth-exchange")

    async def close(self) -> None:
        """Cancel code exchanges still running (call on shutdown)."""
        await self._exchanges.close()

    def app_for(self, flow: Flow) -> tuple[str, WeChatAppConfig]:
        """The configured app serving ``flow``; 404 when none is configured."""
        preferred = self._config.login.web_app if flow == "web" else self._config.login.mp_app
        found = self._config.app_named(_KIND[flow], preferred)
        if found is None:
            raise NotFound(f"no WeChat {_KIND[flow]} app is configured")
        return found

    def callback_url(self, flow: Flow) -> str:
        return f"{self._config.public_url}/auth/wechat/{flow}/callback"

    def login_url(self, flow: Flow, return_to: str, *, force_popup: bool = False) -> str:
        from urllib.parse import quote

        extra = "&force_popup=1" if force_popup else ""
        return f"/auth/wechat/{flow}/login?return_to={quote(return_to, safe='')}{extra}"

    async def begin(
        self, flow: Flow, return_to: str | None, binding: str, *, embed: bool = False,
        force_popup: bool = False,
    ) -> LoginStart:  # fmt: skip
        """Store a fresh state bound to ``binding`` and build WeChat's authorize URL."""
        name, app = self.app_for(flow)
        state = "".join(secrets.choice(_ALPHABET) for _ in range(32))
        login = self._config.login
        target = safe_return_to(return_to, login.allowed_return_origins, login.default_return_to)
        fields = {"state": "pending", "flow": flow, "app": name, "return_to": target,
                  "binding": binding_hash(binding)}  # fmt: skip
        await self._store.create_record(f"oauth:state:{state}", fields, login.state_ttl)
        redirect_uri = self.callback_url(flow)
        base = self._config.wechat.open_base
        if flow == "web":
            url = qrconnect_url(base, app.appid, redirect_uri, state)
            widget = widget_params("wxgate-qr", app.appid, redirect_uri, state) if embed else None
            return LoginStart(url, state, widget)
        scope: Literal["snsapi_base", "snsapi_userinfo"] = (
            "snsapi_base" if app.scope == "snsapi_base" else "snsapi_userinfo"
        )
        url = authorize_url(base, app.appid, redirect_uri, scope, state, force_popup=force_popup)
        return LoginStart(url, state)

    async def complete(
        self, flow: Flow, code: str | None, state: str | None, binding: str | None
    ) -> LoginDone:
        """Check state and browser, exchange the code once, link the user, issue a session.
        A failure (unknown, expired or foreign state, the user's refusal, a WeChat error) is
        reported to the session issuer's failure listeners (the audit trail), then raised."""
        appid = ""
        try:
            record = await self._checked_state(flow, state, binding)
            appid = self._appid(record.get("app", ""))
            return await self._complete(flow, code, state, record)
        except LoginDenied:
            await self._sessions.failed(_AMR[flow], appid, "access_denied")
            raise
        except SnapshotUser:
            await self._sessions.failed(_AMR[flow], appid, "snapshot_user")
            raise
        except GatewayError as exc:
            await self._sessions.failed(_AMR[flow], appid, exc.error)
            raise

    def _appid(self, name: str) -> str:
        app = self._config.wechat.apps.get(name)
        return app.appid if app is not None else ""

    async def _complete(
        self, flow: Flow, code: str | None, state: str | None, record: dict[str, str]
    ) -> LoginDone:
        if not code:
            await self._store.transition(
                f"oauth:state:{state}", from_states=("pending",), to_state="denied"
            )
            self._count(flow, record["app"], "denied")
            raise LoginDenied(self.login_url(flow, record["return_to"]))
        if len(code) > 512:
            raise InvalidRequest("code is too long")
        return await self._single_flight(code, lambda: self._exchange(flow, code, state, record))

    async def _checked_state(
        self, flow: Flow, state: str | None, binding: str | None
    ) -> dict[str, str]:
        if not state or len(state) > 128:
            raise InvalidRequest("state is missing; start the login again")
        record = await self._store.get_record(f"oauth:state:{state}")
        if record is None or record.get("flow") != flow:
            raise InvalidGrant("login state unknown or expired; start again")
        expected = record.get("binding", "")
        if not binding or not hmac.compare_digest(binding_hash(binding), expected):
            raise InvalidGrant("this login was started in another browser; start again")
        return record

    async def _single_flight(
        self, code: str, work: Callable[[], Awaitable[LoginDone]]
    ) -> LoginDone:
        key = hashlib.sha256(code.encode()).hexdigest()
        return await self._exchanges.run(key, lambda: self._claim_or_wait(key, code, work))

    async def _claim_or_wait(
        self, key: str, code: str, work: Callable[[], Awaitable[LoginDone]]
    ) -> LoginDone:
        wechat = self._config.wechat
        # the claim outlives the winner's worst case: every attempt of the exchange and of
        # userinfo timing out, plus the backoffs in between
        budget = 2 * wechat.timeout * (wechat.max_retries + 1) + 5
        claimed = await self._store.set(f"oauth:code:{key}", "claimed", budget, only_if_absent=True)
        if not claimed:
            return await self._wait_for_result(key, code, budget)
        try:
            done = await work()
        except Exception:
            await self._store.set(f"oauth:result:{key}", "!failed", 60)
            raise
        payload = json.dumps(
            [done.access_token, done.refresh_token, done.expires_in, done.return_to, done.sub]
        ).encode()
        await self._store.set(
            f"oauth:result:{key}", seal_with_secret(code, _SEAL_PURPOSE, payload), 60
        )
        return done

    async def _wait_for_result(self, key: str, code: str, budget: float) -> LoginDone:
        deadline = self._clock.monotonic() + budget
        delay = 0.02  # a duplicate callback is rare: poll, backing off to 0.5 s
        while self._clock.monotonic() < deadline:
            sealed = await self._store.get(f"oauth:result:{key}")
            if sealed is not None:
                return self._open_result(code, sealed)
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        raise InvalidGrant("login code invalid or already used; start again")

    def _open_result(self, code: str, sealed: str) -> LoginDone:
        if sealed.startswith("!"):
            raise InvalidGrant("login code invalid or already used; start again")
        try:
            access, refresh, expires_in, return_to, sub = json.loads(
                open_with_secret(code, _SEAL_PURPOSE, sealed)
            )
        except (SealError, ValueError) as exc:
            raise InvalidGrant("login code invalid or already used; start again") from exc
        return LoginDone(access, refresh, int(expires_in), return_to, sub)

    async def _exchange(
        self, flow: Flow, code: str, state: str | None, record: dict[str, str]
    ) -> LoginDone:
        moved = await self._store.transition(
            f"oauth:state:{state}", from_states=("pending",), to_state="used"
        )
        if not moved.ok:
            raise InvalidGrant("login state already used; start again")
        name = record["app"]
        try:
            done = await self._login(flow, name, code, record["return_to"])
        except GatewayError as exc:
            self._count(flow, name, exc.error)
            raise
        self._count(flow, name, "success")
        return done

    async def _login(self, flow: Flow, name: str, code: str, return_to: str) -> LoginDone:
        app = self._config.wechat.apps[name]
        token = await self._wechat.exchange_code(name, code)
        if token.is_snapshotuser:
            self._count(flow, name, "snapshot_user")
            raise SnapshotUser(self.login_url(flow, return_to, force_popup=True))
        unionid, profile = token.unionid, None
        if token.scopes & {"snsapi_userinfo", "snsapi_login"}:
            info = await self._wechat.userinfo(name, token.access_token, token.openid)
            unionid = unionid or info.unionid
            profile = Profile(nickname=info.nickname or None, avatar_url=info.headimgurl or None)
        identity = Identity(name, app.appid, token.openid, unionid)
        pair, user = await self._sessions.login(identity, profile, _AMR[flow])
        return LoginDone(
            pair.access_token, pair.refresh_token, pair.expires_in, return_to, user.sub
        )

    def _count(self, flow: Flow, app: str, result: str) -> None:
        self._metrics.logins.labels(flow, app, result).inc()

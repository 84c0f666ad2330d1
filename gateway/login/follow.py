"""Flow E, follow-the-official-account login: parametric QR tickets and who scanned them.

A PC asks for a follow-login ticket (``create``): a fresh random ``scene_str`` per login, a
temporary parametric QR from ``cgi-bin/qrcode/create`` made with the shared single-flight server
access token (reference §2.15, §6.6), and a scan-login ticket (``ScanLogin``, ``flow=follow``)
whose lifetime is the QR's ``expire_seconds``, bound to the creating browser like any ticket.
The scene maps to the ticket in the Store (``follow:scene:<appid>:<scene>``), so any replica
receiving WeChat's push finds it.

When WeChat pushes ``subscribe``/``SCAN`` for that scene (``login.follow_push`` verifies it),
``confirm`` runs after the push was answered: ``cgi-bin/user/info`` gives the follower's unionid
when the account is bound to an Open Platform account (kept a day in the Store: an openid's
unionid never changes), the identity is linked unionid-first
(``users.link``, as flows A-D), and the ticket moves pending → confirmed in one step (the scan
in WeChat is the consent). The waiting PC learns it over its WebSocket / SSE / long-poll and
redeems the ticket once, as in flow D.

An unverified account gets 48001 from ``qrcode/create`` (reference §2.15): ``create`` answers
503 ``follow_login_unavailable`` (``wxgate_wechat_config_errors_total{errcode="48001"}``
counts it, and the WeChat-config alert fires).
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from gateway.clock import Clock
from gateway.config import Config, WeChatAppConfig
from gateway.errors import GatewayError, NotFound, TemporarilyUnavailable
from gateway.login.identity import SessionIssuer
from gateway.login.metrics import LoginMetrics
from gateway.login.scan import NewTicket, ScanLogin
from gateway.login.scan_ticket import PENDING, Identity, Ticket
from gateway.metrics import Metrics
from gateway.store import Store
from gateway.users import Identity as UserIdentity
from gateway.wechat import WeChatClient, WeChatError, wechat_cause

__all__ = ["FOLLOW_AMR", "FollowLogin", "FollowLoginUnavailable", "scene_key"]

log = logging.getLogger("gateway.follow")
FOLLOW_AMR = "wechat_follow"
MIN_QR_SECONDS = 60  # §2.15: WeChat's own default and the shortest sensible lifetime
UNIONID_TTL = 86400.0


class FollowLoginUnavailable(TemporarilyUnavailable):
    """503: WeChat refuses parametric QR codes for this account (48001: not verified)."""

    error = "follow_login_unavailable"
    default_description = (
        "follow-login is unavailable: WeChat refuses parametric QR codes for this official "
        "account (errcode 48001, the account is not a verified service account)"
    )


def scene_key(appid: str, scene: str) -> str:
    return f"follow:scene:{appid}:{scene}"


class FollowLogin:
    """Follow-login tickets of one process (see module doc)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        wechat: WeChatClient,
        scan: ScanLogin,
        sessions: SessionIssuer,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._config = config
        self._store = store
        self._wechat = wechat
        self._scan = scan
        self._sessions = sessions
        self._clock = clock
        self._logins = metrics.of(LoginMetrics)
        self._tasks: set[asyncio.Task[None]] = set()

    def apps(self) -> list[str]:
        """The names of the apps offering follow-login."""
        return [n for n, a in self._config.wechat.apps.items() if _follows(a)]

    def app(self, name: str | None) -> tuple[str, WeChatAppConfig]:
        """The follow-login app called ``name`` (else the first); NotFound when there is none."""
        for app_name, app in self._config.wechat.apps.items():
            if _follows(app) and name in (None, "", app_name):
                return app_name, app
        raise NotFound("follow-login is not configured for this app")

    async def create(
        self, app_name: str | None, *, pc_ip: str, user_agent: str, return_to: str | None
    ) -> NewTicket:
        """A pending follow-login ticket whose ``qr_url`` field is the QR's content."""
        name, app = self.app(app_name)
        scene = secrets.token_urlsafe(24)  # 192 random bits, 32 characters: never a constant
        wanted = max(MIN_QR_SECONDS, self._config.scan.ticket_ttl)
        try:
            qr = await self._wechat.create_qrcode(name, scene, wanted)
        except GatewayError as exc:
            cause = wechat_cause(exc)
            if isinstance(cause, WeChatError) and cause.errcode == 48001:
                raise FollowLoginUnavailable() from exc
            raise
        created = await self._scan.create(
            pc_ip=pc_ip, user_agent=user_agent, return_to=return_to, flow="follow",
            ttl=float(qr.expire_seconds), extra={"app": name, "qr_url": qr.url},
        )  # fmt: skip
        await self._store.set(scene_key(app.appid, scene), created.ticket.id, qr.expire_seconds)
        return created

    async def ticket_for(self, appid: str, scene: str) -> Ticket | None:
        """The pending ticket a scene belongs to; None for an unknown scene or a ticket
        already confirmed, used or expired (then the push logs nobody in)."""
        if not 0 < len(scene) <= 64:
            return None
        ticket_id = await self._store.get(scene_key(appid, scene))
        ticket = None if ticket_id is None else await self._scan.load(ticket_id)
        if ticket is None or ticket.effective_state(self._clock.time()) != PENDING:
            return None
        return ticket

    def confirm_later(self, app_name: str, ticket: Ticket, openid: str) -> None:
        """Run ``confirm`` after the push was answered (WeChat waits 5 s at most, §2.15)."""
        task = asyncio.get_running_loop().create_task(
            self.confirm(app_name, ticket, openid), name="wxgate-follow-confirm"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def confirm(self, app_name: str, ticket: Ticket, openid: str) -> None:
        """Who scanned (``cgi-bin/user/info``), linked unionid-first, confirms the ticket (the
        pending ticket as ``ticket_for`` read it: the transition checks it is still so)."""
        app = self._config.wechat.apps[app_name]
        try:
            unionid = await self._unionid(app_name, app.appid, openid)
            identity = UserIdentity(app_name, app.appid, openid, unionid)
            user, created = await self._sessions.users.link(identity, None)
            if created:
                self._logins.users_created.inc()
            who = Identity(user.sub, (FOLLOW_AMR,), app.appid, openid, unionid or user.unionid)
            await self._scan.confirm_by_event(ticket, who)
        except GatewayError as exc:
            log.warning("follow: confirming failed app=%s error=%s", app_name, exc.error)
            self._logins.logins.labels("follow", app_name, exc.error).inc()
            return
        self._logins.logins.labels("follow", app_name, "success").inc()

    async def _unionid(self, app_name: str, appid: str, openid: str) -> str | None:
        """The follower's unionid: ``cgi-bin/user/info`` once, then the Store for a day (an
        openid's unionid never changes; without one, WeChat is asked every time, so binding
        the account to an Open Platform account later is noticed at the next scan)."""
        key = f"follow:unionid:{appid}:{openid}"
        cached = await self._store.get(key)
        if cached:
            return cached
        follower = await self._wechat.follower(app_name, openid)
        if follower.unionid:
            await self._store.set(key, follower.unionid, UNIONID_TTL)
        return follower.unionid

    async def drain(self) -> None:
        """Wait for confirmations in progress (tests, benchmarks)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Finish confirmations in progress (each is short), then stop."""
        await self.drain()


def _follows(app: WeChatAppConfig) -> bool:
    return app.kind == "official_account" and app.follow_login and bool(app.server_token)

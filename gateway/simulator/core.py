"""``Simulator``: the whole simulated WeChat state behind one object (no HTTP here).

Tests running the simulator in-process drive it through these methods; the same operations are
available over HTTP through the control API (``gateway.simulator.control``).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable
from typing import Any

from gateway.clock import Clock, SystemClock
from gateway.simulator.faults import Fault, FaultBook, FaultKind
from gateway.simulator.follow import FollowService
from gateway.simulator.mini import MiniService
from gateway.simulator.model import (
    DEFAULT_SEED,
    AppKind,
    AppRegistry,
    CodeBook,
    Identities,
    SimApp,
    SimError,
    SimOptions,
)
from gateway.simulator.oauth import OAuthService
from gateway.simulator.server_tokens import ServerTokens
from gateway.simulator.wxacode import WxaCodes

__all__ = ["Simulator"]

_CONTENT_TYPES = (  # reference §1.3/§5.2: what WeChat has been seen sending for JSON
    "application/json; encoding=utf-8",
    "text/plain",
    "text/plain; charset=ISO-8859-1",
    "application/json",
)


class Simulator:
    """Simulated WeChat: apps of one Open Platform account, people by name, codes, tokens.

    ``apps`` are ``SimApp``s or ``(appid, secret, kind)`` tuples. ``public_prefix`` is the
    absolute URL browsers reach the simulator at; empty means "derive from each request".
    """

    def __init__(
        self,
        apps: Iterable[SimApp | tuple[str, str, str]],
        clock: Clock | None = None,
        *,
        public_prefix: str = "",
        seed: bytes = DEFAULT_SEED,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.public_prefix = public_prefix.rstrip("/")
        self.options = SimOptions()
        self.faults = FaultBook()
        self.ids = Identities(seed)
        self.apps = AppRegistry([_as_app(a) for a in apps], self.options)
        self.codes = CodeBook(self.clock, self.options)
        self.server_tokens = ServerTokens(self.apps, self.clock, self.options)
        self.oauth = OAuthService(self.apps, self.ids, self.codes, self.clock, self.options)
        self.mini = MiniService(
            self.apps, self.ids, self.codes, self.server_tokens, self.clock, self.options
        )
        self.wxacodes = WxaCodes(self.server_tokens, self.options)
        self.follow = FollowService(
            self.apps, self.ids, self.server_tokens, self.clock, self.options
        )
        self.background: set[asyncio.Task[Any]] = set()  # slow answers still in progress
        self._answers = 0
        self._errors = 0

    # ------------------------------------------------------------------ test controls

    def add_fault(
        self,
        api: str,
        kind: FaultKind,
        *,
        times: int = 1,
        errcode: int = -1,
        errmsg: str = "",
        seconds: float = 0.0,
        status: int = 503,
    ) -> Fault:
        """Inject a fault (see ``gateway.simulator.faults``); returns it."""
        fault = Fault(api, kind, times, errcode, errmsg, seconds, status)
        self.faults.add(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def calls(self, api: str) -> int:
        """Requests received so far for ``api`` (path or last segment), faulted ones included."""
        return self.faults.count(api)

    def reset_calls(self) -> None:
        self.faults.calls.clear()

    def set_options(self, **changes: Any) -> None:
        """Flip ``SimOptions`` switches; KeyError/TypeError on unknown names or bad types."""
        self.options.update(changes)

    # ------------------------------------------------------------------ the simulated phone

    def authorize(self, appid: str, user: str, scope: str = "snsapi_login") -> str:
        """The OAuth code ``user`` gets by allowing ``appid`` on the consent page."""
        return self.oauth.authorize(appid, user, scope)

    def mint_js_code(self, appid: str, user: str, *, session_key: str | None = None) -> str:
        """``wx.login()`` in the mini program ``appid`` for ``user`` (rotates session_key)."""
        return self.mini.wx_login(appid, user, session_key)

    def mint_phone_code(self, appid: str, user: str, phone: str, country_code: str = "86") -> str:
        """The ``getPhoneNumber`` button's code for ``user`` with ``phone``."""
        return self.mini.phone_code(appid, user, phone, country_code)

    def openid(self, appid: str, user: str) -> str:
        return self.ids.openid(appid, user)

    def unionid(self, user: str) -> str:
        return self.ids.unionid(user)

    def session_key(self, appid: str, user: str) -> str | None:
        return self.mini.session_key(appid, user)

    # ------------------------------------------------------------------ answer formatting

    def error_body(self, error: SimError) -> dict[str, Any]:
        """``{"errcode", "errmsg"}`` with a rid in one of WeChat's formats (reference §1.4)."""
        return {"errcode": error.errcode, "errmsg": self._with_rid(error.errmsg)}

    def json_content_type(self) -> str:
        """The next Content-Type for a JSON answer (rotating, reference §5.2)."""
        self._answers += 1
        if not self.options.rotate_content_types:
            return "application/json"
        return _CONTENT_TYPES[self._answers % len(_CONTENT_TYPES)]

    def _with_rid(self, errmsg: str) -> str:
        # rid: three 8-hex groups, the first the Unix time (reference §1.4).
        rid = f"{int(self.clock.time()) & 0xFFFFFFFF:08x}-{secrets.token_hex(4)}-"
        rid += secrets.token_hex(4)
        self._errors += 1
        n = self._errors
        if n % 7 == 0:  # the older form, hint only
            return f"{errmsg} hint: [{secrets.token_urlsafe(10)[:14]}]"
        if n % 5 == 0:
            return f"{errmsg} hint: [{secrets.token_urlsafe(10)[:14]}] rid: {rid}"
        if n % 3 == 0:
            return f"{errmsg} rid: {rid}"
        return f"{errmsg}, rid: {rid}"


def _as_app(app: SimApp | tuple[str, str, str]) -> SimApp:
    if isinstance(app, SimApp):
        return app
    appid, secret, kind = app
    if kind not in ("website", "official_account", "miniprogram"):
        raise ValueError(f"unknown app kind {kind!r}")
    k: AppKind = kind  # type: ignore[assignment]
    return SimApp(appid, secret, k)

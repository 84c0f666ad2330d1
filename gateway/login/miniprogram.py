"""Flow C: mini-program login with the ``wx.login()`` code (reference §2.8-§2.11).

``login``: jscode2session → link the user → a gateway session. The ``session_key`` never
leaves the server (reference §6.5): it is stored sealed (AES-256-GCM with the configured
``wechat.session_key_encryption_key``, bound to appid and openid as associated data), replaced
at each login, and used only by ``decrypt`` (legacy ``encryptedData``, watermark appid checked,
``rawData`` signature compared in constant time) and kept for ``checksession``.
``phone``: ``getuserphonenumber`` with the button's code (not the wx.login code, §2.10); the
phone is linked to the user.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gateway.config import Config, WeChatAppConfig
from gateway.errors import (
    AccessDenied,
    GatewayError,
    InvalidRequest,
    NotFound,
    ServerError,
)
from gateway.login.identity import SessionIssuer
from gateway.login.metrics import LoginMetrics
from gateway.metrics import Metrics
from gateway.sealed import Sealer, SealError
from gateway.store import Store
from gateway.tokens import AccessClaims, TokenPair
from gateway.users import Identity, User
from gateway.wechat import (
    SessionKeyStale,
    WeChatClient,
    check_raw_signature,
    decrypt_open_data,
)

__all__ = ["MiniProgramLogin", "MiniProgramSession"]

log = logging.getLogger("gateway.login")
_AMR = "wechat_mini"


@dataclass(frozen=True, slots=True)
class MiniProgramSession:
    pair: TokenPair
    user: User
    openid: str
    unionid: str | None

    def __repr__(self) -> str:
        return f"MiniProgramSession(sub={self.user.sub!r})"


class MiniProgramLogin:
    """Flow C; no web framework here (server.login adapts it)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        wechat: WeChatClient,
        sessions: SessionIssuer,
        metrics: Metrics,
    ) -> None:
        self._config = config
        self._store = store
        self._wechat = wechat
        self._sessions = sessions
        self._metrics = metrics.of(LoginMetrics)
        key = config.wechat.session_key_encryption_key
        self._sealer = Sealer.from_b64(key) if key else None

    def app(self, name: str | None) -> tuple[str, WeChatAppConfig]:
        """The mini-program app called ``name`` (or the configured default)."""
        found = self._config.app_named("miniprogram", name or self._config.login.miniprogram_app)
        if found is None:
            raise NotFound("no such mini-program app is configured")
        return found

    async def login(self, code: str, app_name: str | None) -> MiniProgramSession:
        """Exchange the ``wx.login`` code and open a gateway session for that person."""
        if not code or len(code) > 256:
            raise InvalidRequest("code is required")
        name, app = self.app(app_name)
        try:
            result = await self._wechat.jscode2session(name, code)
            identity = Identity(name, app.appid, result.openid, result.unionid)
            pair, user = await self._sessions.login(identity, None, _AMR)
            await self._keep_session_key(app.appid, result.openid, result.session_key)
        except GatewayError as exc:
            self._metrics.logins.labels("miniprogram", name, exc.error).inc()
            await self._sessions.failed(_AMR, app.appid, exc.error)
            raise
        self._metrics.logins.labels("miniprogram", name, "success").inc()
        return MiniProgramSession(pair, user, result.openid, result.unionid)

    async def decrypt(
        self, claims: AccessClaims, encrypted_data: str, iv: str,
        raw_data: str | None = None, signature: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Legacy open data of the caller (``encryptedData``/``iv``, reference §2.11)."""
        appid, openid = self._caller(claims)
        session_key = await self._session_key(appid, openid)
        if raw_data is not None or signature is not None:
            if not (raw_data and signature):
                raise InvalidRequest("rawData and signature go together")
            if not check_raw_signature(raw_data, session_key, signature):
                raise AccessDenied("rawData signature does not match")
        return decrypt_open_data(session_key, iv, encrypted_data, appid)

    async def phone(self, claims: AccessClaims, code: str) -> dict[str, str]:
        """The caller's phone number from the button's code; linked to the user (§2.10)."""
        if not code or len(code) > 256:
            raise InvalidRequest("code is required")
        appid, openid = self._caller(claims)
        name = self._name_for(appid)
        info = await self._wechat.get_phone_number(name, code, openid)  # watermark checked (§6.13)
        await self._sessions.users.set_phone(claims.sub, info.phone_number)
        return {
            "phone_number": info.phone_number,
            "pure_phone_number": info.pure_phone_number,
            "country_code": info.country_code,
        }

    def _caller(self, claims: AccessClaims) -> tuple[str, str]:
        if not claims.appid or not claims.openid or _AMR not in claims.amr:
            raise AccessDenied("this call needs a token from a mini-program login")
        self._name_for(claims.appid)
        return claims.appid, claims.openid

    def _name_for(self, appid: str) -> str:
        for name, app in self._config.wechat.apps.items():
            if app.appid == appid and app.kind == "miniprogram":
                return name
        raise AccessDenied("the token's app is not a configured mini-program")

    def _require_sealer(self) -> Sealer:
        if self._sealer is None:
            raise ServerError("wechat.session_key_encryption_key is not configured")
        return self._sealer

    async def _keep_session_key(self, appid: str, openid: str, session_key: str) -> None:
        sealed = self._require_sealer().seal(session_key.encode(), f"{appid}|{openid}".encode())
        await self._store.set(f"mini:sk:{appid}:{openid}", sealed, self._config.tokens.refresh_ttl)

    async def _session_key(self, appid: str, openid: str) -> str:
        sealed = await self._store.get(f"mini:sk:{appid}:{openid}")
        if sealed is None:
            raise SessionKeyStale()
        try:
            raw = self._require_sealer().open(sealed, f"{appid}|{openid}".encode())
        except SealError as exc:
            log.error("a stored session_key could not be opened (was the key changed?)")
            raise SessionKeyStale() from exc
        return raw.decode()

"""Simulated web authorization: consent checks, code exchange, refresh, sns/auth, userinfo.

reference §2.1/§2.3 (authorize pages), §2.4 (code exchange), §2.5 (refresh: the same token,
extended, while it is valid), §2.6, §2.7 (48001 for ``snsapi_base`` tokens; official accounts
give ``sex: 0`` and empty regions), §2.3 snapshot mode (``is_snapshotuser: 1``, virtual ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.clock import Clock
from gateway.simulator.model import (
    AppRegistry,
    CodeBook,
    Identities,
    SimApp,
    SimError,
    SimOptions,
    random_token,
)

__all__ = ["OAuthService", "PageError"]

_REFRESH_TTL = 30 * 86400.0  # §2.5: 30 days for website apps and service accounts
_OA_SCOPES = ("snsapi_base", "snsapi_userinfo")
_MAX_GRANTS = 100_000


class PageError(Exception):
    """The authorize page shows an error instead of redirecting (reference §2.1, §2.3)."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class _Grant:
    appid: str
    user: str
    openid: str
    scope: str
    snapshot: bool
    access_token: str
    refresh_token: str
    access_expires_at: float
    refresh_expires_at: float


class OAuthService:
    """Flows A and B as WeChat runs them."""

    def __init__(
        self,
        apps: AppRegistry,
        ids: Identities,
        codes: CodeBook,
        clock: Clock,
        options: SimOptions,
    ) -> None:
        self._apps = apps
        self._ids = ids
        self._codes = codes
        self._clock = clock
        self._options = options
        self._by_access: dict[str, _Grant] = {}
        self._by_refresh: dict[str, _Grant] = {}

    def check_qrconnect(self, params: dict[str, str]) -> SimApp:
        """Website QR login parameters; anything wrong -> "link cannot be accessed" (§2.1)."""
        app = self._apps.by_appid.get(params.get("appid", ""))
        jssdk = params.get("login_type") == "jssdk"  # the wxLogin.js iframe (§2.2)
        if (
            app is None
            or app.kind != "website"
            or params.get("scope") != "snsapi_login"
            or not params.get("redirect_uri")
            or (params.get("response_type") != "code" and not jssdk)
        ):
            raise PageError(None, "该链接无法访问 (this link cannot be accessed)")
        return app

    def check_authorize(self, params: dict[str, str]) -> SimApp:
        """Official-account authorize parameters; errors as WeChat's numbered pages (§2.3)."""
        if not params.get("appid"):
            raise PageError(10012, "appid empty")
        if not params.get("redirect_uri"):
            raise PageError(10011, "redirect_uri empty")
        if not params.get("scope"):
            raise PageError(10010, "scope empty")
        app = self._apps.by_appid.get(params["appid"])
        if app is None or app.kind != "official_account" or params["scope"] not in _OA_SCOPES:
            raise PageError(10005, "the account has no permission for this scope")
        return app

    def authorize(self, appid: str, user: str, scope: str, *, force_popup: bool = False) -> str:
        """The code WeChat puts on the redirect after ``user`` allowed (reference §2.1/§2.3)."""
        app = self._apps.get(appid)
        snapshot = (
            self._options.snapshot_mode
            and app.kind == "official_account"
            and scope == "snsapi_userinfo"
            and not force_popup
        )
        return self._codes.issue("oauth", appid, user, scope=scope, snapshot=str(int(snapshot)))

    def access_token(self, params: dict[str, str]) -> dict[str, Any]:
        """``sns/oauth2/access_token`` (reference §2.4)."""
        app = self._apps.authenticate(params.get("appid"), params.get("secret"))
        if params.get("grant_type") != "authorization_code":
            raise SimError(40002, "invalid grant_type")
        if not params.get("code"):
            raise SimError(41008, "missing code")
        record = self._codes.redeem("oauth", params["code"], app.appid)
        scope, snapshot = record.extra["scope"], record.extra["snapshot"] == "1"
        grant = self._grant(app.appid, record.user, scope, snapshot)
        body = self._token_body(grant)
        # §2.4: website apps bound to an Open Platform account always get unionid; official
        # accounts only with snsapi_userinfo.
        if app.kind == "website" or scope == "snsapi_userinfo":
            body["unionid"] = self._ids.unionid(record.user, snapshot=snapshot)
        if snapshot:
            body["is_snapshotuser"] = 1
        return body

    def refresh(self, params: dict[str, str]) -> dict[str, Any]:
        """``sns/oauth2/refresh_token`` (reference §2.5): no secret; 40030/42002."""
        app = self._apps.get(params.get("appid"))
        if params.get("grant_type") != "refresh_token":
            raise SimError(40002, "invalid grant_type")
        if not params.get("refresh_token"):
            raise SimError(41003, "refresh_token missing")
        grant = self._by_refresh.get(params["refresh_token"])
        now = self._clock.time()
        if grant is None or grant.appid != app.appid:
            raise SimError(40030, "invalid refresh_token")
        if now >= grant.refresh_expires_at:
            raise SimError(42002, "refresh_token expired")
        if now >= grant.access_expires_at:
            self._by_access.pop(grant.access_token, None)
            grant.access_token = random_token(96)
            self._by_access[grant.access_token] = grant
        grant.access_expires_at = now + self._options.token_ttl
        return self._token_body(grant)

    def check(self, params: dict[str, str]) -> dict[str, Any]:
        """``sns/auth`` (reference §2.6)."""
        self._valid_grant(params)
        return {"errcode": 0, "errmsg": "ok"}

    def userinfo(self, params: dict[str, str], base_url: str) -> dict[str, Any]:
        """``sns/userinfo`` (reference §2.7)."""
        grant = self._valid_grant(params)
        if "snsapi_base" in grant.scope.split(","):
            raise SimError(48001, "api unauthorized")
        app = self._apps.get(grant.appid)
        snapshot = grant.snapshot
        body: dict[str, Any] = {
            "openid": grant.openid,
            "nickname": "微信用户" if snapshot else grant.user,
            "sex": 0 if app.kind == "official_account" else self._ids.sex(grant.user),
            "province": "" if app.kind == "official_account" else "Guangdong",
            "city": "" if app.kind == "official_account" else "Guangzhou",
            "country": "" if app.kind == "official_account" else "CN",
            "headimgurl": f"{base_url}/sim/avatar/{'default' if snapshot else grant.openid}/132",
            "privilege": [],
            "unionid": self._ids.unionid(grant.user, snapshot=snapshot),
        }
        return body

    def _grant(self, appid: str, user: str, scope: str, snapshot: bool) -> _Grant:
        now = self._clock.time()
        openid = self._ids.openid(appid, user, snapshot=snapshot)
        access, refresh = random_token(96), random_token(96)
        grant = _Grant(
            appid, user, openid, scope, snapshot, access, refresh,
            now + self._options.token_ttl, now + _REFRESH_TTL,
        )  # fmt: skip
        self._forget_oldest()
        self._by_access[access] = grant
        self._by_refresh[refresh] = grant
        return grant

    def _forget_oldest(self) -> None:
        # Bounded memory for long benchmark runs: drop the oldest tenth past the cap.
        if len(self._by_refresh) < _MAX_GRANTS:
            return
        for refresh in list(self._by_refresh)[: _MAX_GRANTS // 10]:
            grant = self._by_refresh.pop(refresh)
            self._by_access.pop(grant.access_token, None)

    def _token_body(self, grant: _Grant) -> dict[str, Any]:
        return {
            "access_token": grant.access_token,
            "expires_in": int(grant.access_expires_at - self._clock.time()),
            "refresh_token": grant.refresh_token,
            "openid": grant.openid,
            "scope": grant.scope,
        }

    def _valid_grant(self, params: dict[str, str]) -> _Grant:
        token = params.get("access_token")
        if not token:
            raise SimError(41001, "access_token missing")
        grant = self._by_access.get(token)
        if grant is None:
            raise SimError(40001, "invalid credential, access_token is invalid or not latest")
        if self._clock.time() >= grant.access_expires_at:
            raise SimError(42001, "access_token expired")
        if not params.get("openid"):
            raise SimError(41009, "missing openid")
        if params["openid"] != grant.openid:
            raise SimError(40003, "invalid openid")
        return grant

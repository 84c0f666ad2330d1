"""Simulator building blocks: apps, options, identities and single-use codes (reference §5).

Pure state, no HTTP. Errors are ``SimError(errcode, errmsg)``; the HTTP layer renders them as
WeChat does (HTTP 200, JSON, ``rid`` in errmsg; reference §1.2, §1.4).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from gateway.clock import Clock

__all__ = [
    "DEFAULT_SEED",
    "AppKind",
    "AppRegistry",
    "CodeBook",
    "CodeRecord",
    "Identities",
    "SimApp",
    "SimError",
    "SimOptions",
    "random_token",
]

AppKind = Literal["website", "official_account", "miniprogram"]
DEFAULT_SEED = b"wxgate-simulated-open-platform"
_ALNUM = string.ascii_letters + string.digits


class SimError(Exception):
    """A WeChat errcode answer (HTTP 200 + JSON, reference §1.2)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errcode, errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass(frozen=True, slots=True)
class SimApp:
    """One simulated app; all belong to one simulated Open Platform account (shared unionid)."""

    appid: str
    secret: str
    kind: AppKind
    # official accounts (flow E, reference §2.15): where WeChat pushes events and how it signs
    # and encrypts them (the console's URL, Token, EncodingAESKey and mode), its gh_ id
    server_url: str = ""
    server_token: str = ""
    encoding_aes_key: str = ""
    message_mode: str = "plain"
    original_id: str = "gh_000000000000"


@dataclass(slots=True)
class SimOptions:
    """Switches a test may flip (``POST /sim/options`` or attribute assignment)."""

    code_ttl: float = 300.0  # §2.3/§2.8: 5 minutes
    oauth_expired_errcode: int = 40029  # §5.4: 40029, optionally 42003 for OAuth
    deny_variant: Literal["redirect", "page"] = "redirect"  # §2.1/§7: both variants
    snapshot_mode: bool = False  # §2.3: OA snsapi_userinfo without forcePopup -> virtual ids
    jscode2session_legacy: Literal["", "errcode0", "expires_in"] = ""  # §5.5
    jscode2session_per_minute: int = 100  # §2.8: 45011 per user per minute
    blocked_users: list[str] = field(default_factory=list)  # §5.5: 40226
    country_code_as_number: bool = False  # §5.12
    classic_token_daily_quota: int = 2000  # §2.12: 45009
    ip_allowlist: list[str] = field(default_factory=list)  # §2.12: 40164 (empty = off)
    wrong_secret_errcode: int = 40125  # §5.7: 40125 or 40001
    published_pages: list[str] | None = None  # §2.14: None = every page exists
    rotate_content_types: bool = True  # §1.3/§5.2
    token_ttl: int = 7200  # §4
    stable_force_daily: int = 20  # §2.13
    oa_unverified: bool = False  # §2.15: qrcode/create answers 48001

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``changes``; unknown names raise KeyError, wrong types TypeError."""
        known = {f.name: f for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise KeyError(name)
            current = getattr(self, name)
            if current is not None and value is not None and not _same_kind(current, value):
                raise TypeError(name)
            setattr(self, name, value)


def _same_kind(current: Any, value: Any) -> bool:
    if isinstance(current, bool) or isinstance(value, bool):
        return isinstance(current, bool) and isinstance(value, bool)
    if isinstance(current, int | float):
        return isinstance(value, int | float)
    return isinstance(value, type(current))


def random_token(length: int) -> str:
    """Random ``[A-Za-z0-9]`` text (codes and tokens, reference §1.6 shapes)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


class Identities:
    """Deterministic ids: the same person (by name) gets the same ids after a restart.

    openid differs per appid, unionid is shared by all apps (reference §0, §5); both are 28
    characters starting with ``o`` (reference §1.6), derived by HMAC from ``seed``.
    """

    def __init__(self, seed: bytes = DEFAULT_SEED) -> None:
        self._seed = seed
        self._owners: dict[str, tuple[str, str]] = {}

    def _derive(self, label: str) -> str:
        digest = hmac.new(self._seed, label.encode("utf-8"), hashlib.sha256).digest()
        return "o" + base64.urlsafe_b64encode(digest).decode("ascii")[:27]

    def openid(self, appid: str, user: str, *, snapshot: bool = False) -> str:
        oid = self._derive(f"{'snapshot-' if snapshot else ''}openid|{appid}|{user}")
        self._owners[oid] = (appid, user)
        return oid

    def unionid(self, user: str, *, snapshot: bool = False) -> str:
        return self._derive(f"{'snapshot-' if snapshot else ''}unionid|{user}")

    def owner(self, openid: str) -> tuple[str, str] | None:
        """``(appid, user)`` of an openid handed out before."""
        return self._owners.get(openid)

    def sex(self, user: str) -> int:
        return 1 + hashlib.sha256(user.encode("utf-8")).digest()[0] % 2


@dataclass(slots=True)
class CodeRecord:
    kind: Literal["oauth", "js", "phone"]
    appid: str
    user: str
    issued_at: float
    used: bool = False
    extra: dict[str, str] = field(default_factory=dict)


class CodeBook:
    """Single-use codes bound to an appid (reference §5.4): reuse 40163, unknown/foreign 40029,
    older than ``options.code_ttl`` 40029 (OAuth: ``options.oauth_expired_errcode``)."""

    def __init__(self, clock: Clock, options: SimOptions) -> None:
        self._clock = clock
        self._options = options
        self._codes: OrderedDict[str, CodeRecord] = OrderedDict()

    def issue(
        self, kind: Literal["oauth", "js", "phone"], appid: str, user: str, **extra: str
    ) -> str:
        self._purge()
        code = secrets.token_hex(32) if kind == "phone" else random_token(32)  # §1.6
        self._codes[code] = CodeRecord(kind, appid, user, self._clock.time(), extra=dict(extra))
        return code

    def peek(self, kind: str, code: str, appid: str) -> CodeRecord | None:
        """The record without using it (None when unknown or not this kind/app)."""
        record = self._codes.get(code)
        if record is None or record.kind != kind or record.appid != appid:
            return None
        return record

    def redeem(self, kind: str, code: str, appid: str) -> CodeRecord:
        record = self._codes.get(code)
        if record is None or record.kind != kind or record.appid != appid:
            raise SimError(40029, "invalid code")
        if self._clock.time() - record.issued_at > self._options.code_ttl:
            expired = self._options.oauth_expired_errcode if kind == "oauth" else 40029
            raise SimError(expired, "code expired" if expired == 42003 else "invalid code")
        if record.used:
            raise SimError(40163, "code been used")
        record.used = True
        return record

    def _purge(self) -> None:
        horizon = self._clock.time() - 2 * self._options.code_ttl
        while self._codes:
            oldest = next(iter(self._codes.values()))
            if oldest.issued_at >= horizon:
                break
            self._codes.popitem(last=False)


class AppRegistry:
    """The simulated apps by appid, with WeChat's answers to bad credentials (§2.4, §2.12)."""

    def __init__(self, apps: list[SimApp], options: SimOptions) -> None:
        self.by_appid = {app.appid: app for app in apps}
        self._options = options

    def get(self, appid: str | None) -> SimApp:
        if not appid:
            raise SimError(41002, "appid missing")
        app = self.by_appid.get(appid)
        if app is None:
            raise SimError(40013, "invalid appid")
        return app

    def authenticate(self, appid: str | None, secret: str | None) -> SimApp:
        app = self.get(appid)
        if not secret:
            raise SimError(41004, "appsecret missing")
        if not hmac.compare_digest(secret.encode("utf-8"), app.secret.encode("utf-8")):
            code = self._options.wrong_secret_errcode
            raise SimError(code, "invalid credential" if code == 40001 else "invalid appsecret")
        return app

"""Typed results of WeChat calls, built from already-parsed JSON bodies. Pure, no I/O.

Each ``from_json`` raises ``UpstreamError`` when a success body lacks a required field (e.g.
easywechat treats a jscode2session answer without ``openid`` as an error, reference §2.8).
Unknown fields are ignored (reference §1.2). Secret-bearing fields (tokens, session_key) are
excluded from ``repr`` so a logged result never leaks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.wechat.errors import UpstreamError

__all__ = [
    "Code2Session",
    "Follower",
    "OAuthToken",
    "ParamQrCode",
    "PhoneInfo",
    "ServerToken",
    "UserInfo",
]


def _str(data: dict[str, Any], key: str, api: str, *, required: bool = True) -> str:
    value = data.get(key)
    if isinstance(value, str) and (value or not required):
        return value
    if value is None and not required:
        return ""
    raise UpstreamError(api, f"malformed response: {key} missing")


def _int(data: dict[str, Any], key: str, api: str, default: int | None = None) -> int:
    value = data.get(key, default)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise UpstreamError(api, f"malformed response: {key} missing")


def _optional(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class OAuthToken:
    """``sns/oauth2/access_token`` and ``sns/oauth2/refresh_token`` (reference §2.4, §2.5)."""

    openid: str
    scope: str
    expires_in: int
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    unionid: str | None = None
    is_snapshotuser: bool = False  # official accounts' snapshot mode: virtual ids (§2.3)

    @property
    def scopes(self) -> frozenset[str]:
        """The granted scopes (comma-separated on the wire)."""
        return frozenset(s.strip() for s in self.scope.split(",") if s.strip())

    @classmethod
    def from_json(cls, data: dict[str, Any], api: str) -> OAuthToken:
        return cls(
            openid=_str(data, "openid", api),
            scope=_str(data, "scope", api, required=False),
            expires_in=_int(data, "expires_in", api, default=7200),
            access_token=_str(data, "access_token", api),
            refresh_token=_str(data, "refresh_token", api, required=False),
            unionid=_optional(data, "unionid"),
            is_snapshotuser=_int(data, "is_snapshotuser", api, default=0) == 1,
        )


@dataclass(frozen=True, slots=True)
class UserInfo:
    """``sns/userinfo`` (reference §2.7). Official accounts send sex 0 and empty regions."""

    openid: str
    nickname: str
    sex: int
    province: str
    city: str
    country: str
    headimgurl: str
    privilege: tuple[str, ...]
    unionid: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any], api: str) -> UserInfo:
        privilege = data.get("privilege")
        return cls(
            openid=_str(data, "openid", api),
            nickname=_str(data, "nickname", api, required=False),
            sex=_int(data, "sex", api, default=0),
            province=_str(data, "province", api, required=False),
            city=_str(data, "city", api, required=False),
            country=_str(data, "country", api, required=False),
            headimgurl=_str(data, "headimgurl", api, required=False),
            privilege=tuple(p for p in privilege if isinstance(p, str))
            if isinstance(privilege, list)
            else (),
            unionid=_optional(data, "unionid"),
        )


@dataclass(frozen=True, slots=True)
class Code2Session:
    """``sns/jscode2session`` (reference §2.8). ``session_key`` must never leave the server."""

    openid: str
    session_key: str = field(repr=False)
    unionid: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any], api: str) -> Code2Session:
        return cls(
            openid=_str(data, "openid", api),
            session_key=_str(data, "session_key", api),
            unionid=_optional(data, "unionid"),
        )


@dataclass(frozen=True, slots=True)
class PhoneInfo:
    """``phone_info`` of ``wxa/business/getuserphonenumber`` (reference §2.10).

    ``country_code`` is always a string: WeChat's type is unconfirmed (string per the doc
    table, number in the doc example), so both are accepted.
    """

    phone_number: str
    pure_phone_number: str
    country_code: str
    watermark_appid: str
    watermark_timestamp: int

    @classmethod
    def from_json(cls, data: dict[str, Any], api: str) -> PhoneInfo:
        info = data.get("phone_info")
        if not isinstance(info, dict):
            raise UpstreamError(api, "malformed response: phone_info missing")
        watermark = info.get("watermark")
        if not isinstance(watermark, dict):
            raise UpstreamError(api, "malformed response: watermark missing")
        country = info.get("countryCode")
        if isinstance(country, int) and not isinstance(country, bool):
            country = str(country)
        return cls(
            phone_number=_str(info, "phoneNumber", api),
            pure_phone_number=_str(info, "purePhoneNumber", api, required=False),
            country_code=country if isinstance(country, str) else "",
            watermark_appid=_str(watermark, "appid", api),
            watermark_timestamp=_int(watermark, "timestamp", api, default=0),
        )


@dataclass(frozen=True, slots=True)
class ServerToken:
    """``cgi-bin/token`` / ``cgi-bin/stable_token`` (reference §2.12, §2.13)."""

    access_token: str = field(repr=False)
    expires_in: int = 7200

    @classmethod
    def from_json(cls, data: dict[str, Any], api: str) -> ServerToken:
        expires_in = _int(data, "expires_in", api, default=7200)
        if expires_in <= 0:
            raise UpstreamError(api, "malformed response: expires_in not positive")
        return cls(access_token=_str(data, "access_token", api), expires_in=expires_in)


@dataclass(frozen=True, slots=True)
class ParamQrCode:
    """``cgi-bin/qrcode/create`` (reference §2.15): render ``url`` into the QR image."""

    ticket: str = field(repr=False)
    expire_seconds: int
    url: str

    @classmethod
    def from_json(cls, data: dict[str, Any], api: str) -> ParamQrCode:
        expire = _int(data, "expire_seconds", api, default=60)  # §2.15: 60 s without it
        if expire <= 0:
            raise UpstreamError(api, "malformed response: expire_seconds not positive")
        return cls(_str(data, "ticket", api), expire, _str(data, "url", api))


@dataclass(frozen=True, slots=True)
class Follower:
    """``cgi-bin/user/info`` (reference §2.15): ``unionid`` only when the account is bound to
    an Open Platform account; no nickname or avatar since 2021-12-27."""

    openid: str
    subscribed: bool
    unionid: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any], api: str) -> Follower:
        return cls(
            openid=_str(data, "openid", api),
            subscribed=_int(data, "subscribe", api, default=0) == 1,
            unionid=_optional(data, "unionid"),
        )

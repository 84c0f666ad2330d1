"""Simulated mini-program login: wx.login codes, jscode2session, checksession, phone numbers.

reference §2.8 (success without errcode; 40029/40163/45011/40226), §5.5 (legacy body variants,
45011 after 100 calls per openid per minute, a 40226 switch), §5.6 and §2.9 (``wx.login``
rotates session_key; checksession with an old one -> 87009), §2.10/§5.12 (phone codes,
``countryCode`` a string unless switched to a number), §2.11 (legacy open data).
"""

from __future__ import annotations

import base64
import hmac
import json
import os
from typing import Any

from gateway.clock import Clock
from gateway.simulator.model import AppRegistry, CodeBook, Identities, SimError, SimOptions
from gateway.simulator.server_tokens import ServerTokens
from gateway.wechat import checksession_signature, encrypt_open_data, raw_data_signature

__all__ = ["MiniService"]


def _new_session_key() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")  # §1.6: 24 chars, 16 bytes


class MiniService:
    """Flow C as WeChat runs it, plus the client-side helpers (``wx.login``, phone button)."""

    def __init__(
        self,
        apps: AppRegistry,
        ids: Identities,
        codes: CodeBook,
        tokens: ServerTokens,
        clock: Clock,
        options: SimOptions,
    ) -> None:
        self._apps = apps
        self._ids = ids
        self._codes = codes
        self._tokens = tokens
        self._clock = clock
        self._options = options
        self._session_keys: dict[tuple[str, str], str] = {}
        self._minute: dict[tuple[str, str], tuple[int, int]] = {}

    # ------------------------------------------------------------------ client-side helpers

    def wx_login(self, appid: str, user: str, session_key: str | None = None) -> str:
        """What ``wx.login()`` gives the mini program: a code; rotates the session_key (§5.6).

        ``session_key`` pins the new key (to use the reference's test vectors).
        """
        self._mini_app(appid)
        self._session_keys[(appid, user)] = session_key or _new_session_key()
        return self._codes.issue("js", appid, user)

    def phone_code(self, appid: str, user: str, phone: str, country_code: str = "86") -> str:
        """The code the ``getPhoneNumber`` button hands the mini program (reference §2.10)."""
        self._mini_app(appid)
        return self._codes.issue("phone", appid, user, phone=phone, country_code=country_code)

    def session_key(self, appid: str, user: str) -> str | None:
        return self._session_keys.get((appid, user))

    def open_data(self, appid: str, user: str) -> dict[str, str]:
        """Legacy ``wx.getUserInfo`` output: rawData, signature, encryptedData, iv (§2.11)."""
        session_key = self._session_keys.get((appid, user))
        if session_key is None:
            raise ValueError("call wx.login (POST /dev/js_code) for this user first")
        profile = {
            "nickName": user, "gender": self._ids.sex(user), "language": "zh_CN",
            "city": "Guangzhou", "province": "Guangdong", "country": "CN", "avatarUrl": "",
        }  # fmt: skip
        raw = json.dumps(profile, ensure_ascii=False, separators=(",", ":"))
        iv = base64.b64encode(os.urandom(16)).decode("ascii")
        secret = profile | {
            "openId": self._ids.openid(appid, user),
            "unionId": self._ids.unionid(user),
            "watermark": {"timestamp": int(self._clock.time()), "appid": appid},
        }
        return {
            "rawData": raw,
            "signature": raw_data_signature(raw, session_key),
            "encryptedData": encrypt_open_data(session_key, iv, secret),
            "iv": iv,
        }

    # ------------------------------------------------------------------ server APIs

    def jscode2session(self, params: dict[str, str]) -> dict[str, Any]:
        """``sns/jscode2session`` (reference §2.8)."""
        app = self._apps.authenticate(params.get("appid"), params.get("secret"))
        if params.get("grant_type") != "authorization_code":
            raise SimError(40002, "invalid grant_type")
        code = params.get("js_code")
        if not code:
            raise SimError(41008, "missing code")
        pending = self._codes.peek("js", code, app.appid)
        if pending is not None:
            if pending.user in self._options.blocked_users:
                raise SimError(40226, "code blocked")
            self._rate_limit(app.appid, pending.user)
        record = self._codes.redeem("js", code, app.appid)
        body: dict[str, Any] = {
            "openid": self._ids.openid(app.appid, record.user),
            "session_key": self._session_keys[(app.appid, record.user)],
            "unionid": self._ids.unionid(record.user),
        }
        if self._options.jscode2session_legacy == "errcode0":
            body |= {"errcode": 0, "errmsg": "ok"}
        elif self._options.jscode2session_legacy == "expires_in":
            body["expires_in"] = 7200
        return body

    def checksession(self, params: dict[str, str]) -> dict[str, Any]:
        """``wxa/checksession`` (reference §2.9): 87009 unless signed with the current key."""
        appid = self._tokens.validate(params.get("access_token"))
        if params.get("sig_method") != "hmac_sha256":
            raise SimError(40097, "invalid args")
        owner = self._ids.owner(params.get("openid", ""))
        if owner is None or owner[0] != appid:
            raise SimError(40003, "invalid openid")
        current = self._session_keys.get(owner)
        expected = checksession_signature(current) if current else ""
        given = params.get("signature", "").lower().encode()
        if not current or not hmac.compare_digest(given, expected.encode()):
            raise SimError(87009, "invalid signature")
        return {"errcode": 0, "errmsg": "ok"}

    def phone_number(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        """``wxa/business/getuserphonenumber`` (reference §2.10)."""
        appid = self._tokens.validate(params.get("access_token"))
        if not isinstance(body, dict):
            raise SimError(47001, "data format error")
        code, openid = body.get("code"), body.get("openid")
        if not isinstance(code, str) or not code:
            raise SimError(41008, "missing code")
        pending = self._codes.peek("phone", code, appid)
        if pending is not None and openid and openid != self._ids.openid(appid, pending.user):
            raise SimError(40029, "invalid code")  # the code is not this openid's (§2.10)
        record = self._codes.redeem("phone", code, appid)
        phone, country = record.extra["phone"], record.extra["country_code"]
        info: dict[str, Any] = {
            "phoneNumber": phone if country == "86" else f"+{country}{phone}",
            "purePhoneNumber": phone,
            "countryCode": int(country) if self._options.country_code_as_number else country,
            "watermark": {"timestamp": int(self._clock.time()), "appid": appid},
        }
        return {"errcode": 0, "errmsg": "ok", "phone_info": info}

    # ------------------------------------------------------------------ helpers

    def _mini_app(self, appid: str) -> None:
        app = self._apps.by_appid.get(appid)
        if app is None or app.kind != "miniprogram":
            raise ValueError(f"{appid!r} is not a simulated mini program")

    def _rate_limit(self, appid: str, user: str) -> None:
        window = int(self._clock.time() // 60)
        start, count = self._minute.get((appid, user), (window, 0))
        count = count + 1 if start == window else 1
        self._minute[(appid, user)] = (window, count)
        if count > self._options.jscode2session_per_minute:
            raise SimError(45011, "api minute-quota reach limit  mustslower  retry next minute")

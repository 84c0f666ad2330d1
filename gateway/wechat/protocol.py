"""WeChat wire protocol: pure request builders and response parsers (no I/O).

Builders return an ``ApiRequest`` (path relative to the API base, query, JSON body) that the
client sends; browser-facing URLs (``gateway.wechat.browser``, re-exported here) are strings.
Parsers take the HTTP status and raw body bytes and never look at Content-Type, which WeChat
sets unreliably (reference §1.3).
``ApiRequest.api`` is the path relative to the base (``sns/jscode2session``); it doubles as the
metric label and log field. Typed results live in ``gateway.wechat.models``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlencode

from gateway.wechat.browser import (
    WXLOGIN_SCRIPT_PATH,
    WXLOGIN_SCRIPT_URL,
    authorize_url,
    check_state,
    qrconnect_url,
    widget_params,
)
from gateway.wechat.crypto import checksession_signature
from gateway.wechat.errors import UpstreamError, WeChatError
from gateway.wechat.models import (
    Code2Session,
    Follower,
    OAuthToken,
    ParamQrCode,
    PhoneInfo,
    ServerToken,
    UserInfo,
)

__all__ = [
    "API_CHECKSESSION",
    "API_CLASSIC_TOKEN",
    "API_JSCODE2SESSION",
    "API_OAUTH_ACCESS_TOKEN",
    "API_OAUTH_REFRESH_TOKEN",
    "API_PHONE_NUMBER",
    "API_QRCODE_CREATE",
    "API_SNS_AUTH",
    "API_STABLE_TOKEN",
    "API_USERINFO",
    "API_USER_INFO",
    "API_WXACODE_UNLIMIT",
    "WXLOGIN_SCRIPT_PATH",
    "WXLOGIN_SCRIPT_URL",
    "ApiRequest",
    "Code2Session",
    "Follower",
    "OAuthToken",
    "ParamQrCode",
    "PhoneInfo",
    "ServerToken",
    "UserInfo",
    "authorize_url",
    "check_state",
    "checksession_request",
    "classic_token_request",
    "extract_rid",
    "image_mime",
    "jscode2session_request",
    "oauth_access_token_request",
    "oauth_refresh_token_request",
    "parse_image_response",
    "parse_response",
    "phone_number_request",
    "qrcode_create_request",
    "qrconnect_url",
    "sns_auth_request",
    "stable_token_request",
    "user_info_request",
    "userinfo_request",
    "validate_scene",
    "widget_params",
    "wxacode_unlimit_request",
]

API_OAUTH_ACCESS_TOKEN = "sns/oauth2/access_token"  # §2.4
API_OAUTH_REFRESH_TOKEN = "sns/oauth2/refresh_token"  # §2.5
API_SNS_AUTH = "sns/auth"  # §2.6
API_USERINFO = "sns/userinfo"  # §2.7
API_JSCODE2SESSION = "sns/jscode2session"  # §2.8
API_CHECKSESSION = "wxa/checksession"  # §2.9
API_PHONE_NUMBER = "wxa/business/getuserphonenumber"  # §2.10
API_CLASSIC_TOKEN = "cgi-bin/token"  # §2.12
API_STABLE_TOKEN = "cgi-bin/stable_token"  # §2.13
API_WXACODE_UNLIMIT = "wxa/getwxacodeunlimit"  # §2.14
API_QRCODE_CREATE = "cgi-bin/qrcode/create"  # §2.15
API_USER_INFO = "cgi-bin/user/info"  # §2.15

_SCENE_RE = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}")  # §2.14
_RID_RE = re.compile(r"rid:\s*([0-9a-fA-F]{8}-[0-9a-fA-F]{8}-[0-9a-fA-F]{8})")  # §1.4
_HINT_RE = re.compile(r"hints?:\s*\[\s*(?:req_id:\s*)?([^\]\s]+)\s*\]")  # §1.4 older forms
_JPEG_MAGIC, _PNG_MAGIC = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"  # §2.14


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One server-side call. ``params``/``json`` hold secrets and codes: excluded from repr.

    ``single_use`` marks requests carrying a one-time code: once such a request may have
    reached WeChat it must never be sent again (reference §6.1, §6.2).
    """

    api: str
    method: Literal["GET", "POST"]
    params: Mapping[str, str] = field(repr=False)
    json: Mapping[str, Any] | None = field(default=None, repr=False)
    single_use: bool = False

    def url(self, base: str) -> str:
        """The URL without query string (safe to log: the query holds secrets and codes)."""
        return f"{base.rstrip('/')}/{self.api}"

    def target(self, base: str) -> str:
        """The full URL with its percent-encoded query (never logged: it holds secrets).

        Encoded here once (every reserved character of a value escaped) so the HTTP client
        can take it as already encoded instead of re-parsing a parameter mapping per call.
        """
        query = urlencode(self.params, quote_via=quote, safe="")
        return f"{base.rstrip('/')}/{self.api}?{query}" if query else self.url(base)


# --------------------------------------------------------------------- server API requests


def oauth_access_token_request(appid: str, secret: str, code: str) -> ApiRequest:
    """Exchange an OAuth code (reference §2.4). Single use."""
    params = {"appid": appid, "secret": secret, "code": code, "grant_type": "authorization_code"}
    return ApiRequest(API_OAUTH_ACCESS_TOKEN, "GET", params, single_use=True)


def oauth_refresh_token_request(appid: str, refresh_token: str) -> ApiRequest:
    """Refresh a user access_token; no secret is sent (reference §2.5)."""
    params = {"appid": appid, "grant_type": "refresh_token", "refresh_token": refresh_token}
    return ApiRequest(API_OAUTH_REFRESH_TOKEN, "GET", params)


def sns_auth_request(access_token: str, openid: str) -> ApiRequest:
    """Check a user access_token (reference §2.6)."""
    return ApiRequest(API_SNS_AUTH, "GET", {"access_token": access_token, "openid": openid})


def userinfo_request(access_token: str, openid: str, lang: str = "zh_CN") -> ApiRequest:
    """User profile with a user access_token (reference §2.7)."""
    params = {"access_token": access_token, "openid": openid, "lang": lang}
    return ApiRequest(API_USERINFO, "GET", params)


def jscode2session_request(appid: str, secret: str, js_code: str) -> ApiRequest:
    """Exchange a ``wx.login`` code (reference §2.8). Single use."""
    params = {
        "appid": appid,
        "secret": secret,
        "js_code": js_code,
        "grant_type": "authorization_code",
    }
    return ApiRequest(API_JSCODE2SESSION, "GET", params, single_use=True)


def checksession_request(access_token: str, openid: str, session_key: str) -> ApiRequest:
    """Verify a stored session_key; parameters in the query string (reference §2.9, §7)."""
    params = {
        "access_token": access_token,
        "openid": openid,
        "signature": checksession_signature(session_key),
        "sig_method": "hmac_sha256",
    }
    return ApiRequest(API_CHECKSESSION, "GET", params)


def phone_number_request(access_token: str, code: str, openid: str | None = None) -> ApiRequest:
    """Phone number from the button's code, JSON body (reference §2.10). Single use."""
    body = {"code": code} | ({"openid": openid} if openid else {})
    return ApiRequest(
        API_PHONE_NUMBER, "POST", {"access_token": access_token}, body, single_use=True
    )


def classic_token_request(appid: str, secret: str) -> ApiRequest:
    """Classic server token; every call invalidates the previous one (reference §2.12)."""
    params = {"grant_type": "client_credential", "appid": appid, "secret": secret}
    return ApiRequest(API_CLASSIC_TOKEN, "GET", params)


def stable_token_request(appid: str, secret: str, *, force_refresh: bool = False) -> ApiRequest:
    """Stable server token, JSON body only (reference §2.13)."""
    body = {
        "grant_type": "client_credential",
        "appid": appid,
        "secret": secret,
        "force_refresh": force_refresh,
    }
    return ApiRequest(API_STABLE_TOKEN, "POST", {}, body)


def validate_scene(scene: str) -> str:
    """``scene`` if 1-32 allowed characters (reference §2.14: no ``%``), else ValueError."""
    if not _SCENE_RE.fullmatch(scene):
        raise ValueError("scene must be 1-32 characters of 0-9 A-Z a-z !#$&'()*+,/:;=?@-._~")
    return scene


def wxacode_unlimit_request(
    access_token: str,
    scene: str,
    *,
    page: str = "",
    check_path: bool = True,
    env_version: Literal["release", "trial", "develop"] = "release",
    width: int = 430,
    is_hyaline: bool = False,
) -> ApiRequest:
    """Mini-program code image request (reference §2.14); ValueError on invalid arguments."""
    if page.startswith("/") or "?" in page:
        raise ValueError("page must have no leading / and no query string")
    if not 280 <= width <= 1280:
        raise ValueError("width must be 280-1280")
    body: dict[str, Any] = {"scene": validate_scene(scene), "check_path": check_path}
    body |= {"env_version": env_version, "width": width, "is_hyaline": is_hyaline}
    if page:
        body["page"] = page
    return ApiRequest(API_WXACODE_UNLIMIT, "POST", {"access_token": access_token}, body)


_SCENE_STR_RE = re.compile(r"[\x21-\x7e]{1,64}")  # §2.15: scene_str of 1-64 characters


def qrcode_create_request(access_token: str, scene: str, expire_seconds: int) -> ApiRequest:
    """A temporary parametric QR with a string scene (reference §2.15); ValueError on a
    scene outside 1-64 visible ASCII characters or a lifetime outside 60 s-30 days."""
    if not _SCENE_STR_RE.fullmatch(scene):
        raise ValueError("scene_str must be 1-64 visible ASCII characters")
    if not 60 <= expire_seconds <= 2_592_000:
        raise ValueError("expire_seconds must be 60-2592000")
    body = {"expire_seconds": expire_seconds, "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene}}}  # fmt: skip
    return ApiRequest(API_QRCODE_CREATE, "POST", {"access_token": access_token}, body)


def user_info_request(access_token: str, openid: str, lang: str = "zh_CN") -> ApiRequest:
    """Who follows: ``cgi-bin/user/info`` with the server token (reference §2.15)."""
    params = {"access_token": access_token, "openid": openid, "lang": lang}
    return ApiRequest(API_USER_INFO, "GET", params)


# --------------------------------------------------------------------- response parsing


def extract_rid(errmsg: str) -> str | None:
    """The ``rid`` of an errmsg, else the older ``hint: [...]`` id (reference §1.4)."""
    match = _RID_RE.search(errmsg) or _HINT_RE.search(errmsg)
    return match.group(1) if match else None


def _errcode(value: Any, api: str) -> int | None:
    # reference §1.2: int or numeric string; null counts as absent.
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise UpstreamError(api, "malformed response: errcode not a number")


def parse_response(status: int, body: bytes, *, api: str = "") -> dict[str, Any]:
    """The JSON object of a WeChat answer, or raise.

    HTTP 5xx -> retryable ``UpstreamError``; an empty, non-JSON or non-object body ->
    ``UpstreamError`` (reference §1.3); ``errcode`` present and not 0 -> ``WeChatError``
    (reference §1.2). Content-Type is never consulted; bytes are decoded as UTF-8 leniently and
    parsed with ``strict=False`` (raw control characters in nicknames).
    """
    if status >= 500:
        raise UpstreamError(api, "server error", status=status, retryable=True)
    text = body.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    if not text:
        raise UpstreamError(api, "empty body", status=status)
    try:
        data = json.loads(text, strict=False)
    except ValueError:
        raise UpstreamError(api, "body is not JSON", status=status) from None
    if not isinstance(data, dict):
        raise UpstreamError(api, "body is not a JSON object", status=status)
    errcode = _errcode(data.get("errcode"), api)
    if errcode:
        errmsg = data.get("errmsg")
        errmsg = errmsg if isinstance(errmsg, str) else ""
        raise WeChatError(errcode, errmsg, extract_rid(errmsg), api)
    if status >= 400:
        raise UpstreamError(api, "unexpected HTTP status", status=status)
    return data


def image_mime(data: bytes) -> str | None:
    """``image/jpeg`` or ``image/png`` by magic bytes (reference §2.14), else None."""
    if data.startswith(_JPEG_MAGIC):
        return "image/jpeg"
    if data.startswith(_PNG_MAGIC):
        return "image/png"
    return None


def parse_image_response(status: int, body: bytes, *, api: str = API_WXACODE_UNLIMIT) -> bytes:
    """Image bytes of ``wxa/getwxacodeunlimit``, or raise like ``parse_response``.

    A body starting with ``{`` is a JSON error whatever the Content-Type (reference §2.14).
    """
    if status >= 500:
        raise UpstreamError(api, "server error", status=status, retryable=True)
    if body.lstrip().startswith(b"{"):
        parse_response(status, body, api=api)
        raise UpstreamError(api, "JSON body without errcode instead of an image", status=status)
    if status >= 400 or image_mime(body) is None:
        raise UpstreamError(api, "body is not an image", status=status)
    return body

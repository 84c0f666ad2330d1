"""WeChat failures and their mapping onto the gateway's error tree.

Two exception types leave the protocol and transport layers:

- ``WeChatError``: WeChat answered with a JSON body whose ``errcode`` is not 0 (reference §1.2).
- ``UpstreamError``: no usable answer: transport failure, timeout, HTTP 5xx, empty or non-JSON
  body, or a success body missing required fields (reference §1.3).

``classify`` turns either into the ``GatewayError`` the client raises (reference §3 and §6.1-6.4),
plus whether SREs must be alerted (an error log line and ``wxgate_wechat_config_errors_total``).
``errcode_label`` bounds an errcode to a metric label value: the errcodes of reference §3
(``KNOWN_WECHAT_ERRCODES``), ``"0"``, ``"none"`` or ``"other"``.
Neither exception's ``str``/``repr`` contains a request parameter: only the API name, errcode,
WeChat's own ``errmsg`` and its ``rid``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.errors import (
    AccessDenied,
    BadGateway,
    GatewayError,
    InvalidGrant,
    InvalidRequest,
    RateLimited,
    ServerError,
    TemporarilyUnavailable,
)

__all__ = [
    "ALERT_UNAVAILABLE_ERRCODES",
    "CONFIG_ERRCODES",
    "INVALID_CODE_ERRCODES",
    "KNOWN_WECHAT_ERRCODES",
    "REAUTH_ERRCODES",
    "RETRYABLE_ERRCODES",
    "TOKEN_ERRCODES",
    "Classified",
    "LoginRequired",
    "UpstreamError",
    "WeChatError",
    "classify",
    "errcode_label",
    "wechat_cause",
]

# reference §6.2: only -1 ("system busy") is worth retrying among errcodes.
RETRYABLE_ERRCODES = frozenset({-1})
# reference §6.1, §3: the login code is unknown, expired or already used.
INVALID_CODE_ERRCODES = frozenset({40029, 40163, 42003})
# reference §6.6, §3: the server access_token is invalid, malformed or expired.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
# reference §3: refresh_token invalid/expired/revoked, stale session_key -> "401, re-login".
REAUTH_ERRCODES = frozenset({40030, 42002, 42007, 87009})
# reference §6.6 "Alert on ..." and §3 "config -> 500 + alert"; 48001 = API not permitted for
# this account or token scope (a configuration mismatch when the gateway makes the call).
CONFIG_ERRCODES = frozenset({40013, 40125, 40164, 40243, 41030, 48001})
# reference §3/§6.3: quota, admin-confirmation and ban states -> "503 + alert".
ALERT_UNAVAILABLE_ERRCODES = frozenset({45009, 48004, 48017, 89501, 89503, 89506, 89507})
# reference §3: malformed requests the gateway itself built -> "bug -> 500".
_BUG_ERRCODES = frozenset(
    {40002, 40097, 40129, 40169, 41001, 41002, 41004, 43001, 43002, 43003, 44002, 47001}
)
_CODE_MESSAGE = "login code invalid or already used; start again"
_CIRCUIT_MESSAGE = (
    "WeChat is failing; the gateway is not calling it for a moment, try again shortly"
)
# Every errcode of reference §3 (the sets above and the single codes ``classify`` names).
KNOWN_WECHAT_ERRCODES = frozenset(
    {
        -1, 40001, 40002, 40003, 40013, 40014, 40029, 40030, 40097, 40125, 40129, 40163,
        40164, 40169, 40226, 40243, 41001, 41002, 41004, 41008, 41030, 42001, 42002, 42003,
        42007, 43001, 43002, 43003, 44002, 45009, 45011, 47001, 48001, 48004, 48017, 50001,
        50002, 87009, 89501, 89503, 89506, 89507,
    }
)  # fmt: skip


def errcode_label(errcode: int | None) -> str:
    """A bounded metric label value for a WeChat errcode: the errcode itself when it is 0 or
    known (``KNOWN_WECHAT_ERRCODES``), ``"none"`` without one, else ``"other"``."""
    if errcode is None:
        return "none"
    if errcode == 0 or errcode in KNOWN_WECHAT_ERRCODES:
        return str(errcode)
    return "other"


class WeChatError(Exception):
    """WeChat answered ``errcode != 0`` (reference §1.2). Match on ``errcode`` only (§1.4)."""

    def __init__(self, errcode: int, errmsg: str, rid: str | None, api: str) -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        self.rid = rid
        self.api = api
        super().__init__(errcode, errmsg, rid, api)

    def __str__(self) -> str:
        return f"{self.api}: errcode {self.errcode}: {self.errmsg}"

    def __repr__(self) -> str:
        return (
            f"WeChatError(errcode={self.errcode!r}, errmsg={self.errmsg!r}, "
            f"rid={self.rid!r}, api={self.api!r})"
        )


class UpstreamError(Exception):
    """No usable answer from WeChat.

    ``reason`` is a short fixed text (never request data). ``status`` is the HTTP status when a
    response arrived. ``retryable`` is True only where reference §6.2 allows another attempt.
    ``retry_after`` (seconds) is set when the call was not sent because the API's circuit is
    open (``gateway.wechat.circuit``).
    """

    def __init__(
        self,
        api: str,
        reason: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.api = api
        self.reason = reason
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(api, reason, status)

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.api}: {self.reason}{status}"

    def __repr__(self) -> str:
        return f"UpstreamError(api={self.api!r}, reason={self.reason!r}, status={self.status!r})"


class LoginRequired(InvalidGrant):
    """The WeChat-side login is gone (stale session_key, dead refresh_token): log in again.

    reference §3 gives 87009/40030/42002/42007 as "401, re-login/re-authorize"; it keeps the
    ``invalid_grant`` code (the grant is the WeChat login) with status 401.
    """

    status = 401
    default_description = "the WeChat login has expired; log in again"


@dataclass(frozen=True, slots=True)
class Classified:
    """A WeChat failure mapped for the client: raise ``error``; log and count when ``alert``."""

    error: GatewayError
    alert: bool


def classify(
    exc: WeChatError | UpstreamError, *, token_fetch: bool = False, user_token: bool = False
) -> Classified:
    """Map a WeChat failure to the gateway error the caller should see.

    ``token_fetch``: the call fetched a server access_token (40001 then means a wrong AppSecret,
    reference §2.12). ``user_token``: the call used a user's OAuth access_token, so token errors
    mean the user must authorize again rather than that our server token is broken.
    """
    if isinstance(exc, UpstreamError):
        if exc.retry_after is not None:  # an open circuit: not sent
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
            return Classified(TemporarilyUnavailable(_CIRCUIT_MESSAGE, headers=headers), False)
        return Classified(TemporarilyUnavailable(), alert=False)
    code = exc.errcode
    if code in INVALID_CODE_ERRCODES:
        return Classified(InvalidGrant(_CODE_MESSAGE), alert=False)
    if code in TOKEN_ERRCODES:
        return _token_error(code, token_fetch=token_fetch, user_token=user_token)
    return _simple(code)


def _token_error(code: int, *, token_fetch: bool, user_token: bool) -> Classified:
    if token_fetch:  # reference §2.12/§3: 40001 on a token fetch = AppSecret wrong -> config
        return Classified(ServerError(), alert=True)
    if user_token:
        return Classified(LoginRequired(), alert=False)
    # A server token still rejected after one refresh and one retry (reference §6.6): most
    # likely another system keeps invalidating it; alert, and tell the client to retry later.
    return Classified(TemporarilyUnavailable(), alert=True)


def _simple(code: int) -> Classified:
    if code == 45011:  # reference §6.3
        return Classified(RateLimited(retry_after=60), alert=False)
    if code == 40226:  # reference §6.4
        return Classified(AccessDenied("account restricted by WeChat"), alert=False)
    if code in (50001, 50002):  # reference §3
        return Classified(AccessDenied("WeChat user not authorized"), alert=False)
    if code in RETRYABLE_ERRCODES:  # -1 after the retries (reference §3)
        return Classified(TemporarilyUnavailable(), alert=False)
    if code in REAUTH_ERRCODES:
        return Classified(LoginRequired(), alert=False)
    if code in CONFIG_ERRCODES:
        return Classified(ServerError(), alert=True)
    if code in ALERT_UNAVAILABLE_ERRCODES:
        return Classified(TemporarilyUnavailable(), alert=True)
    if code == 40003:  # reference §3 "400/401": the openid is not this app's / this token's
        return Classified(InvalidRequest("openid does not match this WeChat app"), alert=False)
    if code == 41008:  # reference §3: missing code -> 400
        return Classified(InvalidRequest("login code missing"), alert=False)
    if code in _BUG_ERRCODES:
        return Classified(ServerError(), alert=False)
    # Not in the reference: WeChat refused for a reason we do not know.
    return Classified(BadGateway("WeChat refused the request"), alert=False)


def wechat_cause(exc: BaseException) -> WeChatError | UpstreamError | None:
    """The WeChat failure a mapped ``GatewayError`` was raised from (its ``__cause__``)."""
    cause = exc.__cause__
    return cause if isinstance(cause, WeChatError | UpstreamError) else None

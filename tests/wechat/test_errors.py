"""The errcode -> gateway error mapping (issue 4 item 2, reference §3 and §6)."""

from __future__ import annotations

import pytest

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
from gateway.wechat import KNOWN_WECHAT_ERRCODES, errcode_label
from gateway.wechat import errors as e
from gateway.wechat.errors import LoginRequired, UpstreamError, WeChatError, classify


def wx(errcode: int) -> WeChatError:
    return WeChatError(errcode, "msg, rid: 652d44d0-1d0af18b-5b069232", "6", "sns/api")


@pytest.mark.parametrize(
    ("errcode", "kind", "status", "alert"),
    [
        (40029, InvalidGrant, 400, False),
        (40163, InvalidGrant, 400, False),
        (42003, InvalidGrant, 400, False),
        (45011, RateLimited, 429, False),
        (40226, AccessDenied, 403, False),
        (-1, TemporarilyUnavailable, 503, False),
        (40013, ServerError, 500, True),
        (40125, ServerError, 500, True),
        (40164, ServerError, 500, True),
        (40243, ServerError, 500, True),
        (48001, ServerError, 500, True),
        (45009, TemporarilyUnavailable, 503, True),
        (89503, TemporarilyUnavailable, 503, True),
        (87009, LoginRequired, 401, False),
        (40030, LoginRequired, 401, False),
        (42002, LoginRequired, 401, False),
        (40003, InvalidRequest, 400, False),
        (40002, ServerError, 500, False),
        (99999, BadGateway, 502, False),
    ],
)
def test_mapping(errcode: int, kind: type[GatewayError], status: int, alert: bool) -> None:
    result = classify(wx(errcode))
    assert type(result.error) is kind
    assert result.error.status == status and result.alert is alert


def test_invalid_code_message_and_wire_code() -> None:
    error = classify(wx(40163)).error
    assert error.error == "invalid_grant"
    assert error.description == "login code invalid or already used; start again"


def test_rate_limit_has_retry_after() -> None:
    error = classify(wx(45011)).error
    assert error.headers == {"Retry-After": "60"}


def test_temporarily_unavailable_wire_code() -> None:
    assert classify(UpstreamError("a", "timed out")).error.error == "temporarily_unavailable"
    assert classify(UpstreamError("a", "server error", status=503)).alert is False


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
def test_token_errcodes_depend_on_context(errcode: int) -> None:
    fetch = classify(wx(errcode), token_fetch=True)
    assert isinstance(fetch.error, ServerError) and fetch.alert  # wrong AppSecret (§2.12)
    user = classify(wx(errcode), user_token=True)
    assert isinstance(user.error, LoginRequired) and not user.alert
    server = classify(wx(errcode))
    assert isinstance(server.error, TemporarilyUnavailable) and server.alert


def test_login_required_is_invalid_grant_with_401() -> None:
    error = LoginRequired()
    assert error.error == "invalid_grant" and error.status == 401


def test_errcode_labels_are_bounded() -> None:
    assert errcode_label(None) == "none"
    assert errcode_label(0) == "0"
    assert errcode_label(40029) == "40029" and errcode_label(-1) == "-1"
    assert errcode_label(12345) == "other"


def test_every_classified_errcode_is_known() -> None:
    """The label bound and the mapping name the same §3 errcodes."""
    named = {45011, 40226, 50001, 50002, 40003, 41008}  # the single codes classify() names
    sets = (e.RETRYABLE_ERRCODES, e.INVALID_CODE_ERRCODES, e.TOKEN_ERRCODES, e.REAUTH_ERRCODES,
            e.CONFIG_ERRCODES, e.ALERT_UNAVAILABLE_ERRCODES, e._BUG_ERRCODES)  # fmt: skip
    assert frozenset(named).union(*sets) == KNOWN_WECHAT_ERRCODES

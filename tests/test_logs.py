"""The redaction filter masks secrets wherever they appear; lines are JSON with request ids."""

from __future__ import annotations

import io
import json
import logging

import pytest

from gateway.logs import configure_logging, redact, request_id_var

SECRETS = [
    "https://api.weixin.qq.com/sns/jscode2session?appid=wx1&secret=APPSECRET123&js_code=JSCODE9&grant_type=authorization_code",
    "GET /auth/wechat/web/callback?code=OAUTHCODE77&state=abc",
    '{"session_key": "HyVFkGl5F5OQWJZZaNzBBg==", "openid": "o1"}',
    "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl",
    "Cookie: wxgate_session=abc~def",
    "refresh_token=REFRESHSECRET&client_secret=CS1",
    "token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl leaked",
    "access_token: SERVERTOKEN555",
]
NEEDLES = [
    "APPSECRET123", "JSCODE9", "OAUTHCODE77", "HyVFkGl5F5OQWJZZaNzBBg==", "c2lnbmF0dXJl",
    "abc~def", "REFRESHSECRET", "CS1", "SERVERTOKEN555",
]  # fmt: skip


@pytest.mark.parametrize("text", SECRETS)
def test_redact_masks_secret_values(text: str) -> None:
    out = redact(text)
    assert "[redacted]" in out
    for needle in NEEDLES:
        assert needle not in out


def test_redact_keeps_useful_context() -> None:
    out = redact("errcode=40029 rid: 652d44d0-1d0af18b-5b069232 appid=wx1 openid=o1")
    assert out == "errcode=40029 rid: 652d44d0-1d0af18b-5b069232 appid=wx1 openid=o1"


def test_log_lines_are_redacted_json_with_request_id() -> None:
    stream = io.StringIO()
    handler = configure_logging("DEBUG", stream)
    try:
        token = request_id_var.set("req-123")
        log = logging.getLogger("gateway.test")
        log.info("calling %s", SECRETS[0], extra={"url": SECRETS[1]})
        try:
            raise ValueError("bad session_key=SECRETKEY in exception")
        except ValueError:
            log.exception("failed")
        request_id_var.reset(token)
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["request_id"] for line in lines] == ["req-123", "req-123"]
    assert lines[0]["level"] == "INFO" and lines[0]["logger"] == "gateway.test"
    text = stream.getvalue()
    for needle in ["APPSECRET123", "JSCODE9", "OAUTHCODE77", "SECRETKEY"]:
        assert needle not in text
    assert "ValueError" in lines[1]["exc"]

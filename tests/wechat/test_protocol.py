"""Pure protocol tests: builders and parsers against every quirk in reference §1-§2 (no I/O)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from gateway.wechat import in_wechat_browser, wxlogin_script_url
from gateway.wechat import protocol as p
from gateway.wechat.errors import UpstreamError, WeChatError
from gateway.wechat.models import Code2Session, OAuthToken, PhoneInfo, ServerToken, UserInfo

OPEN = "https://open.weixin.qq.com"
CALLBACK = "https://gw.example.com/auth/wechat/web/callback?next=/a&x=1"

# ------------------------------------------------------------------ parse_response


def test_success_without_errcode() -> None:
    body = b'{"openid":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","session_key":"HyVFkGl5F5OQWJZZaNzBBg=="}'
    assert p.parse_response(200, body)["openid"] == "oGZUI0egBJY1zhBYw2KhdUfwVJJE"


@pytest.mark.parametrize("errcode", [0, "0", None])
def test_errcode_zero_or_null_is_success(errcode: object) -> None:
    body = json.dumps({"errcode": errcode, "errmsg": "ok", "x": 1}).encode()
    assert p.parse_response(200, body)["x"] == 1


@pytest.mark.parametrize("errcode", [40029, "40029", " 40029 "])
def test_errcode_int_or_numeric_string(errcode: object) -> None:
    body = json.dumps(
        {"errcode": errcode, "errmsg": "invalid code, rid: 652d44d0-1d0af18b-5b069232"}
    )
    with pytest.raises(WeChatError) as info:
        p.parse_response(200, body.encode(), api="sns/jscode2session")
    assert info.value.errcode == 40029
    assert info.value.rid == "652d44d0-1d0af18b-5b069232"
    assert info.value.api == "sns/jscode2session"


def test_negative_errcode_string() -> None:
    with pytest.raises(WeChatError) as info:
        p.parse_response(200, b'{"errcode":"-1","errmsg":"system error"}')
    assert info.value.errcode == -1


@pytest.mark.parametrize("errcode", ["abc", True, [1]])
def test_malformed_errcode(errcode: object) -> None:
    with pytest.raises(UpstreamError):
        p.parse_response(200, json.dumps({"errcode": errcode}).encode())


@pytest.mark.parametrize("body", [b"", b"   \r\n", b"<html>busy</html>", b"[1,2]", b'"ok"'])
def test_empty_or_non_json_is_upstream_error(body: bytes) -> None:
    with pytest.raises(UpstreamError) as info:
        p.parse_response(200, body)
    assert not info.value.retryable


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retryable_upstream_error(status: int) -> None:
    with pytest.raises(UpstreamError) as info:
        p.parse_response(status, b'{"access_token":"x"}')
    assert info.value.retryable and info.value.status == status


def test_4xx_without_errcode_is_upstream_error() -> None:
    with pytest.raises(UpstreamError):
        p.parse_response(404, b'{"a": 1}')


def test_control_characters_and_emoji_in_nickname() -> None:
    # raw control characters inside a JSON string (strict=False), as wechatpy tolerates (§1.3)
    body = '{"openid":"o1","nickname":"张三\x01\t\n🐼","sex":0}'.encode()
    data = p.parse_response(200, body)
    assert data["nickname"] == "张三\x01\t\n🐼"
    assert UserInfo.from_json(data, "sns/userinfo").nickname.endswith("🐼")


def test_invalid_utf8_and_bom_are_tolerated() -> None:
    body = b'\xef\xbb\xbf{"openid":"o1","nickname":"a\xff\xfeb"}'
    assert p.parse_response(200, body)["nickname"].startswith("a")


# ------------------------------------------------------------------ rid (§1.4)


@pytest.mark.parametrize(
    ("errmsg", "rid"),
    [
        ("invalid code, rid: 652d44d0-1d0af18b-5b069232", "652d44d0-1d0af18b-5b069232"),
        ("invalid appsecret rid: 6437cc6f-0a1b2c3d-4e5f6a7b", "6437cc6f-0a1b2c3d-4e5f6a7b"),
        (
            "invalid code hint: [mGhbWV0sf-LxnVma] rid: 65f3e9f7-77cf1a1c-0dd74a0e",
            "65f3e9f7-77cf1a1c-0dd74a0e",
        ),
        ("invalid credential hint: [KJZfAa0644e575]", "KJZfAa0644e575"),
        ("system error hints: [ req_id: ItMTDA0250ns71 ]", "ItMTDA0250ns71"),
        ("ok", None),
    ],
)
def test_extract_rid(errmsg: str, rid: str | None) -> None:
    assert p.extract_rid(errmsg) == rid


def test_wechat_error_text_has_no_request_data() -> None:
    error = WeChatError(40163, "code been used, rid: 6206378a-793424c0-2e4091cc", "x", "sns/a")
    assert str(error) == "sns/a: errcode 40163: code been used, rid: 6206378a-793424c0-2e4091cc"
    assert "40163" in repr(error) and "6206378a" in repr(error)


# ------------------------------------------------------------------ images (§2.14)

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 20
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20


@pytest.mark.parametrize("data", [JPEG, PNG])
def test_image_by_magic_bytes(data: bytes) -> None:
    assert p.parse_image_response(200, data) == data
    assert p.image_mime(data) in ("image/jpeg", "image/png")


def test_image_endpoint_json_error_detected_by_brace() -> None:
    body = b' {"errcode":40169,"errmsg":"invalid length for scene, or the data is not json string"}'
    with pytest.raises(WeChatError) as info:
        p.parse_image_response(200, body)
    assert info.value.errcode == 40169


@pytest.mark.parametrize(("status", "body"), [(200, b"GIF89a"), (200, b""), (503, JPEG)])
def test_image_endpoint_garbage(status: int, body: bytes) -> None:
    with pytest.raises(UpstreamError):
        p.parse_image_response(status, body)


def test_image_endpoint_json_without_errcode() -> None:
    with pytest.raises(UpstreamError):
        p.parse_image_response(200, b'{"hello": 1}')


# ------------------------------------------------------------------ browser URLs (§2.1-§2.3)


def test_qrconnect_url() -> None:
    url = p.qrconnect_url(OPEN, "wx4f4bc4dec97d474b", CALLBACK, "Ab3x9Q")
    assert url.startswith(
        f"{OPEN}/connect/qrconnect?appid=wx4f4bc4dec97d474b&redirect_uri=https%3A"
    )
    assert url.endswith("&response_type=code&scope=snsapi_login&state=Ab3x9Q#wechat_redirect")
    query = parse_qs(urlsplit(url).query)
    assert query["redirect_uri"] == [CALLBACK]  # encoded exactly once


def test_authorize_url() -> None:
    url = p.authorize_url(OPEN, "wxb2", CALLBACK, "snsapi_base", "s1", force_popup=True)
    parts = urlsplit(url)
    assert parts.path == "/connect/oauth2/authorize" and parts.fragment == "wechat_redirect"
    query = parse_qs(parts.query)
    assert query["scope"] == ["snsapi_base"] and query["forcePopup"] == ["true"]
    assert list(query) == ["appid", "redirect_uri", "response_type", "scope", "state", "forcePopup"]


@pytest.mark.parametrize("state", ["", "a" * 129, "has space", "a-b", "ä"])
def test_state_rules(state: str) -> None:
    with pytest.raises(ValueError):
        p.qrconnect_url(OPEN, "wx1", CALLBACK, state)


def test_widget_params_preencode_redirect_uri() -> None:
    params = p.widget_params("box", "wx1", CALLBACK, "s1", stylelite=True, fast_login=False)
    assert (
        params["redirect_uri"]
        == "https%3A%2F%2Fgw.example.com%2Fauth%2Fwechat%2Fweb%2Fcallback%3Fnext%3D%2Fa%26x%3D1"
    )
    assert params["scope"] == "snsapi_login" and params["self_redirect"] is False
    assert params["stylelite"] == 1 and params["fast_login"] == 0
    assert p.WXLOGIN_SCRIPT_URL.endswith(p.WXLOGIN_SCRIPT_PATH)


def test_wxlogin_script_url_is_wechats_unless_simulated() -> None:
    assert wxlogin_script_url("http://sim", simulated=False) == p.WXLOGIN_SCRIPT_URL
    assert wxlogin_script_url("http://sim", simulated=True) == "http://sim" + p.WXLOGIN_SCRIPT_PATH


@pytest.mark.parametrize(
    ("user_agent", "inside"),
    [
        ("Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 MicroMessenger/8.0.49 NetType/WIFI", True),
        ("Mozilla/5.0 (Linux; Android 14) micromessenger/8.0.47", True),
        ("Mozilla/5.0 (X11; Linux x86_64) Chrome/120", False),
        ("", False),
    ],
)
def test_wechat_browser_by_user_agent(user_agent: str, inside: bool) -> None:
    assert in_wechat_browser(user_agent) is inside


# ------------------------------------------------------------------ server requests


def test_code_exchange_requests_are_single_use_and_hide_secrets() -> None:
    request = p.oauth_access_token_request("wx1", "SECRET123", "CODE456")
    assert request.single_use and request.method == "GET"
    assert dict(request.params) == {
        "appid": "wx1", "secret": "SECRET123", "code": "CODE456",
        "grant_type": "authorization_code",
    }  # fmt: skip
    assert "SECRET123" not in repr(request) and "CODE456" not in repr(request)
    assert (
        request.url("https://api.weixin.qq.com/")
        == "https://api.weixin.qq.com/sns/oauth2/access_token"
    )
    js = p.jscode2session_request("wx1", "S", "J")
    assert js.single_use and js.params["js_code"] == "J"
    phone = p.phone_number_request("TOKEN", "PC", "oOPENID")
    assert phone.single_use and phone.json == {"code": "PC", "openid": "oOPENID"}
    assert phone.params == {"access_token": "TOKEN"}


def test_refresh_request_sends_no_secret() -> None:
    request = p.oauth_refresh_token_request("wx1", "RT")
    assert "secret" not in request.params and not request.single_use


def test_checksession_request_uses_query_and_signature() -> None:
    request = p.checksession_request("T", "o1", "HyVFkGl5F5OQWJZZaNzBBg==")
    assert request.method == "GET"
    assert request.params["sig_method"] == "hmac_sha256"
    assert request.params["signature"] == (
        "252b75c92698025afe925b29cca5517fdf9ee67aae072cf3225ebf3a53783058"
    )  # reference §2.9 test vector


def test_token_requests() -> None:
    stable = p.stable_token_request("wx1", "S")
    assert stable.method == "POST" and stable.json == {
        "grant_type": "client_credential", "appid": "wx1", "secret": "S", "force_refresh": False,
    }  # fmt: skip
    classic = p.classic_token_request("wx1", "S")
    assert classic.params["grant_type"] == "client_credential" and classic.method == "GET"


@pytest.mark.parametrize("scene", ["a" * 32, "t=Ab3x9Q", "!#$&'()*+,/:;=?@-._~"])
def test_valid_scenes(scene: str) -> None:
    body = p.wxacode_unlimit_request("T", scene, page="pages/a/b").json
    assert body is not None and body["scene"] == scene and body["page"] == "pages/a/b"


@pytest.mark.parametrize("scene", ["", "a" * 33, "100%", "中文", "a b"])
def test_invalid_scenes(scene: str) -> None:
    with pytest.raises(ValueError):
        p.validate_scene(scene)


@pytest.mark.parametrize(("page", "width"), [("/pages/a", 430), ("pages/a?x=1", 430), ("", 279)])
def test_invalid_wxacode_arguments(page: str, width: int) -> None:
    with pytest.raises(ValueError):
        p.wxacode_unlimit_request("T", "s", page=page, width=width)


# ------------------------------------------------------------------ typed results


def test_oauth_token_result_hides_tokens() -> None:
    data = {
        "access_token": "ACCESS", "expires_in": 7200, "refresh_token": "REFRESH",
        "openid": "o1", "scope": "snsapi_userinfo,snsapi_base", "unionid": "u1",
        "is_snapshotuser": 1,
    }  # fmt: skip
    token = OAuthToken.from_json(data, "a")
    assert token.is_snapshotuser and token.scopes == {"snsapi_userinfo", "snsapi_base"}
    assert "ACCESS" not in repr(token) and "REFRESH" not in repr(token)


def test_code2session_hides_session_key_and_needs_openid() -> None:
    result = Code2Session.from_json(
        {"openid": "o1", "session_key": "SK==", "expires_in": 7200}, "a"
    )
    assert result.unionid is None and "SK==" not in repr(result) and "SK==" not in str(result)
    with pytest.raises(UpstreamError):
        Code2Session.from_json({"session_key": "SK=="}, "a")


@pytest.mark.parametrize("country", ["86", 86])
def test_phone_info_country_code_string_or_number(country: object) -> None:
    data = {
        "errcode": 0, "errmsg": "ok",
        "phone_info": {
            "phoneNumber": "13800138000", "purePhoneNumber": "13800138000",
            "countryCode": country, "watermark": {"timestamp": 1717000000, "appid": "wx1"},
        },
    }  # fmt: skip
    info = PhoneInfo.from_json(data, "a")
    assert info.country_code == "86" and info.watermark_appid == "wx1"


def test_server_token_hides_token_and_checks_fields() -> None:
    token = ServerToken.from_json({"access_token": "86_StAbLe", "expires_in": 6841}, "a")
    assert token.expires_in == 6841 and "StAbLe" not in repr(token)
    with pytest.raises(UpstreamError):
        ServerToken.from_json({"expires_in": 7200}, "a")
    with pytest.raises(UpstreamError):
        ServerToken.from_json({"access_token": "x", "expires_in": 0}, "a")

"""``server/login``: flows A and B (browser redirects through WeChat) and flow C (the
mini-program's JSON API)."""

from __future__ import annotations

from gateway.config import Config
from gateway.server.openapi.spec import (
    HTML,
    JSON_ERROR,
    Paths,
    error,
    json_body,
    json_content,
    op,
    param,
    ref,
    responses,
)

__all__ = ["paths"]

_TAG = "login"
_REDIRECT = {"description": "to WeChat, or back to `return_to`"}
_FLOW = param("flow", "path", enum=["web", "mp"])


def _mini_body(*names: str) -> dict[str, object]:
    return {
        "type": "object",
        "required": list(names),
        "properties": {name: {"type": "string", "minLength": 1} for name in names},
    }


def paths(config: Config) -> Paths:
    del config
    session = {"allOf": [ref("TokenPair"), {"type": "object", "required": ["user"],
               "properties": {"user": {"type": "object", "required": ["sub"]}}}]}  # fmt: skip
    page = {"description": "a page (denied, snapshot user, account disabled)", "content": HTML}
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "/auth/wechat/login": {"get": op("Start flow B in WeChat's browser, else flow A", _TAG,
            responses(_302=_REDIRECT), parameters=[param("return_to")])},
        "/auth/wechat/web/embed.js": {"get": op("The embedded-QR helper script", _TAG,
            responses(_200={"description": "JavaScript", "content": {
                "application/javascript": {"schema": {"type": "string"}}}}))},
        "/auth/wechat/{flow}/login": {"get": op("Start flow A (web) or B (mp)", _TAG,
            responses(404, 429, _200={"description": "the embedded widget page", "content": HTML},
                      _302=_REDIRECT),
            parameters=[_FLOW, param("return_to"), param("mode", enum=["embed"]),
                        param("force_popup")])},
        "/auth/wechat/{flow}/callback": {"get": op("WeChat's redirect back (code, state)", _TAG,
            responses(404, 429, _302=_REDIRECT, _400={"description": "bad or stale login",
                      "content": {**JSON_ERROR, **HTML}}, _403=page),
            parameters=[_FLOW, param("code"), param("state")])},
        "/auth/wechat/miniprogram/login": {"post": op("Flow C: exchange a wx.login code", _TAG,
            responses(400, 404, 413, 429, 502, 503,
                      _200={"description": "a session", "content": json_content(session)},
                      _403=error(403, "`account_disabled`: an operator disabled the user")),
            requestBody=json_body({**_mini_body("code"),
                                   "properties": {"code": {"type": "string", "minLength": 1},
                                                  "app": {"type": "string"}}}))},
        "/auth/wechat/miniprogram/decrypt": {"post": op("Decrypt wx.getUserInfo data", _TAG,
            responses(400, 401, 403, 413, 429, _200={"description": "the decrypted data",
                      "content": json_content({"type": "object", "required": ["data"]})}),
            requestBody=json_body(_mini_body("encryptedData", "iv")), security=bearer)},
        "/auth/wechat/miniprogram/phone": {"post": op("The user's phone number", _TAG,
            responses(400, 401, 403, 413, 429, 502, _200={"description": "the phone number",
                      "content": json_content({"type": "object"})}),
            requestBody=json_body(_mini_body("code")), security=bearer)},
    }  # fmt: skip

"""Browser-facing WeChat facts: QR login, official-account authorization, wxLogin.js options,
the wxLogin.js script's URL and how WeChat's built-in browser identifies itself.

Pure functions (reference §2.1-§2.3); the URL builders are re-exported by
``gateway.wechat.protocol``, everything by ``gateway.wechat``.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import quote, urlencode

__all__ = [
    "WECHAT_UA_TOKEN",
    "WXLOGIN_SCRIPT_PATH",
    "WXLOGIN_SCRIPT_URL",
    "authorize_url",
    "check_state",
    "in_wechat_browser",
    "qrconnect_url",
    "widget_params",
    "wxlogin_script_url",
]

# reference §2.2; the simulator serves a stand-in at the same path under its own base.
WXLOGIN_SCRIPT_PATH = "/connect/zh_CN/htmledition/js/wxLogin.js"
WXLOGIN_SCRIPT_URL = "https://res.wx.qq.com" + WXLOGIN_SCRIPT_PATH

# WeChat's built-in browser names itself in its User-Agent ("... MicroMessenger/8.0.49 ...").
WECHAT_UA_TOKEN = "MicroMessenger"

_STATE_RE = re.compile(r"[A-Za-z0-9]{1,128}")  # §2.3, §6.8


def check_state(state: str) -> str:
    """``state`` if it is ``[A-Za-z0-9]{1,128}`` (reference §2.1, §2.3), else ValueError."""
    if not _STATE_RE.fullmatch(state):
        raise ValueError("state must be 1-128 characters [A-Za-z0-9]")
    return state


def in_wechat_browser(user_agent: str) -> bool:
    """True when ``user_agent`` is WeChat's built-in browser (``MicroMessenger``, any case):
    there official-account authorization (§2.3) works, the website QR (§2.1) does not."""
    return WECHAT_UA_TOKEN.lower() in user_agent.lower()


def wxlogin_script_url(open_base: str, *, simulated: bool) -> str:
    """Where pages load wxLogin.js from (reference §2.2): WeChat's own script, or with
    ``simulated`` the simulator's stand-in at the same path under ``open_base``."""
    return f"{open_base}{WXLOGIN_SCRIPT_PATH}" if simulated else WXLOGIN_SCRIPT_URL


def _query(params: list[tuple[str, str]]) -> str:
    # Encode exactly once, redirect_uri included (reference §2.1, §6.9).
    return urlencode(params, quote_via=quote, safe="")


def qrconnect_url(
    open_base: str, appid: str, redirect_uri: str, state: str, *, lang: str | None = None
) -> str:
    """Website QR login page (reference §2.1), ending in ``#wechat_redirect``."""
    params = [("appid", appid), ("redirect_uri", redirect_uri), ("response_type", "code")]
    params += [("scope", "snsapi_login"), ("state", check_state(state))]
    if lang:
        params.append(("lang", lang))
    return f"{open_base.rstrip('/')}/connect/qrconnect?{_query(params)}#wechat_redirect"


def authorize_url(
    open_base: str,
    appid: str,
    redirect_uri: str,
    scope: Literal["snsapi_base", "snsapi_userinfo"],
    state: str,
    *,
    force_popup: bool = False,
) -> str:
    """Official-account web authorization (reference §2.3), ending in ``#wechat_redirect``."""
    params = [("appid", appid), ("redirect_uri", redirect_uri), ("response_type", "code")]
    params += [("scope", scope), ("state", check_state(state))]
    if force_popup:
        params.append(("forcePopup", "true"))
    return f"{open_base.rstrip('/')}/connect/oauth2/authorize?{_query(params)}#wechat_redirect"


def widget_params(
    container_id: str,
    appid: str,
    redirect_uri: str,
    state: str,
    *,
    self_redirect: bool = False,
    style: Literal["black", "white"] = "black",
    href: str = "",
    stylelite: bool = False,
    fast_login: bool = True,
) -> dict[str, str | bool | int]:
    """Options for ``new WxLogin({...})`` (reference §2.2).

    ``redirect_uri`` is URL-encoded here because wxLogin.js concatenates it raw.
    """
    params: dict[str, str | bool | int] = {
        "self_redirect": self_redirect,
        "id": container_id,
        "appid": appid,
        "scope": "snsapi_login",
        "redirect_uri": quote(redirect_uri, safe=""),
        "state": check_state(state),
        "style": style,
    }
    if href:
        params["href"] = href
    if stylelite:
        params["stylelite"] = 1
    if not fast_login:
        params["fast_login"] = 0
    return params

"""Everything that knows WeChat URLs, parameters and errcodes (reference: wechat-api.md).

``protocol`` (pure builders and parsers), ``browser`` (browser-facing URLs, wxLogin.js, WeChat's
User-Agent), ``models`` (typed results), ``errors`` (WeChatError, UpstreamError, their mapping
onto the gateway's errors, bounded errcode labels), ``crypto`` (open-data signatures and
decryption), ``client`` (``WeChatClient``: I/O, retries, the server access_token cache),
``metrics`` (the ``wxgate_wechat_*`` families).
"""

from gateway.wechat.browser import in_wechat_browser, wxlogin_script_url
from gateway.wechat.client import WeChatClient
from gateway.wechat.errors import (
    KNOWN_WECHAT_ERRCODES,
    LoginRequired,
    UpstreamError,
    WeChatError,
    errcode_label,
    wechat_cause,
)
from gateway.wechat.models import Code2Session, OAuthToken, PhoneInfo, ServerToken, UserInfo

__all__ = [
    "KNOWN_WECHAT_ERRCODES",
    "Code2Session",
    "LoginRequired",
    "OAuthToken",
    "PhoneInfo",
    "ServerToken",
    "UpstreamError",
    "UserInfo",
    "WeChatClient",
    "WeChatError",
    "errcode_label",
    "in_wechat_browser",
    "wechat_cause",
    "wxlogin_script_url",
]

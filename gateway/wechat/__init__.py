"""Everything that knows WeChat URLs, parameters and errcodes (reference: wechat-api.md).

``protocol`` (pure builders and parsers), ``models`` (typed results), ``errors`` (WeChatError,
UpstreamError and their mapping onto the gateway's errors), ``crypto`` (open-data signatures and
decryption), ``client`` (``WeChatClient``: I/O, retries, the server access_token cache).
"""

from gateway.wechat.client import WeChatClient
from gateway.wechat.errors import LoginRequired, UpstreamError, WeChatError, wechat_cause
from gateway.wechat.models import Code2Session, OAuthToken, PhoneInfo, ServerToken, UserInfo

__all__ = [
    "Code2Session",
    "LoginRequired",
    "OAuthToken",
    "PhoneInfo",
    "ServerToken",
    "UpstreamError",
    "UserInfo",
    "WeChatClient",
    "WeChatError",
    "wechat_cause",
]

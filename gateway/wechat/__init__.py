"""Everything that knows WeChat URLs, parameters and errcodes (reference: wechat-api.md).

``protocol`` (pure builders and parsers), ``browser`` (the URLs and script a browser is sent
to), ``models`` (typed results), ``errors`` (WeChatError, UpstreamError and their mapping onto
the gateway's errors), ``crypto`` (open-data signatures and decryption), ``client``
(``WeChatClient``: I/O, retries, the server access_token cache). This module is the package's
face: code outside ``gateway.wechat`` imports from here.
"""

from gateway.wechat.browser import (
    WXLOGIN_SCRIPT_PATH,
    WXLOGIN_SCRIPT_URL,
    authorize_url,
    qrconnect_url,
    widget_params,
)
from gateway.wechat.client import WeChatClient
from gateway.wechat.crypto import (
    SessionKeyStale,
    check_raw_signature,
    checksession_signature,
    decrypt_open_data,
    encrypt_open_data,
    raw_data_signature,
)
from gateway.wechat.errors import LoginRequired, UpstreamError, WeChatError, wechat_cause
from gateway.wechat.models import Code2Session, OAuthToken, PhoneInfo, ServerToken, UserInfo
from gateway.wechat.protocol import image_mime

__all__ = [
    # services
    "WeChatClient",
    # browser URLs and the login script
    "WXLOGIN_SCRIPT_PATH",
    "WXLOGIN_SCRIPT_URL",
    "authorize_url",
    "qrconnect_url",
    "widget_params",
    # open data (mini-program signatures and decryption; the simulator signs and encrypts)
    "check_raw_signature",
    "checksession_signature",
    "decrypt_open_data",
    "encrypt_open_data",
    "raw_data_signature",
    # values
    "Code2Session",
    "OAuthToken",
    "PhoneInfo",
    "ServerToken",
    "UserInfo",
    # protocol helpers
    "image_mime",
    # errors
    "LoginRequired",
    "SessionKeyStale",
    "UpstreamError",
    "WeChatError",
    "wechat_cause",
]

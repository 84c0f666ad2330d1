"""Everything that knows WeChat URLs, parameters and errcodes (reference: wechat-api.md).

``protocol`` (pure builders and parsers), ``browser`` (browser-facing URLs, wxLogin.js, WeChat's
User-Agent), ``models`` (typed results), ``errors`` (WeChatError, UpstreamError, their mapping
onto the gateway's errors, bounded errcode labels), ``crypto`` (open-data signatures and
decryption), ``messages`` (official-account pushes: signatures, safe-mode AES, defused
XML), ``client`` (``WeChatClient``: I/O, retries, the server access_token cache),
``metrics`` (the ``wxgate_wechat_*`` families). This module is the package's face: code outside
``gateway.wechat`` imports from here.
"""

from gateway.wechat.browser import (
    WXLOGIN_SCRIPT_PATH,
    WXLOGIN_SCRIPT_URL,
    authorize_url,
    in_wechat_browser,
    qrconnect_url,
    widget_params,
    wxlogin_script_url,
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
from gateway.wechat.errors import (
    KNOWN_WECHAT_ERRCODES,
    LoginRequired,
    UpstreamError,
    WeChatError,
    errcode_label,
    wechat_cause,
)
from gateway.wechat.messages import (
    LOGIN_EVENTS,
    MAX_EVENT_BODY,
    TIMESTAMP_WINDOW,
    EventMessage,
    MessageCipher,
    MessageMode,
    MessageRejected,
    Push,
    check_signature,
    encrypted_reply,
    envelope_xml,
    event_xml,
    is_aes_key,
    is_server_token,
    reply_xml,
    signature,
    verify_push,
)
from gateway.wechat.metrics import WeChatMetrics
from gateway.wechat.models import (
    Code2Session,
    Follower,
    OAuthToken,
    ParamQrCode,
    PhoneInfo,
    ServerToken,
    UserInfo,
)
from gateway.wechat.protocol import image_mime

__all__ = [
    # services
    "WeChatClient",
    # browser URLs, the login script, WeChat's browser
    "WXLOGIN_SCRIPT_PATH",
    "WXLOGIN_SCRIPT_URL",
    "authorize_url",
    "in_wechat_browser",
    "qrconnect_url",
    "widget_params",
    "wxlogin_script_url",
    # open data (mini-program signatures and decryption; the simulator signs and encrypts)
    "check_raw_signature",
    "checksession_signature",
    "decrypt_open_data",
    "encrypt_open_data",
    "raw_data_signature",
    # official-account pushes (reference §2.15; the simulator builds and signs them too)
    "LOGIN_EVENTS",
    "MAX_EVENT_BODY",
    "TIMESTAMP_WINDOW",
    "EventMessage",
    "MessageCipher",
    "MessageMode",
    "MessageRejected",
    "Push",
    "check_signature",
    "encrypted_reply",
    "envelope_xml",
    "event_xml",
    "is_aes_key",
    "is_server_token",
    "reply_xml",
    "signature",
    "verify_push",
    # errcode labels for metrics (reference §3)
    "KNOWN_WECHAT_ERRCODES",
    "errcode_label",
    # values
    "Code2Session",
    "Follower",
    "OAuthToken",
    "ParamQrCode",
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
    # metric families
    "WeChatMetrics",
]

"""Small HTML pages of flows A and B: refused, snapshot user, embedded QR widget."""

from __future__ import annotations

import html
import json
from string import Template
from urllib.parse import urlsplit

from aiohttp import web

from gateway.server.pages.i18n import pick_lang

__all__ = ["denied_page", "embed_page", "snapshot_page"]

_PAGE = Template("""<!doctype html>
<html lang="$lang"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;
color:#222}a.button{display:inline-block;padding:.6rem 1.2rem;background:#07c160;color:#fff;
border-radius:6px;text-decoration:none}</style></head>
<body><h1>$title</h1><p>$text</p>$body</body></html>""")

_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def _zh(request: web.BaseRequest) -> bool:
    return pick_lang(request) == "zh"  # the scan pages' choice: ?lang=, then q-values


def _page(request: web.BaseRequest, title: str, text: str, body: str, status: int) -> web.Response:
    page = _PAGE.substitute(
        lang="zh-CN" if _zh(request) else "en", title=html.escape(title), text=text, body=body
    )
    return web.Response(
        text=page,
        status=status,
        content_type="text/html",
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": _CSP,
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
        },
    )


def _retry(url: str, label: str) -> str:
    return f'<p><a class="button" href="{html.escape(url)}">{html.escape(label)}</a></p>'


def denied_page(request: web.BaseRequest, retry_url: str) -> web.Response:
    """The user refused on WeChat's page (reference §2.1 refusal)."""
    if _zh(request):
        return _page(
            request, "登录已取消", "你在微信中拒绝了授权。", _retry(retry_url, "重新登录"), 403
        )
    text = "You declined the authorization in WeChat."
    return _page(request, "Login cancelled", text, _retry(retry_url, "Try again"), 403)


def snapshot_page(request: web.BaseRequest, retry_url: str) -> web.Response:
    """Snapshot-mode users get no account (reference §2.3, §6.10)."""
    if _zh(request):
        text = "当前为快照页模式，请点击页面底部的“使用完整服务”后再登录。"
        return _page(request, "请使用完整服务", text, _retry(retry_url, "重新登录"), 403)
    text = (
        "WeChat opened this page in snapshot mode. Tap “Use full service” at the bottom of "
        "the page, then log in again."
    )
    return _page(request, "Open the full service", text, _retry(retry_url, "Log in again"), 403)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def embed_page(
    request: web.BaseRequest,
    script_url: str,
    frame_base: str,
    widget: dict[str, str | bool | int],
) -> web.Response:
    """A page embedding WeChat's QR widget ``wxLogin.js`` (reference §2.2); the widget frames
    ``<frame_base>/connect/qrconnect``."""
    options = json.dumps(widget).replace("<", "\\u003c")
    body = (
        '<div id="wxgate-qr"></div>'
        f'<script src="{html.escape(script_url)}"></script>'
        f'<script type="application/json" id="wxgate-widget">{options}</script>'
        '<script src="/auth/wechat/web/embed.js"></script>'
    )
    title = "微信扫码登录" if _zh(request) else "Log in with WeChat"
    text = "请使用微信扫描二维码。" if _zh(request) else "Scan the QR code with WeChat."
    resp = _page(request, title, text, body, 200)
    resp.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'self' {_origin(script_url)}; "
        f"frame-src {_origin(frame_base)}; style-src 'unsafe-inline'; img-src 'self' data:; "
        "base-uri 'none'; frame-ancestors 'none'"
    )
    # wxLogin.js and its frame come from WeChat: the browser's default referrer, as before
    resp.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    return resp


EMBED_JS = """// Starts WeChat's QR widget with options the server rendered (reference §2.2).
(function () {
  var options = JSON.parse(document.getElementById('wxgate-widget').textContent);
  new WxLogin(options);
})();
"""

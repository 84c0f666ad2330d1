"""Pages of flows A and B: refused, snapshot user, the embedded wxLogin.js QR widget."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from gateway.server.pages.engine import Asset, json_for_html, render, script
from gateway.server.pages.i18n import TEXT, pick_lang

__all__ = ["denied_page", "embed_page", "embed_script", "no_access_page", "snapshot_page"]


def _retry_page(request: web.BaseRequest, key: str, retry_url: str) -> web.Response:
    t = TEXT[pick_lang(request)]
    return render(
        request, "oauth-message.html", status=403, csp={"style-src": "'unsafe-inline'"},
        title=t[f"{key}_title"], text=t[f"{key}_text"], retry_url=retry_url,
        retry_label=t[f"{key}_retry"],
    )  # fmt: skip


def denied_page(request: web.BaseRequest, retry_url: str) -> web.Response:
    """The user refused on WeChat's page (reference §2.1 refusal)."""
    return _retry_page(request, "refused", retry_url)


def snapshot_page(request: web.BaseRequest, retry_url: str) -> web.Response:
    """Snapshot-mode users get no account (reference §2.3, §6.10)."""
    return _retry_page(request, "snapshot", retry_url)


def no_access_page(request: web.BaseRequest) -> web.Response:
    """403 for a logged-in person a route's policy does not allow (authz): no login link,
    since logging in again would not change the answer; a link home instead."""
    return _retry_page(request, "no_access", "/")


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
    ``<frame_base>/connect/qrconnect``. Its options reach ``embed_script`` in a JSON block."""
    t = TEXT[pick_lang(request)]
    csp = {
        "script-src": f"'self' {_origin(script_url)}",
        "frame-src": _origin(frame_base),
        "style-src": "'unsafe-inline'",
    }
    return render(
        request, "oauth-embed.html", csp=csp,
        # wxLogin.js and its frame come from WeChat: the browser's default referrer, as before
        referrer="strict-origin-when-cross-origin",
        title=t["widget_title"], text=t["widget_text"], script_url=script_url,
        widget_json=json_for_html(widget),
    )  # fmt: skip


def embed_script() -> Asset:
    """The embed page's own script (``/auth/wechat/web/embed.js``): starts the widget."""
    return script("oauth-embed.js")

"""The page engine: escaping, language, headers and CSP of every page, the served assets."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from gateway.server import pages
from gateway.server.pages.engine import (
    ASSET_PATH,
    Markup,
    asset_url,
    content_security_policy,
    json_for_html,
    render,
)

SCAN_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws://gw.example:8080 wss://gw.example:8080; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def request(path: str = "/", **headers: str) -> web.Request:
    return make_mocked_request("GET", path, headers={"Host": "gw.example:8080", **headers})


def test_values_are_escaped_unless_markup() -> None:
    page = render(
        request(), "scan-message.html", title="<b>&\"'", text=Markup("<i>ok</i>"),
        kind="error", css_url="/x.css",
    )  # fmt: skip
    assert page.text is not None
    assert "<title>&lt;b&gt;&amp;&quot;&#x27;</title>" in page.text
    assert '<p id="message-text"><i>ok</i></p>' in page.text
    assert '<html lang="en">' in page.text


@pytest.mark.parametrize(
    ("path", "accept", "lang"),
    [("/", "zh-CN,zh;q=0.9", "zh-CN"), ("/?lang=en", "zh-CN", "en"), ("/", "en,zh;q=0.5", "en")],
)
def test_the_page_language_is_the_request_s(path: str, accept: str, lang: str) -> None:
    page = pages.message_page(request(path, **{"Accept-Language": accept}), "done")
    assert page.text is not None and f'<html lang="{lang}">' in page.text


def test_every_page_carries_the_security_headers() -> None:
    page = pages.message_page(request(), "gone", 404)
    assert page.status == 404 and page.content_type == "text/html"
    assert page.headers["Content-Security-Policy"] == SCAN_CSP
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    odd = pages.message_page(request(Host='evil"host'), "gone")
    assert "connect-src 'self';" in odd.headers["Content-Security-Policy"]


def test_a_page_adds_to_the_base_policy_but_cannot_loosen_it() -> None:
    policy = content_security_policy({"style-src": "'unsafe-inline'"})
    assert policy == (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    with pytest.raises(ValueError, match="frame-ancestors"):
        content_security_policy({"frame-ancestors": "*"})


def test_json_for_html_cannot_end_its_block() -> None:
    text = json_for_html({"return_to": "/a</script><b>&'\""})
    assert isinstance(text, Markup)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"return_to": "/a</script><b>&'\""}


def test_only_listed_assets_are_served() -> None:
    css = pages.asset("scan.css")
    assert css is not None and css.content_type == "text/css" and len(css.version) == 12
    assert asset_url("scan.css") == f"{ASSET_PATH}scan.css?v={css.version}"
    for name in ("oauth-embed.js", "scan-login.html", "../engine.py", "nope.js"):
        assert pages.asset(name) is None
    with pytest.raises(KeyError):
        asset_url("oauth-embed.js")
    assert b"new WxLogin(options)" in pages.embed_script().body


def test_refusal_page_escapes_its_retry_link() -> None:
    page = pages.denied_page(request(**{"Accept-Language": "zh"}), '/auth/x?a=1&b="2"')
    assert page.status == 403 and page.text is not None
    assert 'href="/auth/x?a=1&amp;b=&quot;2&quot;">重新登录</a>' in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "style-src 'unsafe-inline'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp


def test_embed_page_frames_the_widget_origin_only() -> None:
    page = pages.embed_page(
        request(), "https://res.example/js/wxLogin.js", "https://open.example",
        {"id": "wxgate-qr", "state": "</script>"},
    )  # fmt: skip
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self' https://res.example;" in csp
    assert "frame-src https://open.example;" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert page.text is not None and '</script>"' not in page.text
    block = page.text.split('id="wxgate-widget">')[1].split("</script>")[0]
    assert json.loads(block) == {"id": "wxgate-qr", "state": "</script>"}

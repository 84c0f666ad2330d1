"""Pages of the OpenID Provider: consent, the authorization error page, logout confirmation.
Language: the request's ``ui_locales`` (OIDC Core §3.1.2.1) when it names zh or en, else the
usual choice (``?lang=``, ``Accept-Language``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from gateway.server.pages.engine import Markup, escape, render
from gateway.server.pages.i18n import pick_lang

__all__ = ["consent_page", "logout_page", "oidc_error_page", "page_lang"]

_CSP = {"style-src": "'unsafe-inline'", "form-action": "'self'"}


def _csp(then: str | None) -> dict[str, str]:
    """The pages' policy; ``then``: the URL the form's answer redirects to — browsers apply
    ``form-action`` to that redirect too (CSP 3 §6.4.2), so its origin is allowed."""
    if not then:
        return _CSP
    parts = urlsplit(then)
    return {**_CSP, "form-action": f"'self' {parts.scheme}://{parts.netloc}"}


_TEXT = {
    "en": {
        "consent_title": "Allow access?",
        "consent_text": "$client wants to use your account. It asks for:",
        "allow": "Allow",
        "deny": "Deny",
        "error_title": "This login request cannot be completed",
        "error_text": "The application sent a request that is not valid. Go back to it and try"
        " again; if it keeps happening, tell its administrators.",
        "logout_title": "Log out?",
        "logout_text": "Log out of your account on this device?",
        "logout_button": "Log out",
        "logged_out_title": "Logged out",
        "logged_out_text": "You have been logged out.",
        "openid": "Your account identifier",
        "profile": "Your nickname and avatar",
        "phone": "Your phone number",
        "wechat": "Your WeChat identifiers (openid, unionid)",
        "roles": "Your roles",
        "offline_access": "Keep access while you are away",
    },
    "zh": {
        "consent_title": "是否允许访问？",
        "consent_text": "$client 请求使用你的账号，需要以下权限：",
        "allow": "允许",
        "deny": "拒绝",
        "error_title": "无法完成此登录请求",
        "error_text": "应用发送的请求无效。请返回应用重试；如果问题持续出现，请联系其管理员。",
        "logout_title": "退出登录？",
        "logout_text": "是否在此设备上退出你的账号？",
        "logout_button": "退出登录",
        "logged_out_title": "已退出登录",
        "logged_out_text": "你已退出登录。",
        "openid": "你的账号标识",
        "profile": "你的昵称和头像",
        "phone": "你的手机号码",
        "wechat": "你的微信标识（openid、unionid）",
        "roles": "你的角色",
        "offline_access": "在你离开时保持访问",
    },
}


def page_lang(request: web.BaseRequest, ui_locales: tuple[str, ...] = ()) -> str:
    """``zh`` or ``en``: the first of ``ui_locales`` we have, else the request's choice."""
    for tag in ui_locales:
        primary = tag.lower().split("-")[0]
        if primary in _TEXT:
            return primary
    return pick_lang(request)


def _form(action: str, hidden: dict[str, str], buttons: list[tuple[str, str, str]]) -> Markup:
    """A POST form to ``action`` with ``hidden`` fields and (class, value, label) buttons."""
    fields = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in hidden.items()
    )
    named = "".join(
        f'<button class="{escape(cls)}" type="submit" name="action" value="{escape(value)}">'
        f"{escape(label)}</button>"
        for cls, value, label in buttons
    )
    return Markup(f'<form method="post" action="{escape(action)}">{fields}{named}</form>')


def _page(
    request: web.BaseRequest, lang: str, *, status: int = 200, then: str | None = None,
    kind: str, title: str, text: str, content: Markup,
) -> web.Response:  # fmt: skip
    return render(
        request, "oidc-page.html", status=status, csp=_csp(then),
        lang=("zh-CN" if lang == "zh" else "en"), kind=kind, title=title, text=text,
        content=content,
    )  # fmt: skip


def consent_page(
    request: web.BaseRequest,
    client_name: str,
    scopes: tuple[str, ...],
    consent: str,
    lang: str,
    redirect_uri: str,
) -> web.Response:
    """Ask the person whether ``client_name`` may have ``scopes``; the form posts ``consent``
    (the single-use handle of this request) with ``action`` = allow or deny, answered by a
    redirect to ``redirect_uri``."""
    t = _TEXT[lang]
    items = "".join(f"<li>{escape(t.get(s, s))}</li>" for s in scopes)
    form = _form("/auth/authorize/consent", {"consent": consent},
                 [("allow", "allow", t["allow"]), ("deny", "deny", t["deny"])])  # fmt: skip
    return _page(
        request, lang, then=redirect_uri, kind="consent", title=t["consent_title"],
        text=t["consent_text"].replace("$client", client_name),
        content=Markup(f'<ul class="wxgate-scopes">{items}</ul>{form}'),
    )  # fmt: skip


def oidc_error_page(request: web.BaseRequest, error: str, lang: str) -> web.Response:
    """An authorization request whose client or redirect URI cannot be trusted: never a
    redirect (OIDC Core §3.1.2.6), a page with the error code."""
    t = _TEXT[lang]
    return _page(
        request, lang, status=400, kind="error", title=t["error_title"], text=t["error_text"],
        content=Markup(f"<p><code>{escape(error)}</code></p>"),
    )  # fmt: skip


def logout_page(
    request: web.BaseRequest, confirm: str | None, lang: str, then: str | None = None
) -> web.Response:
    """RP-initiated logout without an ``id_token_hint``: ask first (``confirm`` is the form's
    single-use handle; ``then`` the post-logout redirect it answers with); ``confirm`` None:
    the done page."""
    t = _TEXT[lang]
    if confirm is None:
        return _page(request, lang, kind="logged-out", title=t["logged_out_title"],
                     text=t["logged_out_text"], content=Markup(""))  # fmt: skip
    form = _form("/auth/end-session", {"confirm": confirm},
                 [("logout", "logout", t["logout_button"])])  # fmt: skip
    return _page(request, lang, then=then, kind="logout", title=t["logout_title"],
                 text=t["logout_text"], content=form)  # fmt: skip

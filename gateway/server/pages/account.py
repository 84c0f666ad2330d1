"""The person's account page (``/auth/account``), the admin page (``/admin/``) and the page a
disabled person sees at login. Same look (``scan.css`` + ``admin.css``) and CSP as the login
pages: only the gateway's own styles and scripts, forms and fetches to itself."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from aiohttp import web

from gateway.server.pages.admin_text import ADMIN_TEXT
from gateway.server.pages.engine import Markup, asset_url, escape, json_for_html, render
from gateway.server.pages.i18n import pick_lang
from gateway.tokens import Session
from gateway.users import User

__all__ = ["account_page", "admin_page", "disabled_page"]

_CSP = {"style-src": "'self'", "form-action": "'self'"}
_ADMIN_CSP = {"style-src": "'self'", "script-src": "'self'", "connect-src": "'self'",
              "form-action": "'self'"}  # fmt: skip


def _when(epoch: float | None, never: str) -> str:
    if epoch is None:
        return never
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def disabled_page(request: web.BaseRequest) -> web.Response:
    """403 at login for a person an administrator disabled (no login link: it would fail)."""
    t = ADMIN_TEXT[pick_lang(request)]
    return render(
        request, "oauth-message.html", status=403, csp={"style-src": "'unsafe-inline'"},
        title=t["disabled_title"], text=t["disabled_text"], retry_url="/",
        retry_label=t["disabled_retry"],
    )  # fmt: skip


def _identities(user: User) -> Markup:
    items = [
        f"<li><b>{escape(i.app)}</b> <code>{escape(i.openid)}</code></li>" for i in user.identities
    ]
    return Markup("\n".join(items))


def _session_rows(
    sessions: Sequence[Session], current: str, csrf: str, t: dict[str, str]
) -> Markup:
    rows = []
    for s in sessions:
        refreshed = float(s.refreshed_at) if s.refreshed_at else None
        if s.sid == current:
            action = f'<span class="current">{escape(t["this_session"])}</span>'
        else:
            action = (
                '<form method="post" action="/auth/account/sessions/end">'
                f'<input type="hidden" name="csrf_token" value="{escape(csrf)}">'
                f'<input type="hidden" name="sid" value="{escape(s.sid)}">'
                f'<button class="end" type="submit">{escape(t["end"])}</button></form>'
            )
        rows.append(
            f'<tr data-sid="{escape(s.sid)}"><td>{escape(_when(s.created_at, ""))}</td>'
            f"<td>{escape(_when(refreshed, t['never']))}</td>"
            f"<td>{escape(','.join(s.amr))}</td>"
            f"<td>{escape(s.client_ip)}<br><small>{escape(s.user_agent[:120])}</small></td>"
            f"<td>{action}</td></tr>"
        )
    return Markup("\n".join(rows))


def account_page(
    request: web.BaseRequest, user: User, sessions: Sequence[Session], current: str, csrf: str
) -> web.Response:
    """The person's linked identities and live sessions; end one, or all but this one."""
    t = ADMIN_TEXT[pick_lang(request)]
    return render(
        request, "account.html", csp=_CSP,
        title=t["account_title"], sub=user.sub, nickname=user.nickname or "",
        identities_heading=t["identities"],
        identities=_identities(user), sessions_heading=t["sessions"],
        created=t["created"], refreshed=t["refreshed"], flow=t["flow"], client=t["client"],
        rows=_session_rows(sessions, current, csrf, t), csrf=csrf, end_others=t["end_others"],
        css_url=asset_url("scan.css"), admin_css_url=asset_url("admin.css"),
    )  # fmt: skip


def admin_page(request: web.BaseRequest) -> web.Response:
    """The admin page: a shell whose script (``admin.js``) works through the admin API only."""
    lang = pick_lang(request)
    t = ADMIN_TEXT[lang]
    return render(
        request, "admin.html", csp=_ADMIN_CSP,
        title=t["admin_title"], search=t["search"], search_hint=t["search_hint"],
        text_json=json_for_html(t),
        css_url=asset_url("scan.css"), admin_css_url=asset_url("admin.css"),
        js_url=asset_url("admin.js"),
    )  # fmt: skip

"""The demo relying party's one page (``templates.RP_PAGE``): every value escaped, a strict
Content-Security-Policy, never cached."""

from __future__ import annotations

import json
import time
from html import escape
from urllib.parse import urlencode

from aiohttp import web

from gateway.simulator.rp.state import RP_COOKIE, BrowserSession, DemoRelyingParty, Login
from gateway.simulator.templates import RP_PAGE

__all__ = ["page", "with_cookie"]


def with_cookie(response: web.Response, rp: DemoRelyingParty, key: str) -> web.Response:
    """``response`` setting the browser's RP session cookie (HttpOnly, the RP's path only)."""
    response.set_cookie(RP_COOKIE, key, path=f"{rp.path}/", httponly=True, samesite="Lax",
                        secure=rp.secure)  # fmt: skip
    return response


def page(
    rp: DemoRelyingParty,
    session: BrowserSession | None,
    notice: tuple[str, str] | None,
    *,
    status: int = 200,
) -> web.Response:
    """The page for this browser: ``notice`` (css class, text), else the session's pending
    one; the login (claims, UserInfo, the logout link) or the buttons; back-channel logouts."""
    if notice is None and session is not None:
        notice, session.notice = session.notice, None
    shown = (
        f'<p id="rp-notice" class="{escape(notice[0])}">{escape(notice[1])}</p>' if notice else ""
    )
    login = session.login if session is not None else None
    body = _buttons(rp, "Log in")
    if login is not None:
        body = _logged_in(rp, login, session) + _buttons(rp, "Log in again (any client)")
    html = RP_PAGE.format(issuer=escape(rp.issuer), notice=shown, body=body,
                          backchannel=_backchannel_table(rp))  # fmt: skip
    origin = escape(rp.public_url)
    csp = ("default-src 'none'; style-src 'unsafe-inline'; "
           f"form-action 'self' {origin}; base-uri 'none'; frame-ancestors 'none'")  # fmt: skip
    headers = {"Content-Security-Policy": csp, "Cache-Control": "no-store",
               "Referrer-Policy": "no-referrer"}  # fmt: skip
    return web.Response(text=html, content_type="text/html", status=status, headers=headers)


def _buttons(rp: DemoRelyingParty, heading: str) -> str:
    if not rp.clients:
        return "<p>No OIDC client is registered with this page's callback.</p>"
    forms = []
    for client in rp.clients.values():
        kind = "public" if client.public else "confidential"
        notes = ["PKCE"] if client.public else []
        notes += [] if client.first_party else ["consent page"]
        how = ", ".join(notes) or "client secret"
        label = f"Log in with WeChat ({kind} client {client.client_id}, {how})"
        forms.append(
            f'<form method="post" action="{escape(rp.path)}/login">'
            f'<button type="submit" name="client" value="{escape(client.client_id)}">'
            f"{escape(label)}</button></form>"
        )
    return f"<h2>{escape(heading)}</h2>\n" + "\n".join(forms)


def _logged_in(rp: DemoRelyingParty, login: Login, session: BrowserSession | None) -> str:
    claims = escape(json.dumps(login.claims, indent=2, ensure_ascii=False, sort_keys=True))
    userinfo = escape(json.dumps(login.userinfo, indent=2, ensure_ascii=False, sort_keys=True))
    logout = _logout_link(rp, login, session)
    return (
        f"<h2>Logged in through <code>{escape(login.client_id)}</code></h2>\n"
        f'<p>sub: <code id="rp-sub">{escape(str(login.claims["sub"]))}</code></p>\n'
        "<h3>ID token claims (signature, iss, aud, exp, nonce and at_hash checked)</h3>\n"
        f'<pre id="rp-claims">{claims}</pre>\n'
        f'<h3>UserInfo</h3>\n<pre id="rp-userinfo">{userinfo}</pre>\n{logout}\n'
    )


def _logout_link(rp: DemoRelyingParty, login: Login, session: BrowserSession | None) -> str:
    metadata = rp.op.metadata_if_known()
    endpoint = metadata.get("end_session_endpoint") if metadata else None
    client = rp.clients.get(login.client_id)
    if not isinstance(endpoint, str) or client is None or session is None:
        return ""
    params = {"id_token_hint": login.id_token}
    if client.post_logout_redirect_uri and session.logout_state:
        params |= {"post_logout_redirect_uri": client.post_logout_redirect_uri,
                   "state": session.logout_state}  # fmt: skip
    href = escape(f"{endpoint}?{urlencode(params)}")
    return (
        f'<p><a id="rp-logout" href="{href}">Log out</a> '
        '<span class="muted">(at the provider: RP-initiated logout with id_token_hint)</span></p>'
    )


def _backchannel_table(rp: DemoRelyingParty) -> str:
    if not rp.backchannel:
        return '<p class="muted" id="rp-backchannel">None yet.</p>'
    rows = "".join(
        f"<tr><td>{escape(time.strftime('%H:%M:%S', time.gmtime(r.at)))} UTC</td>"
        f"<td>{escape(r.client_id)}</td><td><code>{escape(r.sid or '-')}</code></td>"
        f"<td><code>{escape(r.sub or '-')}</code></td><td>{r.ended}</td></tr>"
        for r in rp.backchannel
    )
    head = "<tr><th>at</th><th>client</th><th>sid</th><th>sub</th><th>RP sessions ended</th></tr>"
    return f'<table id="rp-backchannel">{head}{rows}</table>'

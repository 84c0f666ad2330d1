"""HTML and JavaScript of the simulated pages and of the demo relying party (``str.format``
templates; braces doubled)."""

from __future__ import annotations

__all__ = ["CONSENT_PAGE", "FOLLOW_PAGE", "FOLLOW_RESULT", "MESSAGE_PAGE", "RP_PAGE", "WXLOGIN_JS"]

_STYLE = """<style>
body {{ font-family: system-ui, sans-serif; max-width: 26rem; margin: 2rem auto; padding: 1rem;
  color: #222; background: #f2f2f2; }}
.phone {{ background: #fff; border-radius: 1rem; padding: 1.5rem; box-shadow: 0 2px 8px #0002; }}
h1 {{ font-size: 1.2rem; }} .muted {{ color: #777; font-size: .85rem; }}
input[type=text] {{ width: 100%; padding: .5rem; margin: .5rem 0 1rem; box-sizing: border-box; }}
button {{ padding: .6rem 1rem; margin: .2rem; border-radius: .4rem; border: 1px solid #aaa; }}
#sim-allow {{ background: #07c160; color: #fff; border-color: #07c160; }}
</style>"""

CONSENT_PAGE = (
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Simulated WeChat authorization</title>"""
    + _STYLE
    + """</head>
<body><div class="phone">
<h1>Simulated WeChat</h1>
<p>App <code>{appid}</code> asks for <code>{scope}</code>.</p>
<p class="muted">This page stands in for the phone: choose who is holding it.</p>
<form method="post" action="{action}">
{hidden}
<label for="sim-user">WeChat user</label>
<input type="text" id="sim-user" name="sim_user" value="{user}" autocomplete="off">
<button type="submit" id="sim-allow" name="sim_action" value="allow">Allow</button>
<button type="submit" id="sim-deny" name="sim_action" value="deny">Deny</button>
<button type="submit" id="sim-deny-page" name="sim_action" value="deny_page">
Deny (no redirect)</button>
</form>
</div></body></html>
"""
)

# The simulated phone of flow E (``follow_pages``): scanning an official account's parametric QR.
FOLLOW_PAGE = (
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Simulated WeChat: scan</title>"""
    + _STYLE
    + """</head>
<body><div class="phone">
<h1>Simulated WeChat</h1>
<p>This QR code belongs to the official account <code>{appid}</code>.</p>
<p class="muted">Scanning it pushes a signed event to the account's server URL, as WeChat does
(reference §2.15): <code>subscribe</code> for a new follower, <code>SCAN</code> for a follower.</p>
<form method="post" action="{action}">
<label for="sim-user">WeChat user</label>
<input type="text" id="sim-user" name="sim_user" value="{user}" autocomplete="off">
<p><label><input type="radio" name="follower" value="no" id="sim-new" checked>
New follower (subscribe)</label><br>
<label><input type="radio" name="follower" value="yes" id="sim-follower">
Already follows (SCAN)</label></p>
<p class="muted">Switches:<br>
<label><input type="checkbox" name="retries" id="sim-retries"> WeChat's retries
(the same event three times)</label><br>
<label><input type="checkbox" name="bad_signature" id="sim-bad-signature"> Bad signature</label><br>
<label><input type="checkbox" name="stale" id="sim-stale"> Stale timestamp (301 s old)</label><br>
<label><input type="checkbox" name="unverified" id="sim-unverified"> Unverified account
(48001 for the next QR codes)</label></p>
<button type="submit" id="sim-scan">Scan and follow</button>
</form>
</div></body></html>
"""
)

FOLLOW_RESULT = (
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>"""
    + _STYLE
    + """</head>
<body><div class="phone"><h1>{title}</h1><p id="sim-message">{text}</p>
<ul id="sim-deliveries">{rows}</ul></div></body></html>
"""
)

MESSAGE_PAGE = (
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>"""
    + _STYLE
    + """</head>
<body><div class="phone"><h1>{title}</h1><p id="sim-message">{text}</p></div></body></html>
"""
)

# The demo relying party's one page (``rp``): every field is escaped HTML built there.
RP_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo relying party</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem;
  color: #222; }}
h1 {{ font-size: 1.4rem; }} h2 {{ font-size: 1.1rem; margin-top: 2rem; }}
h3 {{ font-size: .95rem; }} .muted {{ color: #666; font-size: .9rem; }}
pre {{ background: #f4f4f4; padding: .75rem; overflow-x: auto; border-radius: .3rem; }}
button {{ padding: .6rem 1rem; margin: .3rem 0; border-radius: .4rem; border: 1px solid #07c160;
  background: #07c160; color: #fff; cursor: pointer; }}
.notice {{ background: #eef8f1; border-left: 4px solid #07c160; padding: .5rem .75rem; }}
.error {{ background: #fdeeee; border-left: 4px solid #d33; padding: .5rem .75rem; }}
table {{ border-collapse: collapse; font-size: .85rem; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .3rem .6rem; text-align: left; }}
</style></head>
<body><main>
<h1>Demo relying party</h1>
<p class="muted">A small OpenID Connect client that the gateway serves itself in dev mode. It
uses the provider at <code>{issuer}</code> as any relying party would: discovery, the
authorization code flow with PKCE, the token endpoint, the ID token checked against the JWKS,
UserInfo, RP-initiated and back-channel logout.</p>
{notice}
{body}
<h2>Back-channel logouts received</h2>
{backchannel}
</main></body></html>
"""

# Stand-in for WeChat's wxLogin.js (reference §2.2): the same options, the same iframe
# parameters, and the same quirk (redirect_uri is concatenated raw, so callers must encode it).
WXLOGIN_JS = r"""(function () {
  var script = document.currentScript;
  var path = /\/connect\/zh_CN\/htmledition\/js\/wxLogin\.js.*$/;
  var base = script ? script.src.replace(path, "") : "";
  window.WxLogin = function (o) {
    var selfRedirect = "default";
    if (o.self_redirect === true) { selfRedirect = "true"; }
    else if (o.self_redirect === false) { selfRedirect = "false"; }
    var src = base + "/connect/qrconnect?appid=" + o.appid + "&scope=" + o.scope +
      "&redirect_uri=" + o.redirect_uri + "&state=" + o.state +
      "&login_type=jssdk&self_redirect=" + selfRedirect +
      "&styletype=" + (o.styletype || "") + "&sizetype=" + (o.sizetype || "") +
      "&bgcolor=" + (o.bgcolor || "") + "&rst=" + (o.rst || "");
    if (o.style) { src += "&style=" + o.style; }
    if (o.href) { src += "&href=" + o.href; }
    var frame = document.createElement("iframe");
    frame.src = src;
    frame.frameBorder = "0";
    frame.scrolling = "no";
    frame.width = "300px";
    frame.height = "400px";
    var el = document.getElementById(o.id);
    el.innerHTML = "";
    el.appendChild(frame);
  };
})();
"""

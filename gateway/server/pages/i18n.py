"""Texts of the pages in Chinese and English, and the choice between them.

The language is ``?lang=zh|en`` when given, else the best of the two in ``Accept-Language``
(by q-value, RFC 9110 §12.5.4), else English.
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["LANGS", "STATE_TEXT", "TEXT", "pick_lang"]

LANGS = ("zh", "en")


def pick_lang(request: web.BaseRequest) -> str:
    """``zh`` or ``en`` for this request (see module doc)."""
    forced = request.query.get("lang", "")
    if forced in LANGS:
        return forced
    best, best_q = "en", 0.0
    for part in request.headers.get("Accept-Language", "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGS:
            continue
        q = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
        if q > best_q:
            best, best_q = primary, q
    return best


TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Log in",
        "heading": "Log in with WeChat",
        "lead": "Scan the QR code with WeChat on your phone.",
        "qr_alt": "Login QR code",
        "refresh": "Get a new code",
        "loading": "Preparing a QR code…",
        "web_login": "Use WeChat's own QR login",
        "dev_phone": "Open a simulated phone (dev)",
        "show_wxacode": "Use the mini-program code",
        "show_qr": "Use the QR code",
        "follow_login": "Follow our official account to log in",
        "confirm_title": "Confirm login",
        "confirm_heading": "Log in on the computer?",
        "confirm_question": "A computer asks to log in with your WeChat account.",
        "ip": "IP address",
        "browser": "Browser",
        "time": "Requested at",
        "warning": "Only confirm if you are in front of this computer yourself.",
        "confirm": "Confirm login",
        "deny": "Cancel",
        "done_title": "Logged in",
        "done_text": "You are logged in on the computer. You can close this page.",
        "denied_title": "Login cancelled",
        "denied_text": "The computer will not be logged in.",
        "gone_title": "QR code not valid",
        "gone_text": "This login QR code is unknown or has expired. Refresh it on the computer.",
        "expired_title": "QR code expired",
        "expired_text": "This login QR code has expired. Refresh it on the computer, then scan.",
        "used_title": "Already used",
        "used_text": "This login QR code has already been used.",
        "other_title": "Another account",
        "other_text": "This login QR code was scanned with another account.",
        "error_title": "Something went wrong",
        "error_text": "Please try again.",
        # flows A and B (WeChat's own QR login and the official-account login)
        "refused_title": "Login cancelled",
        "refused_text": "You declined the authorization in WeChat.",
        "refused_retry": "Try again",
        "no_access_title": "No access",
        "no_access_text": "You are logged in, but your account is not allowed to open this page. "
        "Ask an administrator for access.",
        "no_access_retry": "Go to the home page",
        "snapshot_title": "Open the full service",
        "snapshot_text": "WeChat opened this page in snapshot mode. Tap “Use full service” at "
        "the bottom of the page, then log in again.",
        "snapshot_retry": "Log in again",
        "widget_title": "Log in with WeChat",
        "widget_text": "Scan the QR code with WeChat.",
    },
    "zh": {
        "title": "登录",
        "heading": "微信扫码登录",
        "lead": "请使用手机微信扫描二维码。",
        "qr_alt": "登录二维码",
        "refresh": "刷新二维码",
        "loading": "正在生成二维码…",
        "web_login": "使用微信开放平台扫码登录",
        "dev_phone": "打开模拟手机（开发模式）",
        "show_wxacode": "使用小程序码",
        "show_qr": "使用二维码",
        "follow_login": "关注公众号登录",
        "confirm_title": "确认登录",
        "confirm_heading": "在电脑上登录？",
        "confirm_question": "有一台电脑请求使用你的微信帐号登录。",
        "ip": "IP 地址",
        "browser": "浏览器",
        "time": "请求时间",
        "warning": "请确认是你本人在操作这台电脑，再点击确认。",
        "confirm": "确认登录",
        "deny": "取消",
        "done_title": "登录成功",
        "done_text": "电脑端已登录，可以关闭此页面。",
        "denied_title": "已取消登录",
        "denied_text": "电脑端不会登录。",
        "gone_title": "二维码无效",
        "gone_text": "该登录二维码不存在或已过期，请在电脑上刷新。",
        "expired_title": "二维码已过期",
        "expired_text": "该登录二维码已过期，请在电脑上刷新后重新扫描。",
        "used_title": "二维码已使用",
        "used_text": "该登录二维码已被使用。",
        "other_title": "帐号不一致",
        "other_text": "该登录二维码已被其他帐号扫描。",
        "error_title": "出错了",
        "error_text": "请重试。",
        # flows A and B (WeChat's own QR login and the official-account login)
        "refused_title": "登录已取消",
        "refused_text": "你在微信中拒绝了授权。",
        "refused_retry": "重新登录",
        "no_access_title": "无权访问",
        "no_access_text": "你已登录，但你的账号无权访问此页面。请联系管理员开通权限。",
        "no_access_retry": "返回首页",
        "snapshot_title": "请使用完整服务",
        "snapshot_text": "当前为快照页模式，请点击页面底部的“使用完整服务”后再登录。",
        "snapshot_retry": "重新登录",
        "widget_title": "微信扫码登录",
        "widget_text": "请使用微信扫描二维码。",
    },
}

# What the login page's script shows for each state (sent to it as JSON).
STATE_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "loading": "Preparing a QR code…",
        "pending": "Waiting for a scan…",
        "scanned_title": "Scanned",
        "scanned": "Confirm the login on your phone.",
        "confirmed_title": "Confirmed",
        "confirmed": "Logging you in…",
        "done_title": "Logged in",
        "done": "Redirecting…",
        "denied_title": "Login cancelled",
        "denied": "The login was cancelled on the phone.",
        "expired_title": "QR code expired",
        "expired": "Get a new code to try again.",
        "redeemed_title": "Already used",
        "redeemed": "This code was used. Get a new one.",
        "error_title": "Something went wrong",
        "error": "Please get a new code.",
        "rate_limited": "Too many codes requested. Wait a minute, then try again.",
        "show_wxacode": "Use the mini-program code",
        "show_qr": "Use the QR code",
        "follow_login": "Follow our official account to log in",
        "follow_back": "Use the scan-login QR code",
        "follow_pending": "Scan with WeChat and follow our account: you are logged in here.",
        "follow_unavailable": "Follow-login is unavailable right now. Use the QR code.",
    },
    "zh": {
        "loading": "正在生成二维码…",
        "pending": "等待扫码…",
        "scanned_title": "扫码成功",
        "scanned": "请在手机上确认登录。",
        "confirmed_title": "已确认",
        "confirmed": "正在登录…",
        "done_title": "登录成功",
        "done": "正在跳转…",
        "denied_title": "已取消登录",
        "denied": "你已在手机上取消登录。",
        "expired_title": "二维码已过期",
        "expired": "请刷新二维码后重试。",
        "redeemed_title": "二维码已使用",
        "redeemed": "该二维码已被使用，请刷新。",
        "error_title": "出错了",
        "error": "请刷新二维码后重试。",
        "rate_limited": "请求过于频繁，请一分钟后再试。",
        "show_wxacode": "使用小程序码",
        "show_qr": "使用二维码",
        "follow_login": "关注公众号登录",
        "follow_back": "使用扫码登录二维码",
        "follow_pending": "请用微信扫码并关注公众号，即可在此登录。",
        "follow_unavailable": "关注公众号登录暂不可用，请使用二维码登录。",
    },
}

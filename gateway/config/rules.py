"""Cross-field validation: each problem is ``key.path: message``, all reported at once."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from urllib.parse import urlsplit

from gateway.config.oidc_rules import validate_oidc
from gateway.config.store_url import parse_store_url
from gateway.config.tree import (
    HOST_PREFIX,
    RESERVED_PREFIXES,
    Config,
    ProxyConfig,
    StoreConfig,
    UsersConfig,
    WeChatConfig,
)

__all__ = ["validate", "validate_server"]


def validate(config: Config) -> list[str]:
    """Cross-field rules; each problem is ``key.path: message``."""
    problems: list[str] = []
    problems += validate_server(config)
    problems += _validate_store(config.store)
    problems += _validate_tokens(config)
    problems += _validate_wechat(config.wechat)
    problems += _validate_users(config.users)
    problems += _validate_login(config)
    problems += _validate_session(config)
    problems += _validate_proxy(config.proxy, config.dev)
    problems += validate_oidc(config)
    return problems


def validate_server(config: Config) -> list[str]:
    s, problems = config.server, []
    if not 0 <= s.port <= 65535:
        problems.append(f"server.port: {s.port} is not a TCP port")
    if s.workers < 1:
        problems.append("server.workers: must be at least 1")
    if s.workers > 1 and config.store.url.startswith("memory:"):
        problems.append(
            "server.workers: more than one worker needs a shared store (store.url = redis://...)"
        )
    if s.public_url and urlsplit(s.public_url).scheme not in ("http", "https"):
        problems.append("server.public_url: must be an http(s) URL")
    if s.max_body_bytes < 1024:
        problems.append("server.max_body_bytes: must be at least 1024")
    if s.drain_seconds < 0 or s.grace_seconds < 0:
        problems.append("server.drain_seconds/grace_seconds: must not be negative")
    for i, net in enumerate(s.trusted_proxies):
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            problems.append(f"server.trusted_proxies[{i}]: {net!r} is not an IP network")
    m = config.metrics
    if m.host and not 0 < m.port <= 65535:
        problems.append("metrics.port: required (1-65535) when metrics.host is set")
    if not m.path.startswith("/"):
        problems.append("metrics.path: must start with /")
    return problems


def _validate_store(store: StoreConfig) -> list[str]:
    try:
        parse_store_url(store.url)
    except ValueError as exc:
        return [f"store.url: {exc}"]
    if store.command_timeout <= 0 or store.connect_timeout <= 0:
        return ["store.connect_timeout/command_timeout: must be positive"]
    return []


def _validate_tokens(config: Config) -> list[str]:
    t, problems = config.tokens, []
    if t.issuer:
        scheme = urlsplit(t.issuer).scheme
        if scheme == "http" and not config.dev:
            problems.append("tokens.issuer: must be an https URL outside dev mode")
        elif scheme not in ("http", "https"):
            problems.append("tokens.issuer: must be an http(s) URL")
    elif not config.dev and not config.server.public_url.startswith("https://"):
        problems.append("tokens.issuer: required outside dev mode (an https URL)")
    if not t.audience:
        problems.append("tokens.audience: must not be empty")
    if t.access_ttl < 30:
        problems.append("tokens.access_ttl: must be at least 30 seconds")
    if t.max_lifetime < t.access_ttl:
        problems.append("tokens.max_lifetime: must not be shorter than tokens.access_ttl")
    if t.refresh_ttl < t.access_ttl:
        problems.append("tokens.refresh_ttl: must not be shorter than tokens.access_ttl")
    if not 0 <= t.refresh_reuse_grace <= 120:
        problems.append("tokens.refresh_reuse_grace: must be between 0 and 120 seconds")
    if t.max_token_bytes < 1024:
        problems.append("tokens.max_token_bytes: must be at least 1024")
    for i, c in enumerate(t.introspection_clients):
        if not c.client_id or not c.client_secret:
            problems.append(f"tokens.introspection_clients[{i}]: client_id and secret required")
    return problems


def _validate_session(config: Config) -> list[str]:
    """A prefixed name the browser would refuse to store (RFC 6265bis §4.1.3)."""
    name, where = config.session.cookie_name, "session.cookie_name"
    if not name:
        return [f"{where}: must not be empty"]
    if name.startswith(HOST_PREFIX) and (not config.cookie_secure or config.session.domain):
        return [f"{where}: a __Host- cookie must be Secure with no domain"]
    if name.startswith("__Secure-") and not config.cookie_secure:
        return [f"{where}: a __Secure- cookie must be Secure"]
    return []


def _validate_wechat(w: WeChatConfig) -> list[str]:
    problems = []
    for key in ("api_base", "api_failover_base", "open_base"):
        url = getattr(w, key)
        if url and urlsplit(url).scheme not in ("http", "https"):
            problems.append(f"wechat.{key}: must be an http(s) URL")
    if w.timeout <= 0 or w.connect_timeout <= 0:
        problems.append("wechat.timeout/connect_timeout: must be positive")
    if not 0 <= w.max_retries <= 2:
        problems.append("wechat.max_retries: must be between 0 and 2 (reference §6.2)")
    if any(a.kind == "miniprogram" for a in w.apps.values()):
        problems += _validate_sealing_key(w.session_key_encryption_key)
    for name, app in w.apps.items():
        if not app.appid:
            problems.append(f"wechat.apps.{name}.appid: required")
        if not app.secret:
            problems.append(f"wechat.apps.{name}.secret: required (or secret_file)")
    return problems


def _validate_sealing_key(key: str) -> list[str]:
    where = "wechat.session_key_encryption_key"
    if not key:
        return [f"{where}: required when a miniprogram app is configured (32 bytes, base64)"]
    try:
        raw = base64.urlsafe_b64decode(key.replace("+", "-").replace("/", "_") + "==")
    except (binascii.Error, ValueError):
        return [f"{where}: not base64"]
    return [] if len(raw) == 32 else [f"{where}: must decode to 32 bytes, got {len(raw)}"]


def _validate_users(u: UsersConfig) -> list[str]:
    if u.url and urlsplit(u.url).scheme not in ("sqlite", "postgresql", "postgres"):
        return ["users.url: unsupported scheme (expected sqlite:///path or postgresql://...)"]
    if u.pool_min < 0 or u.pool_max < max(1, u.pool_min):
        return ["users.pool_max: must be at least 1 and not below users.pool_min"]
    return []


def _validate_login(config: Config) -> list[str]:
    problems = []
    for i, origin in enumerate(config.login.allowed_return_origins):
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            problems.append(f"login.allowed_return_origins[{i}]: {origin!r} is not an origin")
    if not config.login.default_return_to.startswith("/"):
        problems.append("login.default_return_to: must be a relative path")
    for key, kind in (
        ("web_app", "website"),
        ("mp_app", "official_account"),
        ("miniprogram_app", "miniprogram"),
    ):
        name = getattr(config.login, key)
        if name and config.app_named(kind, name) is None:
            problems.append(f"login.{key}: no wechat app {name!r} of kind {kind}")
    return problems


def _validate_proxy(p: ProxyConfig, dev: bool) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for i, route in enumerate(p.routes):
        where = f"proxy.routes[{i}]"
        if not route.prefix.startswith("/"):
            problems.append(f"{where}.prefix: must start with /")
        if route.prefix in seen:
            problems.append(f"{where}.prefix: duplicate prefix {route.prefix!r}")
        seen.add(route.prefix)
        for reserved in RESERVED_PREFIXES:
            if _shadows(route.prefix, reserved):
                problems.append(
                    f"{where}.prefix: {route.prefix!r} would shadow the gateway's own {reserved}"
                )
        up = urlsplit(route.upstream)
        is_echo = dev and p.echo_upstream and route.upstream == "echo"
        if (up.scheme not in ("http", "https") or not up.netloc) and not is_echo:
            problems.append(f"{where}.upstream: must be an http(s) URL ('echo' only in dev mode)")
        if route.timeout <= 0:
            problems.append(f"{where}.timeout: must be positive")
    for name in ("subject_header", "openid_header", "unionid_header", "appid_header"):
        if not getattr(p, name):
            problems.append(f"proxy.{name}: must not be empty")
    return problems


def _shadows(prefix: str, reserved: str) -> bool:
    """True when a route would only see paths the gateway keeps for itself (so it is unreachable).

    A broader prefix such as ``/`` is fine: the gateway's own paths are matched first.
    """
    return prefix.startswith(reserved) or prefix.rstrip("/") == reserved.rstrip("/")

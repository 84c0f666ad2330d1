"""Cross-field validation: each problem is ``key.path: message``, all reported at once."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
import re
from urllib.parse import urlsplit

from gateway.config.authz_rules import validate_authz
from gateway.config.oidc_rules import validate_oidc
from gateway.config.store_url import parse_store_url
from gateway.config.tree import (
    HOST_PREFIX,
    RESERVED_PREFIXES,
    ROLE_NAME_PATTERN,
    Config,
    LimitsConfig,
    ProxyConfig,
    StoreConfig,
    UsersConfig,
    WeChatAppConfig,
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
    problems += _validate_admin(config)
    problems += validate_authz(config)
    problems += _validate_limits(config.limits)
    return problems


def _validate_admin(config: Config) -> list[str]:
    """``[admin]`` and ``[audit]``."""
    problems: list[str] = []
    if not re.fullmatch(ROLE_NAME_PATTERN, config.admin.role):
        problems.append("admin.role: not a role name (a-z, 0-9, '_', '.', ':', '-')")
    if config.admin.token and len(config.admin.token) < 32:
        problems.append("admin.token: at least 32 characters (e.g. `openssl rand -hex 32`)")
    if config.audit.retention_days < 1:
        problems.append("audit.retention_days: at least 1")
    if config.audit.sweep_interval <= 0 or config.audit.denial_interval < 0:
        problems.append("audit.sweep_interval: positive; audit.denial_interval: not negative")
    return problems


def _validate_limits(limits: LimitsConfig) -> list[str]:
    problems = []
    if limits.window < 1:
        problems.append("limits.window: must be at least 1 (seconds)")
    for f in dataclasses.fields(limits):
        if f.name != "window" and getattr(limits, f.name) < 0:
            problems.append(f"limits.{f.name}: must not be negative (0 turns the limit off)")
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
    problems += _validate_connection_limits(config)
    for i, net in enumerate(s.trusted_proxies):
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            problems.append(f"server.trusted_proxies[{i}]: {net!r} is not an IP network")
    m = config.metrics
    if m.host and not 0 < m.port <= 65535:
        problems.append("metrics.port: required (1-65535) when metrics.host is set")
    if m.enabled and not m.host and not m.main_listener:
        problems.append(
            "metrics.host: empty means no metrics listener; set metrics.main_listener = true "
            "to serve metrics on the main listener, or metrics.enabled = false"
        )
    if not m.path.startswith("/"):
        problems.append("metrics.path: must start with /")
    if not 0 <= config.forward_auth.listen_port <= 65535:
        problems.append("forward_auth.listen_port: must be 0 (off) or a TCP port")
    if not 0.01 <= config.logging.access_log_flush_interval <= 10:
        problems.append("logging.access_log_flush_interval: must be between 0.01 and 10 seconds")
    return problems


def _validate_connection_limits(config: Config) -> list[str]:
    s, problems = config.server, []
    if s.header_timeout <= 0 or s.keepalive_timeout <= 0:
        problems.append("server.header_timeout/keepalive_timeout: must be positive")
    if s.max_connections_per_address < 0:
        problems.append("server.max_connections_per_address: must not be negative (0: no cap)")
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
    if t.key_reload_seconds <= 0:
        problems.append("tokens.key_reload_seconds: must be positive")
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
    if w.circuit_window < 1 or w.circuit_open_seconds <= 0 or w.circuit_min_calls < 1:
        problems.append(
            "wechat.circuit_window/circuit_open_seconds/circuit_min_calls: window at least 1 s, "
            "open_seconds positive, min_calls at least 1"
        )
    if not 0 < w.circuit_failure_ratio <= 1:
        problems.append("wechat.circuit_failure_ratio: must be above 0 and at most 1")
    if any(a.kind == "miniprogram" for a in w.apps.values()):
        problems += _validate_sealing_key(w.session_key_encryption_key)
    for name, app in w.apps.items():
        if not app.appid:
            problems.append(f"wechat.apps.{name}.appid: required")
        if not app.secret:
            problems.append(f"wechat.apps.{name}.secret: required (or secret_file)")
        problems += _validate_server_url(f"wechat.apps.{name}", app)
    return problems


_CONSOLE_TOKEN = re.compile(r"[A-Za-z0-9]{3,32}")  # the OA console's Token field
_AES_KEY = re.compile(r"[A-Za-z0-9]{43}")  # EncodingAESKey, reference §2.15


def _validate_server_url(where: str, app: WeChatAppConfig) -> list[str]:
    """The official account's server-URL settings (flow E, reference §2.15)."""
    used = app.server_token or app.encoding_aes_key or app.follow_login or app.welcome_text
    if app.kind != "official_account":
        return [f"{where}: server_token, encoding_aes_key, follow_login and welcome_text "
                "are for kind = \"official_account\""] if used else []  # fmt: skip
    problems = []
    if (app.follow_login or app.encoding_aes_key) and not app.server_token:
        problems.append(f"{where}.server_token: required with follow_login (or server_token_file)")
    if app.server_token and not _CONSOLE_TOKEN.fullmatch(app.server_token):
        problems.append(f"{where}.server_token: 3-32 letters and digits (as in the OA console)")
    if app.message_mode != "plain" and not app.encoding_aes_key:
        problems.append(f"{where}.encoding_aes_key: required in {app.message_mode} mode")
    if app.encoding_aes_key and not _AES_KEY.fullmatch(app.encoding_aes_key):
        problems.append(f"{where}.encoding_aes_key: 43 letters and digits (reference §2.15)")
    if len(app.welcome_text.encode()) > 2048:
        problems.append(f"{where}.welcome_text: at most 2048 bytes")
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
    seen: set[tuple[str, str]] = set()
    for i, route in enumerate(p.routes):
        where = f"proxy.routes[{i}]"
        if not route.prefix.startswith("/"):
            problems.append(f"{where}.prefix: must start with /")
        if (route.host, route.prefix) in seen:  # one prefix per host (authz: host routes)
            problems.append(f"{where}.prefix: duplicate prefix {route.prefix!r}")
        seen.add((route.host, route.prefix))
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

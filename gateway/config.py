"""One typed, frozen configuration tree.

``load_config(path, environ, dev=...)`` reads TOML (stdlib ``tomllib``), applies environment
overrides ``WXGATE_SECTION__KEY=value`` (``__`` separates levels, keys are case-insensitive), reads
``*_file`` secrets, coerces types from the dataclass annotations and validates. Every problem is
collected and reported at once as ``key.path: message``; unknown keys and sections are errors.

This is the only module that reads ``os.environ`` (callers pass it in explicitly).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "DEV_CONFIG_PATH",
    "Config",
    "ConfigError",
    "ForwardAuthConfig",
    "IntrospectionClient",
    "LoggingConfig",
    "LoginConfig",
    "MetricsConfig",
    "ProxyConfig",
    "RouteConfig",
    "ScanConfig",
    "ServerConfig",
    "SessionConfig",
    "StoreConfig",
    "TokensConfig",
    "UsersConfig",
    "WeChatAppConfig",
    "WeChatConfig",
    "load_config",
    "os_environ",
]

ENV_PREFIX = "WXGATE_"
DEV_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "dev.toml"
RESERVED_PREFIXES = ("/auth/", "/.well-known/", "/healthz", "/readyz", "/metrics", "/_sim/")
WECHAT_API_BASE = "https://api.weixin.qq.com"
WECHAT_API_FAILOVER_BASE = "https://api2.weixin.qq.com"
WECHAT_OPEN_BASE = "https://open.weixin.qq.com"


class ConfigError(Exception):
    """Every problem found in a configuration, each as ``key.path: message``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def os_environ() -> Mapping[str, str]:
    """The process environment (the one place the gateway reads it)."""
    import os

    return os.environ


# --------------------------------------------------------------------------- the tree


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "0.0.0.0"  # noqa: S104 (a server binds all interfaces unless told)
    port: int = 8080
    public_url: str = ""
    workers: int = 1
    data_dir: str = "./var"
    max_body_bytes: int = 1_048_576
    drain_seconds: float = 5.0
    grace_seconds: float = 25.0
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = True


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    enabled: bool = True
    path: str = "/metrics"
    host: str = ""
    port: int = 0


@dataclass(frozen=True, slots=True)
class StoreConfig:
    url: str = "memory://"
    prefix: str = "wxgate:"
    connect_timeout: float = 2.0
    command_timeout: float = 2.0
    pool_size: int = 64


@dataclass(frozen=True, slots=True)
class IntrospectionClient:
    client_id: str = ""
    client_secret: str = ""


@dataclass(frozen=True, slots=True)
class TokensConfig:
    issuer: str = ""
    audience: str = "wxgate"
    algorithm: Literal["RS256", "ES256"] = "RS256"
    keys_dir: str = ""
    access_ttl: int = 900
    refresh_ttl: int = 2_592_000
    refresh_sliding: bool = False
    refresh_reuse_grace: float = 10.0
    scope: str = ""
    leeway: int = 30
    max_token_bytes: int = 8192
    publish_delay: int = 600
    jwks_max_age: int = 300
    verify_cache_size: int = 10_000
    introspection_clients: tuple[IntrospectionClient, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionConfig:
    cookie_name: str = "wxgate_session"
    secure: bool | None = None
    domain: str = ""
    samesite: Literal["Lax", "Strict", "None"] = "Lax"


@dataclass(frozen=True, slots=True)
class WeChatAppConfig:
    kind: Literal["website", "official_account", "miniprogram"] = "website"
    appid: str = ""
    secret: str = ""
    scope: str = ""
    wxacode_page: str = ""
    wxacode_env_version: Literal["release", "trial", "develop"] = "release"


@dataclass(frozen=True, slots=True)
class WeChatConfig:
    api_base: str = WECHAT_API_BASE
    api_failover_base: str = WECHAT_API_FAILOVER_BASE
    open_base: str = WECHAT_OPEN_BASE
    timeout: float = 5.0
    connect_timeout: float = 2.0
    max_retries: int = 2
    session_key_encryption_key: str = ""
    apps: dict[str, WeChatAppConfig] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UsersConfig:
    url: str = ""
    pool_min: int = 1
    pool_max: int = 10


@dataclass(frozen=True, slots=True)
class LoginConfig:
    allowed_return_origins: tuple[str, ...] = ()
    default_return_to: str = "/"
    state_ttl: int = 600
    web_app: str = ""
    mp_app: str = ""
    miniprogram_app: str = ""
    rate_limit_per_minute: int = 30


@dataclass(frozen=True, slots=True)
class ScanConfig:
    ticket_ttl: int = 120
    scan_extend: int = 60
    create_rate_per_minute: int = 60
    max_waiters_per_ticket: int = 16
    sse_heartbeat: float = 15.0
    longpoll_max_wait: float = 30.0
    qr_box_size: int = 8
    qr_border: int = 2


@dataclass(frozen=True, slots=True)
class RouteConfig:
    prefix: str = ""
    upstream: str = ""
    auth: Literal["required", "optional", "public"] = "required"
    strip_prefix: bool = False
    timeout: float = 30.0
    websocket: bool = False
    audience: str = ""
    scopes: tuple[str, ...] = ()
    preserve_host: bool = False
    pass_token: bool = False


@dataclass(frozen=True, slots=True)
class ForwardAuthConfig:
    redirect: bool = False


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    routes: tuple[RouteConfig, ...] = ()
    subject_header: str = "X-Auth-Subject"
    openid_header: str = "X-Auth-OpenID"
    unionid_header: str = "X-Auth-UnionID"
    appid_header: str = "X-Auth-AppID"
    scope_header: str = "X-Auth-Scope"
    token_header: str = "X-Auth-Token"
    strip_header_prefix: str = "X-Auth-"
    connect_timeout: float = 5.0
    limit_per_upstream: int = 256
    websocket_recheck_interval: float = 30.0
    echo_upstream: bool = False


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration. ``dev`` is set by ``--dev``, never by a file."""

    server: ServerConfig = field(default_factory=ServerConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    tokens: TokensConfig = field(default_factory=TokensConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    wechat: WeChatConfig = field(default_factory=WeChatConfig)
    users: UsersConfig = field(default_factory=UsersConfig)
    login: LoginConfig = field(default_factory=LoginConfig)
    scan: ScanConfig = field(default_factory=ScanConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    forward_auth: ForwardAuthConfig = field(default_factory=ForwardAuthConfig)
    dev: bool = False

    @property
    def data_dir(self) -> Path:
        return Path(self.server.data_dir)

    @property
    def keys_dir(self) -> Path:
        return Path(self.tokens.keys_dir) if self.tokens.keys_dir else self.data_dir / "keys"

    @property
    def public_url(self) -> str:
        """Base URL browsers reach the gateway at, without a trailing slash."""
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        host = self.server.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.server.port}"

    @property
    def issuer(self) -> str:
        return self.tokens.issuer.rstrip("/") if self.tokens.issuer else self.public_url

    @property
    def cookie_secure(self) -> bool:
        if self.session.secure is not None:
            return self.session.secure
        return not self.dev

    def app_named(self, kind: str, preferred: str = "") -> tuple[str, WeChatAppConfig] | None:
        """The app called ``preferred``, else the first configured app of ``kind``."""
        apps = self.wechat.apps
        if preferred:
            app = apps.get(preferred)
            return (preferred, app) if app is not None and app.kind == kind else None
        for name, app in apps.items():
            if app.kind == kind:
                return name, app
        return None

    def resolved(self) -> Config:
        """The config as the running gateway uses it.

        In dev mode every WeChat base URL points at the simulator mounted at
        ``<public_url>/_sim/wechat`` and the ``echo`` upstream at ``<public_url>/_sim/echo``.
        """
        if not self.dev:
            return self
        sim = f"{self.public_url}/_sim/wechat"
        wechat = dataclasses.replace(
            self.wechat, api_base=sim, api_failover_base=sim, open_base=sim
        )
        echo = f"{self.public_url}/_sim/echo"
        routes = tuple(
            dataclasses.replace(r, upstream=echo) if r.upstream == "echo" else r
            for r in self.proxy.routes
        )
        proxy = dataclasses.replace(self.proxy, routes=routes)
        return dataclasses.replace(self, wechat=wechat, proxy=proxy)

    def with_workers(self, workers: int) -> Config:
        """A copy with ``server.workers`` replaced (validated again: N > 1 needs Redis)."""
        config = dataclasses.replace(self, server=dataclasses.replace(self.server, workers=workers))
        problems = _validate_server(config)
        if problems:
            raise ConfigError(problems)
        return config

    def with_bind(self, host: str, port: int) -> Config:
        """A copy bound to ``host:port``; in dev mode the public URL follows the bind address."""
        server = dataclasses.replace(self.server, host=host, port=port)
        if self.dev:
            server = dataclasses.replace(server, public_url="")
        return dataclasses.replace(self, server=server)


# --------------------------------------------------------------------------- loading


class _EnvValue(str):
    """A value that came from the environment: a string to be coerced to the field's type."""

    __slots__ = ()


def load_config(
    path: str | Path | None,
    environ: Mapping[str, str] | None = None,
    *,
    dev: bool = False,
) -> Config:
    """Load, override, coerce and validate; raise ConfigError listing every problem."""
    problems: list[str] = []
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError([f"{path}: no such file"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    _apply_env(raw, environ or {}, problems)
    config = _build(Config, raw, "", problems, base_dir=Path(path).parent if path else Path())
    if isinstance(config, Config):
        config = dataclasses.replace(config, dev=dev)
        problems.extend(validate(config))
    if problems:
        raise ConfigError(problems)
    assert isinstance(config, Config)
    return config


def _apply_env(raw: dict[str, Any], environ: Mapping[str, str], problems: list[str]) -> None:
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if any(not p for p in parts):
            problems.append(f"{name}: malformed override name")
            continue
        node = raw
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                problems.append(f"{name}: {'.'.join(parts)} is not a section")
                break
            node = child
        else:
            node[parts[-1]] = _EnvValue(value)


def _build(cls: type[Any], raw: Any, path: str, problems: list[str], base_dir: Path) -> Any:
    where = path or "config"
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table")
        return cls()
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "dev" or cls is not Config}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key.endswith("_file") and key[: -len("_file")] in fields:
            target = key[: -len("_file")]
            if target in raw:
                problems.append(f"{_join(path, key)}: set either {target} or {key}, not both")
                continue
            secret = _read_secret_file(value, _join(path, key), problems, base_dir)
            if secret is not None:
                values[target] = secret
            continue
        if key not in fields:
            kind = "section" if isinstance(value, dict) and not path else "key"
            problems.append(f"{_join(path, key)}: unknown {kind}")
            continue
        values[key] = _coerce(hints[key], value, _join(path, key), problems, base_dir)
    return cls(**values)


def _read_secret_file(value: Any, where: str, problems: list[str], base_dir: Path) -> str | None:
    if not isinstance(value, str) or not value:
        problems.append(f"{where}: expected a file path")
        return None
    p = Path(value)
    if not p.is_absolute():
        p = base_dir / p
    try:
        return p.read_text(encoding="utf-8").strip()
    except OSError as exc:
        problems.append(f"{where}: cannot read {value}: {exc.strerror or exc}")
        return None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _coerce(tp: Any, value: Any, where: str, problems: list[str], base_dir: Path) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _build(typing.cast(type[Any], tp), value, where, problems, base_dir)
    if origin in (types.UnionType, typing.Union):
        if isinstance(value, _EnvValue) and value.lower() in ("", "none", "auto"):
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where, problems, base_dir)
    if origin is Literal:
        if value not in args:
            allowed = ", ".join(repr(a) for a in args)
            problems.append(f"{where}: {value!r} is not one of {allowed}")
            return args[0]
        return value
    if origin is tuple:
        return _coerce_tuple(args[0], value, where, problems, base_dir)
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a table")
            return {}
        return {
            k: _coerce(args[1], v, f"{where}.{k}", problems, base_dir) for k, v in value.items()
        }
    return _coerce_scalar(tp, value, where, problems)


def _coerce_tuple(item: Any, value: Any, where: str, problems: list[str], base_dir: Path) -> Any:
    if isinstance(value, _EnvValue):
        text = value.strip()
        if text.startswith("["):
            try:
                value = tomllib.loads(f"v = {text}")["v"]
            except tomllib.TOMLDecodeError:
                problems.append(f"{where}: not a valid list")
                return ()
        else:
            value = [_EnvValue(v.strip()) for v in text.split(",") if v.strip()]
    if not isinstance(value, list):
        problems.append(f"{where}: expected a list")
        return ()
    return tuple(_coerce(item, v, f"{where}[{i}]", problems, base_dir) for i, v in enumerate(value))


def _coerce_scalar(tp: Any, value: Any, where: str, problems: list[str]) -> Any:
    if isinstance(value, _EnvValue) and tp is not str:
        try:
            value = _parse_env_scalar(tp, value)
        except ValueError:
            problems.append(f"{where}: cannot read {str(value)!r} as {tp.__name__}")
            return tp()
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is str and isinstance(value, _EnvValue):
        return str(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        problems.append(f"{where}: expected {tp.__name__}, got {type(value).__name__}")
        return tp()
    return value


def _parse_env_scalar(tp: Any, value: str) -> Any:
    if tp is bool:
        low = value.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(value)
    return tp(value.strip())


# --------------------------------------------------------------------------- validation


def validate(config: Config) -> list[str]:
    """Cross-field rules; each problem is ``key.path: message``."""
    problems: list[str] = []
    problems += _validate_server(config)
    problems += _validate_store(config.store)
    problems += _validate_tokens(config)
    problems += _validate_wechat(config.wechat)
    problems += _validate_users(config.users)
    problems += _validate_login(config)
    problems += _validate_proxy(config.proxy, config.dev)
    return problems


def _validate_server(config: Config) -> list[str]:
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
    scheme = urlsplit(store.url).scheme
    if scheme not in ("memory", "redis", "rediss"):
        return [
            f"store.url: unsupported scheme {scheme!r} (expected memory://, redis:// or rediss://)"
        ]
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
    import base64
    import binascii

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

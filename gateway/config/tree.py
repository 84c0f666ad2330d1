"""The configuration tree: typed, frozen dataclasses, one per section.

``Config`` is the root; ``dev`` is set by ``--dev``, never by a file. Defaults here are the
documented defaults (config/gateway.example.toml lists every key).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = [
    "DEV_CONFIG_PATH",
    "ENV_PREFIX",
    "RESERVED_PREFIXES",
    "ROLE_NAME_PATTERN",
    "WECHAT_API_BASE",
    "WECHAT_API_FAILOVER_BASE",
    "WECHAT_OPEN_BASE",
    "AdminConfig",
    "AuditConfig",
    "AuthzConfig",
    "Config",
    "ConfigError",
    "ForwardAuthConfig",
    "IntrospectionClient",
    "LimitsConfig",
    "LoggingConfig",
    "LoginConfig",
    "MetricsConfig",
    "OidcClientConfig",
    "OidcConfig",
    "ProxyConfig",
    "RoleRuleConfig",
    "RouteConfig",
    "ScanConfig",
    "ServerConfig",
    "SessionConfig",
    "StoreConfig",
    "TokensConfig",
    "UsersConfig",
    "WeChatAppConfig",
    "WeChatConfig",
]

ENV_PREFIX = "WXGATE_"
# config/dev.toml, shipped inside the package too (gateway/config/dev.toml links to it in a
# checkout and is a copy in a wheel) so ``wxgate serve --dev`` works wherever it is installed.
DEV_CONFIG_PATH = (Path(__file__).parent / "dev.toml").resolve()
RESERVED_PREFIXES = (
    "/auth/", "/.well-known/", "/healthz", "/readyz", "/metrics", "/_sim/", "/openapi.json",
)  # fmt: skip
WECHAT_API_BASE = "https://api.weixin.qq.com"
WECHAT_API_FAILOVER_BASE = "https://api2.weixin.qq.com"
WECHAT_OPEN_BASE = "https://open.weixin.qq.com"
HOST_PREFIX = "__Host-"  # RFC 6265bis §4.1.3: cookie name prefixes browsers enforce
COOKIE_PREFIXES = (HOST_PREFIX, "__Secure-")
# authorization: what a role name may look like (config rules, the user directory, the admin API)
ROLE_NAME_PATTERN = r"[a-z0-9][a-z0-9_.:-]{0,63}"


class ConfigError(Exception):
    """Every problem found in a configuration, each as ``key.path: message``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


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
    # connection limits of the main listener (gateway.server.listener)
    header_timeout: float = 10.0
    keepalive_timeout: float = 75.0
    max_connections_per_address: int = 256


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = True
    # the access log's target ("": stdout) and how long a line may wait in its buffer
    access_log_path: str = ""
    access_log_flush_interval: float = 0.5


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """``/metrics`` on its own listener (``host:port``, loopback by default) unless ``host`` is
    empty; on the main listener only when ``main_listener`` opts in (dev.toml does)."""

    enabled: bool = True
    path: str = "/metrics"
    host: str = "127.0.0.1"
    port: int = 9464
    main_listener: bool = False


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
    key_reload_seconds: float = 15.0
    access_ttl: int = 900
    refresh_ttl: int = 2_592_000
    refresh_sliding: bool = False
    refresh_reuse_grace: float = 10.0
    scope: str = ""
    leeway: int = 30
    max_lifetime: int = 86_400
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
    # official_account only: the server URL settings of the OA console and follow-login
    # (flow E, reference §2.15): /auth/wechat/<name>/events
    server_token: str = ""
    encoding_aes_key: str = ""
    message_mode: Literal["plain", "compatible", "safe"] = "plain"
    follow_login: bool = False
    welcome_text: str = ""


@dataclass(frozen=True, slots=True)
class WeChatConfig:
    api_base: str = WECHAT_API_BASE
    api_failover_base: str = WECHAT_API_FAILOVER_BASE
    open_base: str = WECHAT_OPEN_BASE
    timeout: float = 5.0
    connect_timeout: float = 2.0
    max_retries: int = 2
    # the circuit breaker per WeChat API (gateway.wechat.circuit)
    circuit_enabled: bool = True
    circuit_window: float = 30.0
    circuit_min_calls: int = 20
    circuit_failure_ratio: float = 0.5
    circuit_open_seconds: float = 15.0
    session_key_encryption_key: str = ""
    apps: dict[str, WeChatAppConfig] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UsersConfig:
    url: str = ""
    pool_min: int = 1
    pool_max: int = 10


@dataclass(frozen=True, slots=True)
class AdminConfig:
    """The admin API and page (README "Administration"): holders of ``role`` may use them, and
    so may a caller presenting ``token`` (set it through ``token_file``; empty = no token)."""

    role: str = "admin"
    token: str = ""


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """The audit log: entries older than ``retention_days`` are deleted by a sweeper that runs
    every ``sweep_interval`` seconds; a policy denial is recorded at most once per subject and
    route every ``denial_interval`` seconds."""

    retention_days: int = 180
    sweep_interval: float = 3600.0
    denial_interval: float = 60.0


@dataclass(frozen=True, slots=True)
class LoginConfig:
    allowed_return_origins: tuple[str, ...] = ()
    default_return_to: str = "/"
    state_ttl: int = 600
    web_app: str = ""
    mp_app: str = ""
    miniprogram_app: str = ""
    rate_limit_per_minute: int | None = None  # old name of limits.miniprogram_login_per_address


@dataclass(frozen=True, slots=True)
class ScanConfig:
    ticket_ttl: int = 120
    scan_extend: int = 60
    create_rate_per_minute: int | None = None  # old name of limits.ticket_create_per_address
    status_rate_per_minute: int | None = None  # old name of limits.status_per_address
    max_waiters_per_ticket: int = 16
    max_waiters_per_address: int | None = None  # old name of limits.waiters_per_address
    sse_heartbeat: float = 15.0
    longpoll_max_wait: float = 30.0
    qr_box_size: int = 8
    qr_border: int = 2


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """Abuse limits, one place (README "Abuse limits"). Rates count requests in a fixed
    window of ``window`` seconds in the Store (so across replicas with Redis); 0 turns a
    limit off. ``waiters_per_address`` is a concurrent cap, per process."""

    window: int = 60
    login_start_per_address: int = 60
    callback_per_address: int = 60
    miniprogram_login_per_address: int = 30
    miniprogram_data_per_user: int = 30
    refresh_per_address: int = 120
    refresh_per_user: int = 30
    ticket_create_per_address: int = 60
    status_per_address: int = 300
    waiters_per_address: int = 50
    forward_auth_failures_per_address: int = 600


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
    # authorization (README "Authorization"): the host the route answers for ("" = any), its
    # metric label ("" = host + prefix), and who is allowed (every condition given must hold)
    host: str = ""
    name: str = ""
    allowed_roles: tuple[str, ...] = ()  # any of these roles
    required_roles: tuple[str, ...] = ()  # all of these roles
    allowed_subjects: tuple[str, ...] = ()
    allowed_unionids: tuple[str, ...] = ()
    allowed_apps: tuple[str, ...] = ()  # names of [wechat.apps.*] the user logged in through
    required_claims: dict[str, str] = field(default_factory=dict)  # claim = value


@dataclass(frozen=True, slots=True)
class ForwardAuthConfig:
    redirect: bool = False
    # the lean /auth/verify listener (server.verify_listener): its own port, 0 = off
    listen_host: str = "127.0.0.1"
    listen_port: int = 0


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    routes: tuple[RouteConfig, ...] = ()
    subject_header: str = "X-Auth-Subject"
    openid_header: str = "X-Auth-OpenID"
    unionid_header: str = "X-Auth-UnionID"
    appid_header: str = "X-Auth-AppID"
    scope_header: str = "X-Auth-Scope"
    token_header: str = "X-Auth-Token"
    roles_header: str = "X-Auth-Roles"
    strip_header_prefix: str = "X-Auth-"
    connect_timeout: float = 5.0
    limit_per_upstream: int = 256
    websocket_recheck_interval: float = 30.0
    echo_upstream: bool = False
    reject_backslash: bool = True
    reject_path_parameters: bool = True
    reject_double_encoding: bool = True


@dataclass(frozen=True, slots=True)
class OidcClientConfig:
    """One relying party of the OpenID Provider (``[[oidc.clients]]``).

    ``client_secret`` empty: a public client (``token_endpoint_auth_method = "none"``, PKCE
    required). ``redirect_uris`` and ``post_logout_redirect_uris`` match exactly (RFC 9700
    §4.1.3). ``require_pkce`` unset: required for public clients, accepted for confidential
    ones. ``audience`` empty: the client id. ``login_flows`` empty: every flow (``scan``,
    ``web``, ``mp``; the names of the login page's ways in). ``first_party`` skips consent.
    """

    client_id: str = ""
    client_secret: str = ""
    name: str = ""
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    backchannel_logout_uri: str = ""
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post", "none"] = (
        "client_secret_basic"
    )
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token")
    scopes: tuple[str, ...] = ("openid", "profile", "phone", "wechat", "roles", "offline_access")
    audience: str = ""
    first_party: bool = False
    require_pkce: bool | None = None
    login_flows: tuple[str, ...] = ()
    subject_type: Literal["public", "pairwise"] = "public"


@dataclass(frozen=True, slots=True)
class RoleRuleConfig:
    """One ``[[authz.role_rules]]``: ``roles`` granted at login to a user it matches (every
    condition given must hold; within one condition, any of its values)."""

    roles: tuple[str, ...] = ()
    unionids: tuple[str, ...] = ()
    openids: tuple[str, ...] = ()
    apps: tuple[str, ...] = ()  # the [wechat.apps.*] name the user logs in through
    has_roles: tuple[str, ...] = ()  # any of these roles already held


@dataclass(frozen=True, slots=True)
class AuthzConfig:
    """Roles: the access-token claim carrying them, its bound, and the login-time rules."""

    roles_claim: str = "roles"
    max_roles: int = 32
    role_rules: tuple[RoleRuleConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class OidcConfig:
    """The OpenID Provider: its clients and the lifetimes of what it hands out."""

    clients: tuple[OidcClientConfig, ...] = ()
    code_ttl: int = 60
    consent_ttl: int = 31_536_000
    pairwise_salt: str = ""
    logout_token_ttl: int = 120
    backchannel_timeout: float = 5.0
    backchannel_retries: int = 3


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
    admin: AdminConfig = field(default_factory=AdminConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    login: LoginConfig = field(default_factory=LoginConfig)
    scan: ScanConfig = field(default_factory=ScanConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    forward_auth: ForwardAuthConfig = field(default_factory=ForwardAuthConfig)
    oidc: OidcConfig = field(default_factory=OidcConfig)
    authz: AuthzConfig = field(default_factory=AuthzConfig)
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

    @property
    def session_cookie_name(self) -> str:
        """The session cookie's name as browsers hold it: ``__Host-`` + ``session.cookie_name``
        when the cookie is Secure and host-only (it is always ``Path=/``), so that neither an
        http page nor another host of the domain can set or shadow it (RFC 6265bis §4.1.3.2);
        the configured name otherwise, or when it already has a ``__Host-``/``__Secure-``
        prefix. Every reader and writer of the cookie uses this one name."""
        name = self.session.cookie_name
        if name.startswith(COOKIE_PREFIXES) or not self.cookie_secure or self.session.domain:
            return name
        return HOST_PREFIX + name

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
        ``<public_url>/_sim/wechat``, the ``echo`` upstream at ``<public_url>/_sim/echo``, and
        every OIDC client URI that is a path (``/_sim/rp/callback``) becomes
        ``<public_url><path>``.
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
        clients = tuple(_client_at(c, self.public_url) for c in self.oidc.clients)
        oidc = dataclasses.replace(self.oidc, clients=clients)
        return dataclasses.replace(self, wechat=wechat, proxy=proxy, oidc=oidc)

    def with_bind(self, host: str, port: int) -> Config:
        """A copy bound to ``host:port``; in dev mode the public URL follows the bind address."""
        server = dataclasses.replace(self.server, host=host, port=port)
        if self.dev:
            server = dataclasses.replace(server, public_url="")
        return dataclasses.replace(self, server=server)


def _client_at(client: OidcClientConfig, base: str) -> OidcClientConfig:
    """``client`` with every URI that is a path (dev mode allows them) put under ``base``."""

    def at(uri: str) -> str:
        return base + uri if uri.startswith("/") else uri

    return dataclasses.replace(
        client,
        redirect_uris=tuple(at(u) for u in client.redirect_uris),
        post_logout_redirect_uris=tuple(at(u) for u in client.post_logout_redirect_uris),
        backchannel_logout_uri=at(client.backchannel_logout_uri),
    )

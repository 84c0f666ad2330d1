"""Config loading: types, env overrides, *_file secrets, every problem reported at once."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

import pytest

from gateway import config as config_package
from gateway.cli import main
from gateway.config import DEV_CONFIG_PATH, Config, ConfigError, SessionConfig, load_config

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "gateway.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def test_dev_config_loads_with_three_apps() -> None:
    config = load_config(DEV_CONFIG_PATH, {}, dev=True)
    apps = config.wechat.apps
    assert {n: (a.kind, a.appid) for n, a in apps.items()} == {
        "web": ("website", "wx00000000000000a1"),
        "mp": ("official_account", "wx00000000000000b2"),
        "mini": ("miniprogram", "wx00000000000000c3"),
    }
    assert config.store.url == "memory://"
    assert (config.server.host, config.server.port) == ("127.0.0.1", 8080)


def test_example_config_is_valid(tmp_path: Path) -> None:
    """The documented example loads once its secret files exist (as Kubernetes mounts them)."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in ("introspection-billing", "wechat-web-secret", "wechat-mp-secret",
                 "wechat-mini-secret", "oidc-pairwise-salt", "oidc-grafana"):  # fmt: skip
        (secrets / name).write_text("s3cret\n")
    (secrets / "session-key-encryption-key").write_text("A" * 43 + "=\n")
    (secrets / "wxgate-admin-token").write_text("t" * 40 + "\n")
    (secrets / "wechat-mp-server-token").write_text("consoleToken1\n")
    (secrets / "wechat-mp-aes-key").write_text("B" * 43 + "\n")
    text = EXAMPLE.read_text().replace("/run/secrets/", f"{secrets}/")
    config = load_config(write(tmp_path, text), {})
    assert config.tokens.issuer.startswith("https://")
    assert config.wechat.apps["web"].secret == "s3cret"
    assert config.tokens.introspection_clients[0].client_secret == "s3cret"
    assert config.proxy.routes[0].prefix == "/api/"
    assert (config.admin.token, config.audit.retention_days) == ("t" * 40, 180)


def test_every_problem_is_reported_with_its_key_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [store]
        url = "mysql://db/x"
        colour = "blue"
        [server]
        port = "eighty"
        [bogus]
        x = 1
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, {}, dev=True)
    problems = info.value.problems
    assert "bogus: unknown section" in problems
    assert "store.colour: unknown key" in problems
    assert "server.port: expected int, got str" in problems
    assert any(
        p.startswith("store.url: unsupported scheme 'mysql' (expected memory://") for p in problems
    )


def test_env_overrides_are_typed_and_nested(tmp_path: Path) -> None:
    path = write(tmp_path, "[wechat.apps.web]\nkind='website'\nappid='wx1'\nsecret='s'\n")
    env = {
        "WXGATE_SERVER__PORT": "9000",
        "WXGATE_LOGGING__ACCESS_LOG": "false",
        "WXGATE_SERVER__TRUSTED_PROXIES": "10.0.0.0/8, 192.168.0.0/16",
        "WXGATE_WECHAT__APPS__WEB__SECRET": "12345",
        "WXGATE_STORE__COMMAND_TIMEOUT": "0.5",
        "UNRELATED": "x",
    }
    config = load_config(path, env, dev=True)
    assert config.server.port == 9000
    assert config.logging.access_log is False
    assert config.server.trusted_proxies == ("10.0.0.0/8", "192.168.0.0/16")
    assert config.wechat.apps["web"].secret == "12345"  # stays a string
    assert config.store.command_timeout == 0.5


def test_bad_env_override_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, {"WXGATE_SERVER__PORT": "x", "WXGATE_NOPE__A": "1"}, dev=True)
    assert "server.port: cannot read 'x' as int" in info.value.problems
    assert "nope: unknown section" in info.value.problems


def test_secret_files(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("from-a-file\n")
    path = write(
        tmp_path,
        "[wechat.apps.web]\nkind='website'\nappid='wx1'\nsecret_file='secret'\n"
        "[wechat.apps.mp]\nkind='official_account'\nappid='wx2'\nsecret='a'\nsecret_file='b'\n"
        "[wechat.apps.mini]\nkind='miniprogram'\nappid='wx3'\nsecret_file='/nonexistent/x'\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, {}, dev=True)
    problems = info.value.problems
    assert "wechat.apps.mp.secret_file: set either secret or secret_file, not both" in problems
    assert any(p.startswith("wechat.apps.mini.secret_file: cannot read") for p in problems)
    config = load_config(
        write(tmp_path, "[wechat.apps.web]\nkind='website'\nappid='wx1'\nsecret_file='secret'\n"),
        {},
        dev=True,
    )
    assert config.wechat.apps["web"].secret == "from-a-file"


def test_production_rules(tmp_path: Path) -> None:
    path = write(tmp_path, "[tokens]\nissuer='http://login.example.com'\n[server]\nworkers=2\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert "tokens.issuer: must be an https URL outside dev mode" in info.value.problems
    assert any(p.startswith("server.workers: more than one worker") for p in info.value.problems)


def test_connection_limits_and_metrics_exposure_rules(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[server]\nheader_timeout=0\nkeepalive_timeout=-1\nmax_connections_per_address=-1\n"
        "[metrics]\nhost=''\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, {}, dev=True)
    problems = info.value.problems
    assert "server.header_timeout/keepalive_timeout: must be positive" in problems
    assert any(p.startswith("server.max_connections_per_address:") for p in problems)
    assert any(p.startswith("metrics.host: empty means no metrics listener") for p in problems)
    # explicit opt-in to the main listener, or metrics off: both fine
    for metrics in ("host=''\nmain_listener=true", "host=''\nenabled=false"):
        load_config(write(tmp_path, f"[metrics]\n{metrics}\n"), {}, dev=True)


def test_max_lifetime_is_at_least_the_access_ttl(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), {}, dev=True).tokens.max_lifetime == 86_400
    path = write(tmp_path, "[tokens]\naccess_ttl = 900\nmax_lifetime = 899\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, {}, dev=True)
    assert info.value.problems == [
        "tokens.max_lifetime: must not be shorter than tokens.access_ttl"
    ]
    path = write(tmp_path, "[tokens]\naccess_ttl = 900\nmax_lifetime = 900\n")
    assert load_config(path, {}, dev=True).tokens.max_lifetime == 900


@pytest.mark.parametrize(
    ("session", "dev", "effective"),
    [
        ({}, False, "__Host-wxgate_session"),  # Secure outside dev, host-only, Path=/
        ({}, True, "wxgate_session"),  # dev: not Secure, so no prefix
        ({"secure": True}, True, "__Host-wxgate_session"),
        ({"domain": "example.com"}, False, "wxgate_session"),  # a Domain rules __Host- out
        ({"cookie_name": "sid"}, False, "__Host-sid"),
        ({"cookie_name": "__Host-sid"}, False, "__Host-sid"),  # already prefixed: kept
        ({"cookie_name": "__Secure-sid", "domain": "example.com"}, False, "__Secure-sid"),
    ],
)
def test_session_cookie_name_gets_the_host_prefix(
    session: dict[str, object], dev: bool, effective: str
) -> None:
    config = dataclasses.replace(
        load_config(DEV_CONFIG_PATH, {}, dev=True),
        session=dataclasses.replace(SessionConfig(), **session),  # type: ignore[arg-type]
        dev=dev,
    )
    assert config.session_cookie_name == effective


def test_session_cookie_prefix_rules(tmp_path: Path) -> None:
    for text, problem in [
        ("cookie_name='__Host-sid'\ndomain='example.com'",
         "session.cookie_name: a __Host- cookie must be Secure with no domain"),
        ("cookie_name='__Host-sid'\nsecure=false",
         "session.cookie_name: a __Host- cookie must be Secure with no domain"),
        ("cookie_name='__Secure-sid'\nsecure=false",
         "session.cookie_name: a __Secure- cookie must be Secure"),
    ]:  # fmt: skip
        with pytest.raises(ConfigError) as info:
            load_config(write(tmp_path, f"[session]\n{text}\n"), {}, dev=True)
        assert problem in info.value.problems, info.value.problems


def test_routes_validation(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[proxy.routes]]
        prefix = "/api/"
        upstream = "http://127.0.0.1:9000"
        [[proxy.routes]]
        prefix = "/api/"
        upstream = "http://127.0.0.1:9001"
        [[proxy.routes]]
        prefix = "/auth/x/"
        upstream = "http://127.0.0.1:9002"
        [[proxy.routes]]
        prefix = "/"
        upstream = "ftp://nope"
        auth = "sometimes"
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, {}, dev=True)
    p = info.value.problems
    assert "proxy.routes[1].prefix: duplicate prefix '/api/'" in p
    assert any(x.startswith("proxy.routes[2].prefix: '/auth/x/' would shadow") for x in p)
    assert any(x.startswith("proxy.routes[3].upstream: must be an http(s) URL") for x in p)
    assert "proxy.routes[3].auth: 'sometimes' is not one of 'required', 'optional', 'public'" in p


def test_check_config_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, "[store]\nurl='mysql://x'\n[bogus]\na=1\n")
    assert main(["check-config", str(bad)]) == 2
    out = capsys.readouterr().out
    assert "store.url: unsupported scheme 'mysql'" in out
    assert "bogus: unknown section" in out
    assert main(["check-config", "--dev", str(DEV_CONFIG_PATH)]) == 0
    assert capsys.readouterr().out.strip() == "OK"


def test_dev_mode_resolves_simulator_urls() -> None:
    config = load_config(DEV_CONFIG_PATH, {}, dev=True).with_bind("127.0.0.1", 9123).resolved()
    assert config.public_url == "http://127.0.0.1:9123"
    assert config.wechat.api_base == "http://127.0.0.1:9123/_sim/wechat"
    assert config.wechat.open_base == "http://127.0.0.1:9123/_sim/wechat"
    assert {r.upstream for r in config.proxy.routes} == {"http://127.0.0.1:9123/_sim/echo"}


def _documented_keys(table: dict[str, object], path: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in table.items():
        full = f"{path}.{key}" if path else key
        keys.add(full.removesuffix("_file"))
        if isinstance(value, dict):
            keys |= _documented_keys(value, full)
        if isinstance(value, list) and value and isinstance(value[0], dict):
            keys |= _documented_keys(value[0], full)
    return keys


def test_example_documents_every_key() -> None:
    """Every config key appears in config/gateway.example.toml (the reference for operators)."""
    import dataclasses
    import tomllib
    import typing

    from gateway.config import Config

    def walk(cls: type, path: str) -> set[str]:
        out: set[str] = set()
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name == "dev":
                continue
            full = f"{path}.{f.name}" if path else f.name
            tp = hints[f.name]
            args = typing.get_args(tp)
            inner = args[-1] if typing.get_origin(tp) in (tuple, dict) else tp
            if dataclasses.is_dataclass(inner):
                sub = walk(inner, full if typing.get_origin(tp) is not dict else f"{full}.web")
                out |= sub
                if typing.get_origin(tp) is not dict:
                    out.add(full)
            else:
                out.add(full)
        return out

    import re

    def norm(keys: set[str]) -> set[str]:
        return {re.sub(r"^wechat\.apps\.[^.]+", "wechat.apps.*", k) for k in keys}

    documented = norm(_documented_keys(tomllib.loads(EXAMPLE.read_text())))
    from gateway.config.aliases import LIMIT_ALIASES

    old_names = {f"{section}.{key}" for section, key in LIMIT_ALIASES}  # still read, not shown
    missing = sorted(norm(walk(Config, "")) - documented - old_names)
    assert missing == []


def test_dev_config_ships_inside_the_package() -> None:
    """``wxgate serve --dev`` works from an installed wheel, not only from a checkout:
    ``gateway/config/dev.toml`` is package data and is ``config/dev.toml`` (a link here)."""
    root = Path(__file__).resolve().parents[1]
    packaged = Path(config_package.__file__).parent / "dev.toml"
    assert packaged.read_bytes() == (root / "config" / "dev.toml").read_bytes()
    assert packaged.resolve() == DEV_CONFIG_PATH
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert "config/dev.toml" in pyproject["tool"]["setuptools"]["package-data"]["gateway"]


# The OpenID Provider's clients: each rule, as the key path and message check-config prints.

ISSUER = '[tokens]\nissuer = "https://login.example.com"\n'


def client(**keys: object) -> str:
    """A ``[[oidc.clients]]`` table: a valid confidential client with ``keys`` changed
    (``None`` leaves a key out)."""
    table: dict[str, object] = {
        "client_id": "app",
        "client_secret": "s3cret",
        "redirect_uris": ["https://app.example.com/cb"],
        **keys,
    }
    lines = [f"{k} = {json.dumps(v)}" for k, v in table.items() if v is not None]
    return "\n[[oidc.clients]]\n" + "\n".join(lines) + "\n"


def problems_of(tmp_path: Path, text: str, *, dev: bool = False) -> list[str]:
    try:
        load_config(write(tmp_path, ISSUER + text), {}, dev=dev)
    except ConfigError as exc:
        return exc.problems
    return []


def test_valid_clients_load(tmp_path: Path) -> None:
    text = (
        client()
        + client(client_id="spa", client_secret=None, token_endpoint_auth_method="none",
                 redirect_uris=["http://127.0.0.1:5173/cb", "http://localhost/cb",
                                "http://[::1]:8000/cb", "http://127.4.5.6/cb"],
                 post_logout_redirect_uris=["https://spa.example.com/?bye=1"],
                 require_pkce=True, login_flows=["scan", "web", "mp"])
        + client(client_id="svc", grant_types=["client_credentials"], redirect_uris=[],
                 scopes=["api:read", "https://api.example.com/write"],
                 token_endpoint_auth_method="client_secret_post", subject_type="pairwise",
                 backchannel_logout_uri="https://svc.example.com/logout?x=1")
        + client(client_id="a" * 255, require_pkce=False)
        + '[oidc]\npairwise_salt = "' + "x" * 32 + '"\ncode_ttl = 600\nlogout_token_ttl = 10\n'
        + "backchannel_retries = 0\n"
    )  # fmt: skip
    assert problems_of(tmp_path, text) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (client() + client(),
         "oidc.clients[1].client_id: duplicate client_id 'app' (also oidc.clients[0])"),
        (client(client_id=""), "oidc.clients[0].client_id: required"),
        (client(client_id="my app"),
         "oidc.clients[0].client_id: 'my app' may hold only printable ASCII, no spaces"),
        (client(client_id="appé"),
         "oidc.clients[0].client_id: 'appé' may hold only printable ASCII, no spaces"),
        (client(client_id="a" * 256), "oidc.clients[0].client_id: longer than 255 characters"),
        (client(token_endpoint_auth_method="none"),
         "oidc.clients[0].token_endpoint_auth_method: 'none' is for public clients but this "
         "client has a client_secret: use client_secret_basic or client_secret_post, or remove "
         "the secret"),
        (client(client_secret=None),
         "oidc.clients[0].client_secret: a confidential client without a secret "
         "(token_endpoint_auth_method = 'client_secret_basic'): set client_secret or "
         "client_secret_file, or token_endpoint_auth_method = 'none' for a public client"),
        (client(client_secret="", token_endpoint_auth_method="client_secret_post"),
         "oidc.clients[0].client_secret: a confidential client without a secret "
         "(token_endpoint_auth_method = 'client_secret_post'): set client_secret or "
         "client_secret_file, or token_endpoint_auth_method = 'none' for a public client"),
        (client(client_secret=None, token_endpoint_auth_method="none", require_pkce=False),
         "oidc.clients[0].require_pkce: a public client without PKCE enforcement: "
         "remove require_pkce or set it to true"),
        (client(client_secret=None, token_endpoint_auth_method="none",
                grant_types=["authorization_code", "client_credentials"]),
         "oidc.clients[0].grant_types: client_credentials needs a confidential client"),
        (client(grant_types=["authorization_code", "implicit"]),
         "oidc.clients[0].grant_types[1]: 'implicit' is not one of authorization_code, "
         "refresh_token, client_credentials"),
        (client(grant_types=[]), "oidc.clients[0].grant_types: must not be empty"),
        (client(redirect_uris=[]),
         "oidc.clients[0].redirect_uris: required for the authorization_code grant"),
        (client(redirect_uris=["https://app.example.com/cb#top"]),
         "oidc.clients[0].redirect_uris[0]: 'https://app.example.com/cb#top' must not have a "
         "fragment"),
        (client(redirect_uris=["/cb"]),
         "oidc.clients[0].redirect_uris[0]: '/cb' must be an absolute http(s) URL (a path only "
         "in dev mode)"),
        (client(redirect_uris=["app.example.com/cb"]),
         "oidc.clients[0].redirect_uris[0]: 'app.example.com/cb' must be an absolute http(s) URL "
         "(a path only in dev mode)"),
        (client(redirect_uris=["com.example.app:/cb"]),
         "oidc.clients[0].redirect_uris[0]: 'com.example.app:/cb' must be an absolute http(s) URL "
         "(a path only in dev mode)"),
        (client(redirect_uris=["https://app.example.com:99999/cb"]),
         "oidc.clients[0].redirect_uris[0]: 'https://app.example.com:99999/cb' is not a URL"),
        (client(redirect_uris=["http://app.example.com/cb"]),
         "oidc.clients[0].redirect_uris[0]: 'http://app.example.com/cb' must be https "
         "(http only on a loopback host)"),
        (client(redirect_uris=["http://127.0.0.1.example.com/cb"]),
         "oidc.clients[0].redirect_uris[0]: 'http://127.0.0.1.example.com/cb' must be https "
         "(http only on a loopback host)"),
        (client(post_logout_redirect_uris=["https://app.example.com/", "http://10.0.0.1/bye"]),
         "oidc.clients[0].post_logout_redirect_uris[1]: 'http://10.0.0.1/bye' must be https "
         "(http only on a loopback host)"),
        (client(post_logout_redirect_uris=["https://app.example.com/#bye"]),
         "oidc.clients[0].post_logout_redirect_uris[0]: 'https://app.example.com/#bye' must not "
         "have a fragment"),
        (client(backchannel_logout_uri="http://app.example.com/logout"),
         "oidc.clients[0].backchannel_logout_uri: 'http://app.example.com/logout' must be https "
         "(http only on a loopback host or in dev mode)"),
        (client(backchannel_logout_uri="/logout"),
         "oidc.clients[0].backchannel_logout_uri: '/logout' must be an absolute http(s) URL "
         "(a path only in dev mode)"),
        (client(scopes=["profile"]),
         "oidc.clients[0].scopes: must include 'openid' (the authorization_code grant)"),
        (client(scopes=["openid", "read write"]),
         "oidc.clients[0].scopes[1]: 'read write' is not a scope token (RFC 6749 §3.3: printable "
         "ASCII without spaces, '\"' or '\\')"),
        (client(scopes=["openid", 'say"hi']),
         "oidc.clients[0].scopes[1]: 'say\"hi' is not a scope token (RFC 6749 §3.3: printable "
         "ASCII without spaces, '\"' or '\\')"),
        (client(subject_type="pairwise"),
         "oidc.pairwise_salt: at least 32 characters required by the pairwise clients "
         "(oidc.clients[0])"),
        (client(subject_type="pairwise") + '[oidc]\npairwise_salt = "' + "x" * 31 + '"\n',
         "oidc.pairwise_salt: at least 32 characters required by the pairwise clients "
         "(oidc.clients[0])"),
        (client(login_flows=["scan", "sms"]),
         "oidc.clients[0].login_flows[1]: 'sms' is not one of scan, web, mp"),
        ("[oidc]\ncode_ttl = 0\n", "oidc.code_ttl: must be between 1 and 600 seconds"),
        ("[oidc]\ncode_ttl = 601\n", "oidc.code_ttl: must be between 1 and 600 seconds"),
        ("[oidc]\nlogout_token_ttl = 9\n",
         "oidc.logout_token_ttl: must be between 10 and 3600 seconds"),
        ("[oidc]\nlogout_token_ttl = 3601\n",
         "oidc.logout_token_ttl: must be between 10 and 3600 seconds"),
        ("[oidc]\nbackchannel_timeout = 0\n", "oidc.backchannel_timeout: must be positive"),
        ("[oidc]\nbackchannel_retries = -1\n",
         "oidc.backchannel_retries: must be between 0 and 10"),
        ("[oidc]\nbackchannel_retries = 11\n",
         "oidc.backchannel_retries: must be between 0 and 10"),
    ],
)  # fmt: skip
def test_oidc_rules(tmp_path: Path, text: str, problem: str) -> None:
    assert problems_of(tmp_path, text) == [problem]


def test_oidc_client_uris_in_dev_mode(tmp_path: Path) -> None:
    """Dev mode takes paths (resolved against the public URL) and an http back-channel URI;
    http redirect URIs still only on loopback hosts."""
    ok = client(
        redirect_uris=["/_sim/rp/callback", "http://127.0.0.1:3000/cb"],
        post_logout_redirect_uris=["/_sim/rp/"],
        backchannel_logout_uri="http://rp.internal/logout",
    )
    assert problems_of(tmp_path, ok, dev=True) == []
    bad = client(
        redirect_uris=["//evil.example.com/cb", "http://rp.internal/cb"],
        backchannel_logout_uri="/logout#x",
    )
    assert problems_of(tmp_path, bad, dev=True) == [
        "oidc.clients[0].redirect_uris[0]: '//evil.example.com/cb' must be an absolute http(s) "
        "URL or a path starting with /",
        "oidc.clients[0].redirect_uris[1]: 'http://rp.internal/cb' must be https (http only on a "
        "loopback host)",
        "oidc.clients[0].backchannel_logout_uri: '/logout#x' must not have a fragment",
    ]


def test_check_config_prints_client_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, ISSUER + client(client_id="a b", redirect_uris=["http://x.example/"]))
    assert main(["check-config", str(path)]) == 2
    assert capsys.readouterr().out.splitlines() == [
        "oidc.clients[0].client_id: 'a b' may hold only printable ASCII, no spaces",
        "oidc.clients[0].redirect_uris[0]: 'http://x.example/' must be https (http only on a "
        "loopback host)",
    ]


def test_dev_config_registers_the_demo_clients() -> None:
    config = load_config(DEV_CONFIG_PATH, {}, dev=True)
    clients = {c.client_id: c for c in config.oidc.clients}
    assert set(clients) == {"demo-spa", "demo-rp"}
    spa, rp = clients["demo-spa"], clients["demo-rp"]
    assert (spa.client_secret, spa.token_endpoint_auth_method, spa.first_party) == (
        "", "none", True,
    )  # fmt: skip
    assert (rp.client_secret, rp.token_endpoint_auth_method, rp.first_party) == (
        "dev-demo-rp-secret", "client_secret_basic", False,
    )  # fmt: skip
    assert "client_credentials" in rp.grant_types
    assert len(config.oidc.pairwise_salt) >= 32
    resolved = config.with_bind("127.0.0.1", 9123).resolved()
    base = "http://127.0.0.1:9123/_sim/rp"
    for c in resolved.oidc.clients:
        assert c.redirect_uris == (f"{base}/callback",)
        assert c.post_logout_redirect_uris == (f"{base}/",)
    rp = next(c for c in resolved.oidc.clients if c.client_id == "demo-rp")
    assert rp.backchannel_logout_uri == f"{base}/backchannel-logout"
    assert config.resolved().oidc.clients[0].redirect_uris == (
        "http://127.0.0.1:8080/_sim/rp/callback",
    )
    not_dev = dataclasses.replace(resolved, dev=False)
    assert not_dev.resolved() is not_dev  # outside dev mode nothing is rewritten


def test_follow_login_settings_are_checked(tmp_path: Path) -> None:
    """Flow E: the console Token's charset, the 43-character EncodingAESKey, a key for
    safe/compatible mode, and the settings only on official accounts (reference §2.15)."""
    path = write(
        tmp_path,
        """
        [wechat.apps.mp]
        kind = "official_account"
        appid = "wx1"
        secret = "s"
        server_token = "no spaces!"
        encoding_aes_key = "short"
        message_mode = "safe"
        follow_login = true
        [wechat.apps.web]
        kind = "website"
        appid = "wx2"
        secret = "s"
        follow_login = true
        [wechat.apps.mp2]
        kind = "official_account"
        appid = "wx3"
        secret = "s"
        message_mode = "compatible"
        follow_login = true
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, {}, dev=True)
    text = "\n".join(info.value.problems)
    assert "wechat.apps.mp.server_token: 3-32 letters and digits" in text
    assert "wechat.apps.mp.encoding_aes_key: 43 letters and digits" in text
    assert "wechat.apps.web: server_token, encoding_aes_key, follow_login" in text
    assert "wechat.apps.mp2.server_token: required with follow_login" in text
    assert "wechat.apps.mp2.encoding_aes_key: required in compatible mode" in text
    good = load_config(path, {
        "WXGATE_WECHAT__APPS__MP__SERVER_TOKEN": "consoleToken1",
        "WXGATE_WECHAT__APPS__MP__ENCODING_AES_KEY": "C" * 43,
        "WXGATE_WECHAT__APPS__WEB__FOLLOW_LOGIN": "false",
        "WXGATE_WECHAT__APPS__MP2__MESSAGE_MODE": "plain",
        "WXGATE_WECHAT__APPS__MP2__SERVER_TOKEN": "abc",
    }, dev=True)  # fmt: skip
    assert good.wechat.apps["mp"].follow_login and good.wechat.apps["mp"].message_mode == "safe"


def test_old_limit_keys_move_to_limits_and_conflicts_are_reported() -> None:
    """``[limits]`` is the one section; the old keys still work, both names set to different
    values is a problem, and a negative limit or an empty window is refused."""

    def load(**env: str) -> Config:
        return load_config(DEV_CONFIG_PATH, {f"WXGATE_{k}": v for k, v in env.items()}, dev=True)

    old = {"LOGIN__RATE_LIMIT_PER_MINUTE": "7", "SCAN__MAX_WAITERS_PER_ADDRESS": "9"}
    config = load(**old)
    assert config.limits.miniprogram_login_per_address == 7
    assert config.limits.waiters_per_address == 9
    assert load().limits.miniprogram_login_per_address == 30
    same = load(**old, LIMITS__MINIPROGRAM_LOGIN_PER_ADDRESS="7")
    assert same.limits.miniprogram_login_per_address == 7
    with pytest.raises(ConfigError) as info:
        load(**old, LIMITS__MINIPROGRAM_LOGIN_PER_ADDRESS="8", LIMITS__WINDOW="0",
             LIMITS__REFRESH_PER_USER="-1")  # fmt: skip
    text = str(info.value)
    assert "login.rate_limit_per_minute: old name of limits.miniprogram_login_per_address" in text
    assert "limits.window: must be at least 1" in text
    assert "limits.refresh_per_user: must not be negative" in text

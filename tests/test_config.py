"""Config loading: types, env overrides, *_file secrets, every problem reported at once."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from gateway import config as config_package
from gateway.cli import main
from gateway.config import DEV_CONFIG_PATH, ConfigError, load_config

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
    text = EXAMPLE.read_text().replace("/run/secrets/", f"{secrets}/")
    config = load_config(write(tmp_path, text), {})
    assert config.tokens.issuer.startswith("https://")
    assert config.wechat.apps["web"].secret == "s3cret"
    assert config.tokens.introspection_clients[0].client_secret == "s3cret"
    assert config.proxy.routes[0].prefix == "/api/"


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
    assert (
        "store.url: unsupported scheme 'mysql' (expected memory://, redis:// or rediss://)"
        in problems
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
    missing = sorted(norm(walk(Config, "")) - documented)
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

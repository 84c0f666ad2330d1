"""The ``wxgate`` command: key management, operator tokens and new OIDC clients through the
real CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jwt
import pytest

from gateway import __version__
from gateway.cli import main
from gateway.config import OidcClientConfig, load_config
from tests.fixtures.net import free_port
from tests.fixtures.process import stop

ROOT = Path(__file__).resolve().parent.parent


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``wxgate`` subprocess: this checkout first on the path, so the
    command runs the code under test even from another directory (not whichever copy of
    ``gateway`` is installed)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **(extra or {})}


def wxgate(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], cwd=cwd, env=_env(env), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip


def test_version(tmp_path: Path) -> None:
    out = wxgate("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == f"wxgate {__version__}"


def test_keys_and_token_issue(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[tokens]\nissuer = "https://login.example.com"\npublish_delay = 600\n')
    refused = wxgate("token", "issue", "--sub", "u_1", "--config", str(config), cwd=tmp_path)
    assert refused.returncode == 1 and "no active signing key" in refused.stderr
    assert "Traceback" not in refused.stderr

    made = wxgate("keys", "generate", "--config", str(config), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    keys = list((tmp_path / "var" / "keys").glob("*.pem"))
    assert len(keys) == 1 and keys[0].stat().st_mode & 0o777 == 0o600

    rotated = wxgate("keys", "rotate", "--config", str(config), cwd=tmp_path)
    assert rotated.returncode == 0 and "staged RS256 key" in rotated.stdout
    listing = wxgate("keys", "list", "--config", str(config), cwd=tmp_path).stdout.splitlines()
    states = sorted(line.split()[2] for line in listing[1:])
    assert states == ["active", "next"]

    issued = wxgate("token", "issue", "--sub", "u_1", "--ttl", "120", "--config", str(config),
                    cwd=tmp_path)  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    header = jwt.get_unverified_header(token)
    active = next(line.split()[0] for line in listing[1:] if " active " in line)
    assert header["kid"] == active and header["typ"] == "at+jwt"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "u_1" and claims["iss"] == "https://login.example.com"
    assert claims["exp"] - claims["iat"] == 120


def test_token_issue_refuses_a_ttl_beyond_max_lifetime(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[tokens]\nissuer = "https://login.example.com"\nmax_lifetime = 3600\n')
    assert wxgate("keys", "generate", "--config", str(config), cwd=tmp_path).returncode == 0
    for ttl in ("3601", str(10 * 365 * 86_400), "0"):
        refused = wxgate("token", "issue", "--sub", "u_1", "--ttl", ttl, "--config", str(config),
                         cwd=tmp_path)  # fmt: skip
        assert refused.returncode == 2, (ttl, refused.stderr)
        assert "tokens.max_lifetime (3600 seconds)" in refused.stderr and not refused.stdout
        assert "Traceback" not in refused.stderr
    issued = wxgate("token", "issue", "--sub", "u_1", "--ttl", "3600", "--config", str(config),
                    cwd=tmp_path)  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    claims = jwt.decode(issued.stdout.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3600


def test_serve_refuses_bad_config_and_public_dev_bind(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[store]\nurl = 'mysql://x'\n[bogus]\n")
    out = wxgate("serve", "--config", str(bad), cwd=tmp_path)
    assert out.returncode == 2
    assert "store.url: unsupported scheme 'mysql'" in out.stderr and "bogus" in out.stderr
    out = wxgate("serve", "--dev", "--host", "0.0.0.0", "--port", "0", cwd=tmp_path)
    assert out.returncode == 2 and "--allow-non-loopback" in out.stderr


def _userinfo(base: str, token: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{base}/auth/userinfo", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, {}


def _wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60  # generous: only a gateway that never starts waits it out
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"wxgate exited early:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"wxgate did not become ready:\n{log.read_text()[-3000:]}")


def test_dev_token_issue_takes_the_gateway_port(tmp_path: Path) -> None:
    """``token issue --dev --port P`` mints the issuer of ``serve --dev --port P``: the gateway
    accepts it, and a token for the default address (port 8080) it refuses."""
    port = free_port()
    while port == 8080:
        port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {  # one data dir, hence one keys dir, for the gateway and the CLI
        "WXGATE_SERVER__DATA_DIR": str(tmp_path / "var"),
        "WXGATE_LOGGING__ACCESS_LOG": "false",
    }
    log = tmp_path / "wxgate.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--dev", "--port", str(port)],
            cwd=tmp_path, env=_env(env), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_ready(base, proc, log)  # the dev gateway generated its key in var/keys
        issued = wxgate("token", "issue", "--dev", "--port", str(port), "--sub", "u_port",
                        cwd=tmp_path, env=env)  # fmt: skip
        assert issued.returncode == 0, issued.stderr
        token = issued.stdout.strip()
        assert jwt.decode(token, options={"verify_signature": False})["iss"] == base
        status, body = _userinfo(base, token)
        assert status == 200, log.read_text()[-3000:]
        assert body["sub"] == "u_port"

        default = wxgate("token", "issue", "--dev", "--sub", "u_port", cwd=tmp_path, env=env)
        assert default.returncode == 0, default.stderr
        other = default.stdout.strip()
        assert jwt.decode(other, options={"verify_signature": False})["iss"] == (
            "http://127.0.0.1:8080"
        )
        assert _userinfo(base, other)[0] == 401
    finally:
        stop(proc)  # the gateway this test started, by its PID


def _load_snippet(tmp_path: Path, out: str, secret: str = "") -> OidcClientConfig:
    """The client the printed snippet configures, pasted into a production config with the
    secret written where the snippet's ``client_secret_file`` says (under ``tmp_path``)."""
    snippet = out.split("\n\n")[0]
    assert snippet.startswith("[[oidc.clients]]\n") and (not secret or secret not in snippet)
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir(exist_ok=True)
    if secret:
        path = re.search(r'^client_secret_file = "/run/secrets/([^"]+)"', snippet, re.M)
        assert path is not None
        (secrets_dir / path.group(1)).write_text(secret + "\n")
    config = tmp_path / "gateway.toml"
    config.write_text('[tokens]\nissuer = "https://login.example.com"\n\n'
                      + snippet.replace("/run/secrets/", f"{secrets_dir}/"))  # fmt: skip
    (client,) = load_config(config, {}).oidc.clients
    return client


def test_clients_new_confidential(tmp_path: Path) -> None:
    name = 'Zoë\'s "演示" \\ app\x7f'
    uris = ("https://grafana.example.com/login/generic_oauth", "http://127.0.0.1:3000/login")
    out = wxgate("clients", "new", "grafana", "--name", name, "--redirect-uri", uris[0],
                 "--redirect-uri", uris[1], cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    secret = lines[-1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", secret)  # secrets.token_urlsafe(32)
    assert lines[-3].startswith("# The client secret, shown only this once: write it to "
                                "/run/secrets/oidc-grafana")  # fmt: skip
    client = _load_snippet(tmp_path, out.stdout, secret)
    assert client == OidcClientConfig(
        client_id="grafana",
        client_secret=secret,
        name=name,
        redirect_uris=uris,
        token_endpoint_auth_method="client_secret_basic",
        require_pkce=True,
    )  # fmt: skip


def test_clients_new_public(tmp_path: Path) -> None:
    out = wxgate("clients", "new", "spa", "--public", "--redirect-uri", "http://localhost:5173/cb",
                 cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "client_secret" not in out.stdout and "\n\n" not in out.stdout.strip()
    assert out.stdout.splitlines()[-1] == "first_party = false              # true: no consent page"
    client = _load_snippet(tmp_path, out.stdout)
    assert client == OidcClientConfig(
        client_id="spa",
        name="spa",
        redirect_uris=("http://localhost:5173/cb",),
        token_endpoint_auth_method="none",
        require_pkce=True,
    )


def test_clients_new_without_redirect_uris_is_a_service_client(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["clients", "new", "billing"]) == 0
    first = capsys.readouterr().out
    client = _load_snippet(tmp_path, first, first.splitlines()[-1])
    assert (client.grant_types, client.redirect_uris, client.scopes) == (
        ("client_credentials",), (), (),
    )  # fmt: skip
    assert main(["clients", "new", "billing"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] != first.splitlines()[-1]  # a new secret


def test_clients_new_refuses_what_would_not_load(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clients", "new", "spa", "--public"]) == 2
    assert "a public client needs a --redirect-uri" in capsys.readouterr().err
    assert main(["clients", "new", "my app", "--redirect-uri", "http://app.example.com/cb"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "wxgate: client_id: 'my app' may hold only printable ASCII, no spaces",
        "wxgate: redirect_uris[0]: 'http://app.example.com/cb' must be https (http only on a "
        "loopback host)",
    ]

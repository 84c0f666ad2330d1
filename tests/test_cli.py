"""The ``wxgate`` command: key management and operator tokens through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jwt

from gateway import __version__
from tests.fixtures.net import free_port

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
        if proc.poll() is None:  # stop the gateway this test started, by its PID
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

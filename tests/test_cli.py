"""The ``wxgate`` command: key management and operator tokens through the real CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jwt

from gateway import __version__


def wxgate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], cwd=cwd, capture_output=True, text=True,
        timeout=60,
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

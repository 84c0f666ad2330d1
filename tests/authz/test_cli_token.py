"""``wxgate token issue --role``: an operator's token carrying roles, to try route policies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jwt


def test_token_issue_carries_the_roles_given(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        '[tokens]\nissuer = "https://login.example.com"\n[authz]\nroles_claim = "g"\n'
    )
    cmd = [sys.executable, "-m", "gateway"]
    generated = subprocess.run([*cmd, "keys", "generate", "--config", str(config)],
                               cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    issued = subprocess.run(
        [*cmd, "token", "issue", "--sub", "u_1", "--role", "ops", "--role", "admin",
         "--config", str(config)],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    claims = jwt.decode(issued.stdout.strip(), options={"verify_signature": False})
    assert claims["g"] == ["admin", "ops"] and "roles" not in claims

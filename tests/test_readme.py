"""The README stays true: the two commands, every metric family and every endpoint."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.metrics import Metrics
from gateway.server.app import create_app
from gateway.server.telemetry import create_families
from tests.conftest import dev_config

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_the_two_commands() -> None:
    assert "make run" in README and "make test" in README
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_every_metric_family_is_listed() -> None:
    metrics = Metrics()
    create_families(metrics)  # every package's families, as the app creates them
    names = {m.name for m in metrics.registry.collect()}
    for name in names:  # counters are listed with their _total suffix, as Prometheus shows them
        assert f"`{name}`" in README or f"`{name}_total`" in README, name


def test_every_gateway_endpoint_is_listed(tmp_path: Path) -> None:
    app = create_app(dev_config(tmp_path))
    paths = {r.canonical for r in app.router.resources()}
    own = {p for p in paths if p.startswith(("/auth", "/.well-known", "/healthz", "/readyz"))}
    own -= {"/auth/login/assets/{name}", "/auth/wechat/web/embed.js"}  # static files
    for path in own:
        # README writes path parameters the same way; `{flow}` routes as web/mp pairs
        shown = path.replace("{flow}", "{web,mp}").replace("/{tail}", "/{path}")
        shown = shown.replace("/image.{kind}", "/image.png")
        assert shown in README or path.replace("{flow}", "web") in README, path


def test_every_fault_row_names_a_test_that_exists() -> None:
    """The fault table: each row ends with the test that asserts it, and every fault test
    module has a row."""
    root = Path(__file__).resolve().parent
    table = README.split("\n## Faults", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    named = [re.findall(r"`([\w/]*test_\w+\.py)`", row.rsplit("|", 2)[-2]) for row in rows[1:]]
    assert len(named) >= 7 and all(len(n) == 1 for n in named), named
    for (name,) in named:
        path = root / name if "/" in name else root / "faults" / name
        if name.startswith("tests/"):
            path = root.parent / name
        assert path.is_file(), name
    in_table = {n for (n,) in named}
    assert {p.name for p in (root / "faults").glob("test_*.py")} <= in_table

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

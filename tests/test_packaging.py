"""pyproject.toml's dependency floors admit no release that lacks an API the gateway uses."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

from aiohttp import web
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _requirement(name: str) -> Requirement:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    found = [Requirement(line) for line in project["dependencies"]]
    return next(r for r in found if r.name == name)


def test_aiohttp_floor_has_request_key() -> None:
    """``web.RequestKey`` (used for the per-request keys) first shipped in aiohttp 3.14.0."""
    spec = _requirement("aiohttp").specifier
    assert "3.14.0" in spec
    assert "3.13.9" not in spec and "3.13.5" not in spec and "3.11.18" not in spec
    assert "4.0.0" not in spec
    assert spec.contains(version("aiohttp"))
    assert hasattr(web, "RequestKey")

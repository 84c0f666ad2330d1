"""Boundaries import-linter cannot express (the rest: ``[tool.importlinter]`` in pyproject.toml).

Only gateway.config reads the process environment (``os`` is imported everywhere); only the
server and the simulator import ``aiohttp.web`` (import-linter sees ``aiohttp`` only whole, and
the WeChat client rightly uses aiohttp's client); WeChat host names appear only in the config's
defaults and in gateway.wechat (not an import at all).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

GATEWAY = Path(__file__).resolve().parent.parent / "gateway"
CONFIG = GATEWAY / "config"
WEB_PACKAGES = (GATEWAY / "server", GATEWAY / "simulator")
# os names that read or change the process environment
ENVIRONMENT_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})
# gateway.config's door to the environment: outside the package, load_process_config instead
CONFIG_DOORS = frozenset({"os_environ"})


def environment_uses(source: str) -> list[str]:
    """Each read of the process environment in ``source``, as ``line: what``."""
    tree = ast.parse(source)
    os_names = {"os"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            os_names |= {a.asname or a.name for a in node.names if a.name == "os"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [
                f"{node.lineno}: from os import {a.name}"
                for a in node.names
                if a.name in ENVIRONMENT_NAMES
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gateway.config"):
            found += [
                f"{node.lineno}: from {node.module} import {a.name}"
                for a in node.names
                if a.name in CONFIG_DOORS
            ]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in ENVIRONMENT_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id in os_names
        ):
            found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr in CONFIG_DOORS:
            found.append(f"{node.lineno}: .{node.attr}")
    return found


def test_the_scan_finds_every_form() -> None:
    source = (
        "import os\nimport os as o\nfrom os import environ, getenv\n"
        "from gateway.config import os_environ\nimport gateway.config\n"
        "a = os.environ['X']\nb = o.getenv('X')\nc = gateway.config.os_environ()\n"
        "d = {}.get('environ')\nenviron = 1\n"
    )
    assert environment_uses(source) == [
        "3: from os import environ",
        "3: from os import getenv",
        "4: from gateway.config import os_environ",
        "6: os.environ",
        "7: o.getenv",
        "8: .os_environ",
    ]


def test_only_config_reads_the_environment() -> None:
    found = {
        str(path.relative_to(GATEWAY.parent)): uses
        for path in sorted(GATEWAY.rglob("*.py"))
        if CONFIG not in path.parents and (uses := environment_uses(path.read_text()))
    }
    assert found == {}, f"the environment is read outside gateway/config: {found}"


def web_uses(source: str) -> list[str]:
    """Each import (or use) of aiohttp's server side, ``aiohttp.web`` and ``aiohttp.web_*``."""

    def is_web(module: str) -> bool:
        return module == "aiohttp.web" or module.startswith(("aiohttp.web.", "aiohttp.web_"))

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if is_web(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [
                f"{node.lineno}: from {node.module} import {a.name}"
                for a in node.names
                if is_web(node.module) or is_web(f"{node.module}.{a.name}")
            ]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and is_web(f"{node.value.id}.{node.attr}")
        ):
            found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_the_web_scan_finds_every_form() -> None:
    source = (
        "import aiohttp\nimport aiohttp.web\nfrom aiohttp import web, ClientSession\n"
        "from aiohttp.web_exceptions import HTTPFound\nfrom aiohttp import web_request\n"
        "a = aiohttp.web.Application\nb = aiohttp.ClientTimeout\n"
    )
    assert web_uses(source) == [
        "2: import aiohttp.web",
        "3: from aiohttp import web",
        "4: from aiohttp.web_exceptions import HTTPFound",
        "5: from aiohttp import web_request",
        "6: aiohttp.web",
    ]


def test_only_the_server_and_the_simulator_use_aiohttp_web() -> None:
    found = {
        str(path.relative_to(GATEWAY.parent)): uses
        for path in sorted(GATEWAY.rglob("*.py"))
        if not any(p in path.parents for p in WEB_PACKAGES) and (uses := web_uses(path.read_text()))
    }
    assert found == {}, f"aiohttp.web outside gateway/server and gateway/simulator: {found}"


def test_wechat_host_names_only_in_config_defaults_and_wechat() -> None:
    """Every WeChat URL is built by gateway.wechat from the configured bases (dev mode points
    them at the simulator), so a host name anywhere else would bypass that."""
    host = re.compile(r"[\w.-]*\b(?:qq|weixin|wechat|servicewechat)\.com\b", re.IGNORECASE)
    allowed = (CONFIG, GATEWAY / "wechat")
    found = {
        str(path.relative_to(GATEWAY.parent)): hosts
        for path in sorted(GATEWAY.rglob("*"))
        if path.is_file()
        and path.suffix in (".py", ".html", ".js", ".css", ".toml")
        and not any(a in path.parents for a in allowed)
        and (hosts := host.findall(path.read_text()))
    }
    assert found == {}, f"WeChat host names outside gateway/config and gateway/wechat: {found}"

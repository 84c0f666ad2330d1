"""Boundaries import-linter cannot express: only gateway.config reads the process environment."""

from __future__ import annotations

import ast
from pathlib import Path

GATEWAY = Path(__file__).resolve().parent.parent / "gateway"
CONFIG = GATEWAY / "config"
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

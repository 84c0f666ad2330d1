"""Loading: TOML, environment overrides, ``*_file`` secrets, type coercion, validation.

``load_config(path, environ, dev=...)`` reads TOML (stdlib ``tomllib``), applies environment
overrides ``WXGATE_SECTION__KEY=value`` (``__`` separates levels, keys are case-insensitive),
reads ``*_file`` secrets, coerces types from the dataclass annotations and validates. Every
problem is collected and reported at once as ``key.path: message``; unknown keys and sections
are errors.

This is the only module that reads ``os.environ``: ``load_config`` is given the environment,
``load_process_config`` reads the process's (``WXGATE_CONFIG`` names the file when no path is
given). ``with_workers`` is the command line's override of ``server.workers``, checked again.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from gateway.config.aliases import apply_aliases
from gateway.config.rules import validate, validate_server
from gateway.config.tree import DEV_CONFIG_PATH, ENV_PREFIX, Config, ConfigError

__all__ = [
    "CONFIG_PATH_VARIABLE",
    "load_config",
    "load_process_config",
    "os_environ",
    "with_workers",
]

CONFIG_PATH_VARIABLE = "WXGATE_CONFIG"


def os_environ() -> Mapping[str, str]:
    """The process environment (the one place the gateway reads it)."""
    import os

    return os.environ


class _EnvValue(str):
    """A value that came from the environment: a string to be coerced to the field's type."""

    __slots__ = ()


def load_config(
    path: str | Path | None,
    environ: Mapping[str, str] | None = None,
    *,
    dev: bool = False,
) -> Config:
    """Load, override, coerce and validate; raise ConfigError listing every problem."""
    problems: list[str] = []
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError([f"{path}: no such file"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    _apply_env(raw, environ or {}, problems)
    config = _build(Config, raw, "", problems, base_dir=Path(path).parent if path else Path())
    if isinstance(config, Config):
        config, moved = apply_aliases(dataclasses.replace(config, dev=dev))
        problems.extend(moved)
        problems.extend(validate(config))
    if problems:
        raise ConfigError(problems)
    assert isinstance(config, Config)
    return config


def load_process_config(path: str | Path | None = None, *, dev: bool = False) -> Config:
    """The configuration this process runs with, the process environment's overrides applied.

    The file is ``path``, else the one ``WXGATE_CONFIG`` names, else (``dev``) the embedded dev
    configuration.
    """
    environ = os_environ()
    if path is None:
        path = environ.get(CONFIG_PATH_VARIABLE)
    if path is None and dev:
        path = DEV_CONFIG_PATH
    if path is None:
        raise ConfigError([f"--config PATH (or {CONFIG_PATH_VARIABLE}, or --dev) is required"])
    return load_config(path, environ, dev=dev)


def with_workers(config: Config, workers: int) -> Config:
    """A copy with ``server.workers`` replaced (validated again: N > 1 needs Redis)."""
    config = dataclasses.replace(config, server=dataclasses.replace(config.server, workers=workers))
    problems = validate_server(config)
    if problems:
        raise ConfigError(problems)
    return config


def _apply_env(raw: dict[str, Any], environ: Mapping[str, str], problems: list[str]) -> None:
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if any(not p for p in parts):
            problems.append(f"{name}: malformed override name")
            continue
        node = raw
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                problems.append(f"{name}: {'.'.join(parts)} is not a section")
                break
            node = child
        else:
            node[parts[-1]] = _EnvValue(value)


def _build(cls: type[Any], raw: Any, path: str, problems: list[str], base_dir: Path) -> Any:
    where = path or "config"
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table")
        return cls()
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "dev" or cls is not Config}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key.endswith("_file") and key[: -len("_file")] in fields:
            target = key[: -len("_file")]
            if target in raw:
                problems.append(f"{_join(path, key)}: set either {target} or {key}, not both")
                continue
            secret = _read_secret_file(value, _join(path, key), problems, base_dir)
            if secret is not None:
                values[target] = secret
            continue
        if key not in fields:
            kind = "section" if isinstance(value, dict) and not path else "key"
            problems.append(f"{_join(path, key)}: unknown {kind}")
            continue
        values[key] = _coerce(hints[key], value, _join(path, key), problems, base_dir)
    return cls(**values)


def _read_secret_file(value: Any, where: str, problems: list[str], base_dir: Path) -> str | None:
    if not isinstance(value, str) or not value:
        problems.append(f"{where}: expected a file path")
        return None
    p = Path(value)
    if not p.is_absolute():
        p = base_dir / p
    try:
        return p.read_text(encoding="utf-8").strip()
    except OSError as exc:
        problems.append(f"{where}: cannot read {value}: {exc.strerror or exc}")
        return None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _coerce(tp: Any, value: Any, where: str, problems: list[str], base_dir: Path) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _build(typing.cast(type[Any], tp), value, where, problems, base_dir)
    if origin in (types.UnionType, typing.Union):
        if isinstance(value, _EnvValue) and value.lower() in ("", "none", "auto"):
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where, problems, base_dir)
    if origin is Literal:
        if value not in args:
            allowed = ", ".join(repr(a) for a in args)
            problems.append(f"{where}: {value!r} is not one of {allowed}")
            return args[0]
        return value
    if origin is tuple:
        return _coerce_tuple(args[0], value, where, problems, base_dir)
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a table")
            return {}
        return {
            k: _coerce(args[1], v, f"{where}.{k}", problems, base_dir) for k, v in value.items()
        }
    return _coerce_scalar(tp, value, where, problems)


def _coerce_tuple(item: Any, value: Any, where: str, problems: list[str], base_dir: Path) -> Any:
    if isinstance(value, _EnvValue):
        text = value.strip()
        if text.startswith("["):
            try:
                value = tomllib.loads(f"v = {text}")["v"]
            except tomllib.TOMLDecodeError:
                problems.append(f"{where}: not a valid list")
                return ()
        else:
            value = [_EnvValue(v.strip()) for v in text.split(",") if v.strip()]
    if not isinstance(value, list):
        problems.append(f"{where}: expected a list")
        return ()
    return tuple(_coerce(item, v, f"{where}[{i}]", problems, base_dir) for i, v in enumerate(value))


def _coerce_scalar(tp: Any, value: Any, where: str, problems: list[str]) -> Any:
    if isinstance(value, _EnvValue) and tp is not str:
        try:
            value = _parse_env_scalar(tp, value)
        except ValueError:
            problems.append(f"{where}: cannot read {str(value)!r} as {tp.__name__}")
            return tp()
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is str and isinstance(value, _EnvValue):
        return str(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        problems.append(f"{where}: expected {tp.__name__}, got {type(value).__name__}")
        return tp()
    return value


def _parse_env_scalar(tp: Any, value: str) -> Any:
    if tp is bool:
        low = value.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(value)
    return tp(value.strip())

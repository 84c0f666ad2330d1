"""Old names of keys that moved, still honoured: each old key's value goes to its new home.

The abuse limits moved to ``[limits]`` (one section, one table in the README). A file that
sets an old key keeps working; one that sets both names to different values is a problem
(which would win is not obvious).
"""

from __future__ import annotations

import dataclasses

from gateway.config.tree import Config, LimitsConfig

__all__ = ["apply_aliases"]

# (section, old key) -> new key in [limits]
LIMIT_ALIASES = {
    ("login", "rate_limit_per_minute"): "miniprogram_login_per_address",
    ("scan", "create_rate_per_minute"): "ticket_create_per_address",
    ("scan", "status_rate_per_minute"): "status_per_address",
    ("scan", "max_waiters_per_address"): "waiters_per_address",
}


def apply_aliases(config: Config) -> tuple[Config, list[str]]:
    """``config`` with every old limit key moved into ``limits``, and the conflicts found."""
    defaults, problems, moved = LimitsConfig(), [], {}
    for (section, old), new in LIMIT_ALIASES.items():
        value = getattr(getattr(config, section), old)
        if value is None:
            continue
        current = getattr(config.limits, new)
        if current != getattr(defaults, new) and current != value:
            problems.append(
                f"{section}.{old}: old name of limits.{new}, which is set to another value; "
                f"keep limits.{new} only"
            )
            continue
        moved[new] = value
    if not moved:
        return config, problems
    return dataclasses.replace(config, limits=dataclasses.replace(config.limits, **moved)), problems

"""Fixtures: the WeChat simulator on a local port and a client wired to it (see harness.py)."""

from tests.simulator.harness import (
    client,
    clock,
    http,
    metrics,
    sim,
    sim_base,
    sim_server,
    store,
    wechat_config,
)

__all__ = [
    "client",
    "clock",
    "http",
    "metrics",
    "sim",
    "sim_base",
    "sim_server",
    "store",
    "wechat_config",
]

"""A local imitation of the WeChat login APIs (reference §5) for dev mode, tests and benchmarks.

Same paths, parameters, JSON fields and quirks as WeChat; state in memory; an injectable clock;
fault injection and helpers (``wx.login`` codes, phone-button codes) through the ``Simulator``
object or the HTTP control API (``gateway.simulator.control``). Flow E: parametric QR codes,
followers and a simulated phone that pushes signed (safe mode: encrypted) events to an official
account's server URL (``gateway.simulator.follow``, ``follow_pages``). Also the demo OpenID Connect
relying party of dev mode (``gateway.simulator.rp``, ``create_rp``).
"""

from gateway.simulator.app import (
    SIMULATOR,
    SimAccessLogger,
    apps_from_config,
    build_app,
    create_simulator,
    run_simulator,
)
from gateway.simulator.core import Simulator
from gateway.simulator.faults import Fault
from gateway.simulator.model import SimApp, SimError, SimOptions
from gateway.simulator.rp import RP, RP_COOKIE, DemoRelyingParty, create_rp

__all__ = [
    "RP",
    "RP_COOKIE",
    "SIMULATOR",
    "DemoRelyingParty",
    "Fault",
    "SimAccessLogger",
    "SimApp",
    "SimError",
    "SimOptions",
    "Simulator",
    "apps_from_config",
    "build_app",
    "create_rp",
    "create_simulator",
    "run_simulator",
]

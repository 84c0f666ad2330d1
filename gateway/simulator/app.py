"""The simulator as an aiohttp application: standalone or mounted as a sub-application.

``create_simulator(source, clock)`` builds the app; the ``Simulator`` is at
``app[SIMULATOR]``. Mounted with ``root.add_subapp("/_sim/wechat", app)`` it answers under that
prefix (links it renders are derived from each request unless ``public_prefix`` is given);
standalone it answers at the root. ``run_simulator`` serves it until cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from gateway.clock import Clock
from gateway.config import Config, WeChatAppConfig, WeChatConfig
from gateway.simulator.api import add_api_routes
from gateway.simulator.control import add_control_routes
from gateway.simulator.core import Simulator
from gateway.simulator.follow_pages import add_follow_routes
from gateway.simulator.model import SimApp
from gateway.simulator.pages import add_page_routes

__all__ = [
    "SIMULATOR",
    "AppSource",
    "SimAccessLogger",
    "apps_from_config",
    "build_app",
    "create_simulator",
    "run_simulator",
]

log = logging.getLogger("gateway.simulator")
SIMULATOR = web.AppKey("wechat_simulator", Simulator)
AppSource = Config | WeChatConfig | Iterable[SimApp | tuple[str, str, str]]


class SimAccessLogger(AbstractAccessLogger):
    """Access lines at DEBUG without query strings: WeChat queries carry secrets, codes and
    tokens (reference §1.5). Pass as ``access_log_class`` to any runner serving the simulator.
    DEBUG so a benchmark run does not pay for a line per request."""

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.DEBUG)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug(
            "%s %s %d %.1fms", request.method, request.path, response.status, time * 1000
        )


def apps_from_config(source: AppSource) -> list[SimApp | tuple[str, str, str]]:
    """The simulated apps: every configured WeChat app (appid, secret, kind; an official
    account's server URL settings too), or ``source``. From a ``Config`` an official account
    with a ``server_token`` pushes to ``<public URL>/auth/wechat/<name>/events``."""
    base = ""
    if isinstance(source, Config):
        base, source = source.public_url, source.wechat
    if isinstance(source, WeChatConfig):
        return [_sim_app(name, a, base) for name, a in source.apps.items()]
    return list(source)


def _sim_app(name: str, app: WeChatAppConfig, base: str) -> SimApp:
    if app.kind != "official_account" or not app.server_token:
        return SimApp(app.appid, app.secret, app.kind)
    url = f"{base}/auth/wechat/{name}/events" if base else ""
    return SimApp(app.appid, app.secret, app.kind, url, app.server_token,
                  app.encoding_aes_key, app.message_mode, f"gh_{app.appid[-12:]}")  # fmt: skip


def build_app(sim: Simulator) -> web.Application:
    """The aiohttp application serving ``sim``."""
    app = web.Application(client_max_size=1024 * 1024)
    app[SIMULATOR] = sim
    add_api_routes(app, sim)
    add_page_routes(app, sim)
    add_control_routes(app, sim)
    add_follow_routes(app, sim)
    app.on_cleanup.append(_cancel_slow_answers)
    return app


async def _cancel_slow_answers(app: web.Application) -> None:
    tasks = list(app[SIMULATOR].background)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def create_simulator(
    source: AppSource, clock: Clock | None = None, *, public_prefix: str = ""
) -> web.Application:
    """A simulator application for the apps of ``source`` (a ``Config``, a ``WeChatConfig``,
    or ``SimApp``/``(appid, secret, kind)`` items); its ``Simulator`` is ``app[SIMULATOR]``."""
    sim = Simulator(apps_from_config(source), clock, public_prefix=public_prefix)
    return build_app(sim)


async def run_simulator(
    source: AppSource,
    host: str = "127.0.0.1",
    port: int = 8081,
    *,
    clock: Clock | None = None,
    public_prefix: str = "",
) -> None:
    """Serve the simulator on ``host:port`` until cancelled (``wxgate simulate``)."""
    app = create_simulator(source, clock, public_prefix=public_prefix)
    runner = web.AppRunner(app, access_log_class=SimAccessLogger)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info("WeChat simulator listening on http://%s:%d", host, port)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()

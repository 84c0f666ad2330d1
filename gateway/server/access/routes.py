"""The compiled proxy route table: which configured route answers a request path.

Matching is a plain string prefix test (nginx ``location /prefix`` semantics) and the longest
prefix wins, whatever the order in the config. The table is compiled once: prefixes are grouped
by length, so a lookup is one slice and one dict probe per distinct prefix length (a handful),
longest first.

A route with a ``host`` answers only requests for that host: through the proxy the ``Host``
header, or a trusted proxy's ``X-Forwarded-Host`` (``server.trusted_proxies``); through forward
auth, which fronts several hosts, ``X-Forwarded-Host`` or the host of ``X-Original-URL``. A
host's routes are tried before the routes for any host. Its requirement on callers (who is
allowed: ``authz.Requirement``) is compiled here too, into the route's ``Policy.rule``, and
counted under the route's label (its ``name``, else host + prefix).

A path equal to a slash-terminated prefix without its slash (``/demo`` for ``/demo/``) is not a
match; ``slash_redirect`` names the prefix so the proxy can answer 308 like nginx does (301 there).

The gateway's own paths (``config.RESERVED_PREFIXES`` and the metrics path) are never proxied:
``is_reserved`` tells the proxy's catch-all to leave them alone. ``paths`` says which path
forms are refused whatever route matches (``access.paths``); the proxy and forward auth share it
with the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from gateway.authz import AuthzMetrics, Requirement
from gateway.config import RESERVED_PREFIXES, RouteConfig, route_has_policy
from gateway.errors import NotFound
from gateway.metrics import Metrics
from gateway.server.access.paths import PathRules
from gateway.server.access.policy import Policy

__all__ = [
    "Route",
    "RouteTable",
    "default_route",
    "normalize_host",
    "raise_for_reserved",
]


def normalize_host(value: str) -> str:
    """A ``Host`` value as routes name hosts: lower-case, without the port."""
    value = value.strip().lower()
    if value.startswith("["):  # an IPv6 literal: "[::1]:8080"
        return value.partition("]")[0] + "]"
    return value.partition(":")[0]


@dataclass(frozen=True, slots=True)
class Route:
    """One compiled route: the config plus everything the hot path would otherwise recompute."""

    prefix: str
    policy: Policy
    host: str  # "" = any host
    label: str  # the route in metrics: its name, else host + prefix
    upstream: str  # origin + base path, no trailing slash: "http://10.0.0.5:8000/api"
    upstream_host: str  # the upstream's Host header value
    strip_prefix: bool
    websocket: bool
    preserve_host: bool
    pass_token: bool
    timeout: aiohttp.ClientTimeout

    @classmethod
    def compile(
        cls,
        rc: RouteConfig,
        connect_timeout: float,
        *,
        decisions: Any = None,
        appids: Mapping[str, str] | None = None,
    ) -> Route:
        """``decisions``: the ``wxgate_authz_decisions_total`` family; ``appids``: app name to
        appid (a route's ``allowed_apps`` name apps, the token carries the appid)."""
        label = rc.name or f"{rc.host}{rc.prefix}"
        url = URL(rc.upstream)
        if not url.absolute:  # "echo" before Config.resolved(), or forward auth's default
            url = URL("http://invalid")
        origin = url.origin()
        base = url.path.rstrip("/")
        rule = _requirement(rc, label, decisions, appids or {})
        return cls(
            prefix=rc.prefix,
            policy=Policy(rc.auth, rc.audience or None, frozenset(rc.scopes), rule=rule),
            host=rc.host.lower(),
            label=label,
            upstream=f"{origin}{base}",
            upstream_host=origin.raw_authority,
            strip_prefix=rc.strip_prefix,
            websocket=rc.websocket,
            preserve_host=rc.preserve_host,
            pass_token=rc.pass_token,
            # connect: pool wait + connection; sock_read: silence while awaiting headers or body
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=rc.timeout + connect_timeout,
                sock_connect=connect_timeout,
                sock_read=rc.timeout,
            ),
        )

    def upstream_url(self, raw_path: str, path: str, query: str) -> str:
        """The upstream URL for a request: its ``raw_path`` (as received, still encoded),
        the decoded ``path`` it was matched on, and its raw ``query``."""
        if self.strip_prefix:
            if raw_path.startswith(self.prefix):
                raw_path = raw_path[len(self.prefix) :]
            else:  # the prefix was percent-encoded in the request: re-encode the decoded tail
                raw_path = URL.build(path="/" + path[len(self.prefix) :]).raw_path
            if not raw_path.startswith("/"):
                raw_path = "/" + raw_path
        url = self.upstream + raw_path
        return f"{url}?{query}" if query else url


def _requirement(
    rc: RouteConfig, label: str, decisions: Any, appids: Mapping[str, str]
) -> Requirement | None:
    if not route_has_policy(rc):
        return None
    return Requirement(
        label,
        decisions if decisions is not None else Metrics().of(AuthzMetrics).decisions,
        any_roles=rc.allowed_roles,
        all_roles=rc.required_roles,
        subjects=rc.allowed_subjects,
        unionids=rc.allowed_unionids,
        # an app missing from the config (check-config refuses it) matches nobody: fail closed
        appids=(appids.get(name, f"!no app {name}") for name in rc.allowed_apps),
        claims=rc.required_claims,
    )


def default_route() -> Route:
    """The policy applied by forward auth when no route matches: authentication required."""
    return Route.compile(RouteConfig(prefix="/", upstream="", auth="required"), 5.0)


def _by_length(routes: tuple[Route, ...]) -> tuple[tuple[int, dict[str, Route]], ...]:
    groups: dict[int, dict[str, Route]] = {}
    for route in routes:
        groups.setdefault(len(route.prefix), {})[route.prefix] = route
    return tuple(sorted(groups.items(), key=lambda item: -item[0]))


def _longest(
    by_length: tuple[tuple[int, dict[str, Route]], ...], path: str, size: int
) -> Route | None:
    for length, prefixes in by_length:
        if length <= size:
            route = prefixes.get(path[:length])
            if route is not None:
                return route
    return None


class RouteTable:
    """Longest-prefix lookup over the configured routes (a host's own routes first)."""

    __slots__ = ("_by_length", "_reserved", "_slashless", "by_host", "decisions", "paths",
                 "routes")  # fmt: skip

    def __init__(
        self,
        routes: tuple[RouteConfig, ...],
        *,
        connect_timeout: float = 5.0,
        extra_reserved: tuple[str, ...] = (),
        paths: PathRules | None = None,
        decisions: Any = None,
        appids: Mapping[str, str] | None = None,
    ) -> None:
        """``decisions``/``appids``: see ``Route.compile``."""
        if decisions is None:
            decisions = Metrics().of(AuthzMetrics).decisions
        self.decisions = decisions  # forward auth counts its verify-URL requirements here
        self.routes = tuple(
            Route.compile(rc, connect_timeout, decisions=decisions, appids=appids) for rc in routes
        )
        self.paths = paths or PathRules()  # the path forms refused, whichever route matches
        self._by_length = _by_length(tuple(r for r in self.routes if not r.host))
        hosts = {r.host for r in self.routes if r.host}
        # empty when no route names a host: callers then skip reading the host at all
        self.by_host = {
            host: _by_length(tuple(r for r in self.routes if r.host == host)) for host in hosts
        }
        self._slashless = {
            r.prefix[:-1]: r.prefix
            for r in self.routes
            if r.prefix.endswith("/") and r.prefix != "/"
        }
        self._reserved = tuple(dict.fromkeys((*RESERVED_PREFIXES, *extra_reserved)))

    def match(self, path: str, host: str | None = None) -> Route | None:
        """The route with the longest prefix of ``path`` among ``host``'s own routes (a
        ``normalize_host`` value), else among the routes for any host; or None."""
        size = len(path)
        if host and self.by_host:
            own = self.by_host.get(host)
            if own is not None:
                route = _longest(own, path, size)
                if route is not None:
                    return route
        for length, prefixes in self._by_length:
            if length <= size:
                route = prefixes.get(path[:length])
                if route is not None:
                    return route
        return None

    def slash_redirect(self, path: str) -> str | None:
        """The prefix ``path + "/"`` when ``path`` lacks only its final slash, else None."""
        return self._slashless.get(path)

    def is_reserved(self, path: str) -> bool:
        """True for the gateway's own paths, which are never proxied."""
        return path.startswith(self._reserved)


async def raise_for_reserved(request: web.Request, catch_all: str) -> None:
    """For a gateway path that reached the catch-all: 405 with ``Allow`` when a gateway route
    exists for another method (what aiohttp would have answered without the catch-all), else
    404. Never returns."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.canonical == catch_all:
            continue
        _, methods = await resource.resolve(request)
        allowed |= methods
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise NotFound()

"""The compiled proxy route table: which configured route answers a request path.

Matching is a plain string prefix test (nginx ``location /prefix`` semantics) and the longest
prefix wins, whatever the order in the config. The table is compiled once: prefixes are grouped
by length, so a lookup is one slice and one dict probe per distinct prefix length (a handful),
longest first.

A path equal to a slash-terminated prefix without its slash (``/demo`` for ``/demo/``) is not a
match; ``slash_redirect`` names the prefix so the proxy can answer 308 like nginx does (301 there).

The gateway's own paths (``config.RESERVED_PREFIXES`` and the metrics path) are never proxied:
``is_reserved`` tells the proxy's catch-all to leave them alone. ``paths`` says which path
forms are refused whatever route matches (``access.paths``); the proxy and forward auth share it
with the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web
from yarl import URL

from gateway.config import RESERVED_PREFIXES, RouteConfig
from gateway.errors import NotFound
from gateway.server.access.paths import PathRules
from gateway.server.access.policy import Policy

__all__ = [
    "Route",
    "RouteTable",
    "default_route",
    "raise_for_reserved",
]


@dataclass(frozen=True, slots=True)
class Route:
    """One compiled route: the config plus everything the hot path would otherwise recompute."""

    prefix: str
    policy: Policy
    upstream: str  # origin + base path, no trailing slash: "http://10.0.0.5:8000/api"
    upstream_host: str  # the upstream's Host header value
    strip_prefix: bool
    websocket: bool
    preserve_host: bool
    pass_token: bool
    timeout: aiohttp.ClientTimeout

    @classmethod
    def compile(cls, rc: RouteConfig, connect_timeout: float) -> Route:
        url = URL(rc.upstream)
        if not url.absolute:  # "echo" before Config.resolved(), or forward auth's default
            url = URL("http://invalid")
        origin = url.origin()
        base = url.path.rstrip("/")
        return cls(
            prefix=rc.prefix,
            policy=Policy(rc.auth, rc.audience or None, frozenset(rc.scopes)),
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


def default_route() -> Route:
    """The policy applied by forward auth when no route matches: authentication required."""
    return Route.compile(RouteConfig(prefix="/", upstream="", auth="required"), 5.0)


class RouteTable:
    """Longest-prefix lookup over the configured routes."""

    __slots__ = ("_by_length", "_reserved", "_slashless", "paths", "routes")

    def __init__(
        self,
        routes: tuple[RouteConfig, ...],
        *,
        connect_timeout: float = 5.0,
        extra_reserved: tuple[str, ...] = (),
        paths: PathRules | None = None,
    ) -> None:
        self.routes = tuple(Route.compile(rc, connect_timeout) for rc in routes)
        self.paths = paths or PathRules()  # the path forms refused, whichever route matches
        groups: dict[int, dict[str, Route]] = {}
        for route in self.routes:
            groups.setdefault(len(route.prefix), {})[route.prefix] = route
        self._by_length = tuple(sorted(groups.items(), key=lambda item: -item[0]))
        self._slashless = {
            r.prefix[:-1]: r.prefix
            for r in self.routes
            if r.prefix.endswith("/") and r.prefix != "/"
        }
        self._reserved = tuple(dict.fromkeys((*RESERVED_PREFIXES, *extra_reserved)))

    def match(self, path: str) -> Route | None:
        """The route with the longest prefix of ``path``, or None."""
        size = len(path)
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

"""Forward auth: ``/auth/verify`` (any method) for nginx ``auth_request``, Traefik ForwardAuth,
ingress-nginx ``auth-url`` and Envoy ``ext_authz`` (HTTP service).

The original request is read from, in order: ``X-Original-URI`` (nginx), ``X-Forwarded-Uri``
(Traefik), ``X-Original-URL`` (ingress-nginx, a full URL), else the path after
``/auth/verify`` (Envoy's ``path_prefix: /auth/verify`` appends the original path, so
``/auth/verify/demo/x?q=1`` asks about ``/demo/x?q=1``); with none of them, the path ``/``.
``X-Forwarded-Method`` / ``X-Original-Method`` do not change the answer: routes have no
per-method policy (the same route, the same decision, whatever the method).
The path is normalised (dot segments, repeated slashes) the way the front
proxy routed it, then the matching route's policy applies — the same decision as the proxy
(``server.access``). **No matching route: authentication is required** (``routes.default_route``).
Routes with a ``host`` match the original request's host: ``X-Forwarded-Host`` (nginx
``proxy_set_header X-Forwarded-Host $host``; Traefik sets it) or the host of ``X-Original-URL``
(ingress-nginx); two statements that disagree are refused (403), as for the path.

Per-location requirements (authz) on the auth address itself, as oauth2-proxy's
``allowed_groups``: ``/auth/verify?allowed_roles=ops,admin`` (any of these roles) and
``?allowed_subjects=u_a,u_b``, added to the route's own requirement (both must hold), so nginx
can require different roles per ``location`` without a gateway config change. Not read from
Envoy's appended path (that query is the client's). A malformed list is 400 (nginx answers 500:
an operator's mistake should be loud).

Answers:
- 200, with the identity headers (names from ``[proxy]``; the JWT too when the route has
  ``pass_token``) when authenticated, without them on public routes and for anonymous requests
  on optional routes, plus ``Set-Cookie`` when the session was renewed;
- 401 JSON ``invalid_token`` with ``WWW-Authenticate`` and ``X-Wxgate-Login`` (the relative
  login URL with ``return_to`` percent-encoded, for nginx's ``error_page``), never a redirect…
- …unless redirects were asked for (``forward_auth.redirect = true`` or ``?redirect=1`` on the
  auth address, for Traefik) and the client is a browser: then 302 to
  ``<public_url>/auth/login?return_to=<original URL>``, the original URL rebuilt from
  ``X-Forwarded-Proto/Host/Uri`` when the peer is a trusted proxy (else just its path);
- 403 JSON ``insufficient_scope`` when the token lacks the route's audience or a scope;
- 403 JSON ``access_denied`` when the caller is authenticated but the route's requirement or
  the verify URL's ``allowed_roles``/``allowed_subjects`` do not allow them (authz); for a
  browser the "no access" page instead (Traefik passes the body on; nginx ignores it and shows
  its ``error_page``, the shipped config ``/auth/no-access``);
- 403 JSON ``access_denied`` when the decoded path has a form the proxy refuses (400) too,
  since the backend may read it as another path than the front proxy routed (a ``;``, a
  backslash, a percent-encoding left after decoding; each a ``[proxy]`` option,
  ``access.paths``). 403, not 400: nginx ``auth_request`` passes 401 and 403 on to the client
  and turns any other status into its own 500.

Counted in ``wxgate_forward_auth_decisions_total{result}``: allowed, unauthenticated, forbidden,
redirect, invalid. Failed decisions (a refused credential, a 403) count against the client address's
``limits.forward_auth_failures_per_address``: past it, 429 with ``Retry-After`` (nginx passes
a 429 from ``auth_request`` on as its own 500, so keep the limit well above what a busy
office behind one address fails in a window; 0 turns it off).
"""

from __future__ import annotations

import dataclasses
from urllib.parse import quote, unquote, urlsplit

from aiohttp import web
from multidict import CIMultiDict

from gateway.authz import Requirement, parse_role_list
from gateway.config import Config
from gateway.errors import AccessDenied, InsufficientScope, InvalidRequest
from gateway.server.access import (
    AccessRefused,
    AuthenticationRequired,
    Caller,
    PathRules,
    Policy,
    Route,
    RouteTable,
    default_route,
    normalize_host,
    normalize_path,
)
from gateway.server.caller import authenticate
from gateway.server.common import LOGIN_PATH, client_ip, is_browser, login_redirect
from gateway.server.keys import FORWARD_AUTH, LIMITER, ROUTE_LABEL
from gateway.server.pages import no_access_page
from gateway.server.proxy.headers import HeaderRules
from gateway.server.telemetry import ProxyMetrics

__all__ = ["ForwardAuth", "setup_routes"]

VERIFY_PATH = "/auth/verify"
# the page a front proxy shows a browser its 403 came from (deploy/nginx: error_page 403)
NO_ACCESS_PATH = "/auth/no-access"
LOGIN_HEADER = "X-Wxgate-Login"
_MAX_NARROWED = 256  # verify URLs are a handful per nginx config: the cache stays small


class ForwardAuth:
    """The ``/auth/verify`` decision for one application."""

    def __init__(
        self,
        config: Config,
        table: RouteTable,
        rules: HeaderRules,
        metrics: ProxyMetrics,
    ) -> None:
        self.rules = rules
        self.table = table
        self.default = default_route()
        self.public_url = config.public_url
        self.always_redirect = config.forward_auth.redirect
        family = metrics.forward_auth_decisions
        self._allowed = family.labels("allowed")
        self._unauthenticated = family.labels("unauthenticated")
        self._forbidden = family.labels("forbidden")
        self._redirect = family.labels("redirect")
        self._invalid = family.labels("invalid")
        # (route, allowed_roles, allowed_subjects) -> the policy with the verify URL's rule
        self._narrowed: dict[tuple[str, str, str, str], Policy] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The decision; an address with too many failed decisions in the window gets 429
        (``limits.forward_auth_failures_per_address``) until the window ends. A failure is a
        credential refused (401 with a token or cookie presented: forged, expired, revoked)
        or a 403; a 401 for no credential at all is not: every anonymous visit to a protected
        page is one, and counting those would shut out a whole office behind one address."""
        request[ROUTE_LABEL] = VERIFY_PATH
        limiter, client = request.app[LIMITER], client_ip(request)
        await limiter.check("forward_auth_failures", client)
        try:
            return await self._decide(request)
        except AuthenticationRequired as exc:
            if exc.presented:
                await limiter.note("forward_auth_failures", client)
            raise
        except (AccessDenied, InsufficientScope):
            await limiter.note("forward_auth_failures", client)
            raise

    async def _decide(self, request: web.Request) -> web.StreamResponse:
        try:
            original, path = _original_target(request, self.table.paths)
        except AccessDenied:
            self._forbidden.inc()
            raise
        except InvalidRequest as exc:
            self._invalid.inc()
            raise AccessDenied(exc.description) from exc
        try:
            host = _original_host(request) if self.table.by_host else None
        except AccessDenied:
            self._forbidden.inc()
            raise
        route = self.table.match(path, host) or self.default
        policy = self._policy(request, route)
        if policy.auth == "public":
            self._allowed.inc()
            return web.Response()
        try:
            caller = await authenticate(request, policy)
        except AuthenticationRequired as exc:
            return self._unauthenticated_response(request, original, exc)
        except InsufficientScope:
            self._forbidden.inc()
            raise
        except AccessRefused:
            self._forbidden.inc()
            if is_browser(request):  # Traefik shows this body; nginx its own error_page
                return no_access_page(request)
            raise
        self._allowed.inc()
        return self._allow(caller, route.pass_token)

    def _policy(self, request: web.Request, route: Route) -> Policy:
        """The route's policy, narrowed by the verify URL's ``allowed_roles`` and
        ``allowed_subjects`` (module doc); compiled once per distinct verify URL."""
        if request.match_info.get("tail") is not None:
            return route.policy
        query = request.query
        roles, subjects = query.get("allowed_roles", ""), query.get("allowed_subjects", "")
        if not roles and not subjects:
            return route.policy
        key = (route.host, route.prefix, roles, subjects)
        policy = self._narrowed.get(key)
        if policy is None:
            policy = self._narrow(route, roles, subjects)
            if len(self._narrowed) >= _MAX_NARROWED:
                self._narrowed.clear()
            self._narrowed[key] = policy
        return policy

    def _narrow(self, route: Route, roles: str, subjects: str) -> Policy:
        try:
            any_roles = parse_role_list(roles) if roles else frozenset()
        except ValueError as exc:
            self._invalid.inc()
            raise InvalidRequest(str(exc)) from exc
        names = frozenset(s.strip() for s in subjects.split(",") if s.strip())
        # a requirement on the verify URL needs a caller: an optional or public route's
        # policy (its audience and scopes kept) becomes a required one
        base = dataclasses.replace(route.policy, auth="required")
        decisions = self.table.decisions
        if base.rule is not None:
            rule = base.rule.narrowed(decisions, any_roles=any_roles, subjects=names)
        else:
            rule = Requirement(route.label, decisions, any_roles=any_roles, subjects=names)
        return dataclasses.replace(base, rule=rule)

    def _allow(self, caller: Caller, pass_token: bool) -> web.Response:
        if caller.claims is None:
            return web.Response()
        headers: CIMultiDict[str] = CIMultiDict()
        self.rules.add_identity(headers, caller.claims, caller.token if pass_token else None)
        return web.Response(headers=headers)

    def _unauthenticated_response(
        self, request: web.Request, original: str, exc: AuthenticationRequired
    ) -> web.StreamResponse:
        redirect = self.always_redirect or (
            request.match_info.get("tail") is None and request.query.get("redirect") == "1"
        )
        if redirect and is_browser(request):
            self._redirect.inc()
            target = self._return_to(request, original)
            response = login_redirect(target, base=self.public_url)
        else:
            self._unauthenticated.inc()
            exc.headers[LOGIN_HEADER] = f"{LOGIN_PATH}?return_to={quote(original, safe='/')}"
            raise exc
        return response

    def _return_to(self, request: web.Request, original: str) -> str:
        if not self.rules.is_trusted(request.remote):
            return original
        proto = request.headers.get("X-Forwarded-Proto")
        host = request.headers.get("X-Forwarded-Host")
        return f"{proto}://{host}{original}" if proto and host else original


def _original_host(request: web.Request) -> str | None:
    """The original request's host (``normalize_host``): ``X-Forwarded-Host`` (its first
    value) or the host of ``X-Original-URL``; AccessDenied when both are given and differ."""
    found = set()
    forwarded = request.headers.get("X-Forwarded-Host")
    if forwarded:
        found.add(normalize_host(forwarded.partition(",")[0]))
    url = request.headers.get("X-Original-URL")
    if url:
        netloc = urlsplit(url).netloc
        if netloc:
            found.add(normalize_host(netloc.rpartition("@")[2]))
    if len(found) > 1:
        raise AccessDenied("the sub-request names more than one original host")
    return found.pop() if found else None


def _candidates(request: web.Request) -> list[str]:
    """Every statement of the original request's path (and query) the sub-request carries:
    nginx's ``X-Original-URI``, Traefik's ``X-Forwarded-Uri``, ingress-nginx's
    ``X-Original-URL`` (a full URL) and Envoy's path after ``/auth/verify``."""
    headers = request.headers
    found = []
    for name in ("X-Original-URI", "X-Forwarded-Uri"):
        value = headers.get(name)
        if value:
            found.append(value if value.startswith("/") else "/" + value)
    url = headers.get("X-Original-URL")
    if url:
        parts = urlsplit(url)
        found.append((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    if request.match_info.get("tail") is not None:
        raw = request.rel_url.raw_path[len(VERIFY_PATH) :] or "/"
        query = request.rel_url.raw_query_string
        found.append(f"{raw}?{query}" if query else raw)
    return found


def route_path(target: str, rules: PathRules) -> str:
    """The path a front proxy routes ``target`` (path and query, no scheme) on; InvalidRequest
    (400) when, decoded, it has a form ``rules`` refuse (``..;``, a backslash, a second
    encoding): the front proxy routed it one way, the backend may read it another.

    Split by hand, not with ``urlsplit``: ``//admin/x`` is a path here, which ``urlsplit``
    would read as the host ``admin`` and the path ``/x``."""
    path = unquote(target.partition("?")[0]) or "/"
    rules.check_backend_forms(path)
    return normalize_path(path)


def _original_target(request: web.Request, rules: PathRules) -> tuple[str, str]:
    """The original request's target (path and query) and the path its policy is chosen by.

    Front proxies set their own header but pass the client's other headers through, so a
    client could add a header naming a public path: when the statements disagree the request
    is refused (403) rather than trusting one of them. A statement whose path has a form the
    proxy refuses is 400, as through the proxy.
    """
    found = _candidates(request)
    if not found:
        return "/", "/"
    paths = {route_path(target, rules) for target in found}
    if len(paths) > 1:
        raise AccessDenied("the sub-request names more than one original path")
    return found[0], paths.pop()


async def _handler(request: web.Request) -> web.StreamResponse:
    return await request.app[FORWARD_AUTH].handle(request)


async def _no_access(request: web.Request) -> web.StreamResponse:
    """403: the "no access" page for a browser, ``access_denied`` JSON for anyone else."""
    if is_browser(request):
        return no_access_page(request)
    raise AccessDenied("you are logged in but not allowed to access this resource")


def setup_routes(app: web.Application) -> None:
    """Register ``/auth/verify`` and ``/auth/verify/{tail}`` for every method (the
    ``ForwardAuth`` is built by the composition root, ``server.app``), and the page a front
    proxy shows for a 403 (``/auth/no-access``)."""
    app.router.add_route("*", VERIFY_PATH, _handler)
    # [\s\S], not ".": Envoy's appended path may decode to a newline (%0A), and the route
    # must still match (a 404 there would be neither allow nor deny; found by schemathesis)
    app.router.add_route("*", VERIFY_PATH + "/{tail:[\\s\\S]*}", _handler)
    app.router.add_get(NO_ACCESS_PATH, _no_access)

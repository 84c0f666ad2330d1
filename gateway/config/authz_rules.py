"""Validation of authorization: ``[authz]`` (roles claim, role rules) and the route policies
of ``[[proxy.routes]]`` (role names, app names, hosts, who may be required where)."""

from __future__ import annotations

import re

from gateway.config.tree import ROLE_NAME_PATTERN, Config, RoleRuleConfig, RouteConfig

__all__ = ["RESERVED_CLAIMS", "route_has_policy", "validate_authz"]

_ROLE = re.compile(ROLE_NAME_PATTERN)
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
_CLAIM = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")
# claims every access token already carries: the roles claim must not take one's name
RESERVED_CLAIMS = frozenset(
    {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "client_id", "amr", "scope",
     "appid", "openid", "unionid", "auth_time"}
)  # fmt: skip
MAX_ROLES_LIMIT = 256


def route_has_policy(route: RouteConfig) -> bool:
    """True when the route names who is allowed (beyond being logged in)."""
    return bool(
        route.allowed_roles or route.required_roles or route.allowed_subjects
        or route.allowed_unionids or route.allowed_apps or route.required_claims
    )  # fmt: skip


def validate_authz(config: Config) -> list[str]:
    """Problems of ``[authz]`` and of the routes' policies, as ``key.path: message``."""
    a, problems = config.authz, []
    if not _CLAIM.fullmatch(a.roles_claim) or a.roles_claim in RESERVED_CLAIMS:
        problems.append(
            f"authz.roles_claim: {a.roles_claim!r} is not a claim name of its own "
            "(a JSON name, not one of the registered claims the tokens already carry)"
        )
    if not 1 <= a.max_roles <= MAX_ROLES_LIMIT:
        problems.append(f"authz.max_roles: must be 1-{MAX_ROLES_LIMIT}")
    for i, rule in enumerate(a.role_rules):
        problems += _role_rule(rule, f"authz.role_rules[{i}]", config)
    for i, route in enumerate(config.proxy.routes):
        problems += _route(route, f"proxy.routes[{i}]", config)
    return problems


def _roles(names: tuple[str, ...], where: str) -> list[str]:
    return [
        f"{where}: {name!r} is not a role name (1-64 of a-z 0-9 _ . : -, a letter or digit first)"
        for name in names
        if not _ROLE.fullmatch(name)
    ]


def _apps(names: tuple[str, ...], where: str, config: Config) -> list[str]:
    return [
        f"{where}: {name!r} is not a configured app ([wechat.apps.{name}])"
        for name in names
        if name not in config.wechat.apps
    ]


def _role_rule(rule: RoleRuleConfig, where: str, config: Config) -> list[str]:
    problems = _roles(rule.roles, f"{where}.roles") + _roles(rule.has_roles, f"{where}.has_roles")
    problems += _apps(rule.apps, f"{where}.apps", config)
    if not rule.roles:
        problems.append(f"{where}.roles: a rule grants at least one role")
    if not (rule.unionids or rule.openids or rule.apps or rule.has_roles):
        problems.append(
            f"{where}: a rule needs at least one condition (unionids, openids, apps, has_roles)"
        )
    return problems


def _route(route: RouteConfig, where: str, config: Config) -> list[str]:
    problems = _roles(route.allowed_roles, f"{where}.allowed_roles")
    problems += _roles(route.required_roles, f"{where}.required_roles")
    problems += _apps(route.allowed_apps, f"{where}.allowed_apps", config)
    if route.host and not _HOST.fullmatch(route.host):
        problems.append(f"{where}.host: a lower-case host name without port or scheme")
    for name in route.required_claims:
        if not _CLAIM.fullmatch(name):
            problems.append(f"{where}.required_claims: {name!r} is not a claim name")
    if route_has_policy(route) and route.auth != "required":
        problems.append(
            f'{where}: a route naming who is allowed needs auth = "required" (not {route.auth!r})'
        )
    return problems

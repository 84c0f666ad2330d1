"""``check-config`` rules of authorization: every problem reported with its key path."""

from __future__ import annotations

import dataclasses

from gateway.config import (
    AuthzConfig,
    Config,
    ProxyConfig,
    RoleRuleConfig,
    RouteConfig,
    validate,
)
from tests.conftest import dev_config


def problems_of(base: Config, *, authz: AuthzConfig | None = None, routes=()) -> list[str]:  # type: ignore[no-untyped-def]
    proxy = dataclasses.replace(base.proxy, routes=tuple(routes)) if routes else base.proxy
    config = dataclasses.replace(base, authz=authz or base.authz, proxy=proxy)
    return [p for p in validate(config) if p.startswith(("authz", "proxy"))]


def route(**fields: object) -> RouteConfig:
    return RouteConfig(**{"prefix": "/x/", "upstream": "http://127.0.0.1:9", **fields})  # type: ignore[arg-type]


def test_a_valid_authorization_config_passes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = dev_config(tmp_path)
    authz = AuthzConfig(
        roles_claim="groups",
        role_rules=(RoleRuleConfig(roles=("admin",), unionids=("un_1",), apps=("web",)),),
    )
    routes = [
        route(allowed_roles=("ops", "team:a.b"), required_roles=("x-y_z",), allowed_apps=("mini",),
              required_claims={"dept": "eng"}, host="ops.example.com", name="ops"),
        route(prefix="/x/", host="other.example.com"),  # the same prefix on another host
    ]  # fmt: skip
    assert problems_of(base, authz=authz, routes=routes) == []


def test_every_problem_is_reported(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = dev_config(tmp_path)
    authz = AuthzConfig(
        roles_claim="sub",
        max_roles=0,
        role_rules=(
            RoleRuleConfig(roles=("Admin",), apps=("nope",)),
            RoleRuleConfig(roles=(), unionids=("u",)),
            RoleRuleConfig(roles=("ops",)),
        ),
    )
    routes = [
        route(allowed_roles=("bad role",), allowed_apps=("ghost",), host="Bad_Host:80",
              auth="optional"),
        route(required_claims={"": "x"}, required_roles=("-x",)),
        route(),  # the same prefix on the same (any) host
    ]  # fmt: skip
    found = problems_of(base, authz=authz, routes=routes)
    expected = [
        "authz.roles_claim:",
        "authz.max_roles:",
        "authz.role_rules[0].roles: 'Admin'",
        "authz.role_rules[0].apps: 'nope'",
        "authz.role_rules[1].roles: a rule grants at least one role",
        "authz.role_rules[2]: a rule needs at least one condition",
        "proxy.routes[0].allowed_roles: 'bad role'",
        "proxy.routes[0].allowed_apps: 'ghost'",
        "proxy.routes[0].host:",
        "proxy.routes[0]: a route naming who is allowed needs auth",
        "proxy.routes[1].required_roles: '-x'",
        "proxy.routes[1].required_claims: ''",
        "proxy.routes[2].prefix: duplicate prefix",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in found), (start, found)
    assert isinstance(base.proxy, ProxyConfig)

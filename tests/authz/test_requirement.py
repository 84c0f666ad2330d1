"""Route requirements and role rules: pure decisions on claims and identities."""

from __future__ import annotations

import types
from typing import Any

import pytest

from gateway.authz import AuthzMetrics, Requirement, RoleRules, parse_role_list
from gateway.config import RoleRuleConfig
from gateway.metrics import Metrics
from gateway.tokens import AccessClaims


def claims(sub: str = "u_a", roles: tuple[str, ...] = (), **extra: Any) -> AccessClaims:
    raw = {"sub": sub, "roles": list(roles), **extra}
    return AccessClaims(
        sub=sub, sid="s", jti="j", exp=2, iat=1, aud=("wxgate",), amr=(), scope=None,
        appid=extra.get("appid"), openid=None, unionid=extra.get("unionid"),
        raw=types.MappingProxyType(raw), role_list=roles, roles=frozenset(roles),
    )  # fmt: skip


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


def requirement(metrics: Metrics, **conditions: Any) -> Requirement:
    return Requirement("r", metrics.of(AuthzMetrics).decisions, **conditions)


def count(metrics: Metrics, result: str) -> float:
    value = metrics.registry.get_sample_value(
        "wxgate_authz_decisions_total", {"route": "r", "result": result}
    )
    return value or 0.0


def test_any_of_roles(metrics: Metrics) -> None:
    r = requirement(metrics, any_roles=["ops", "admin"])
    assert r.allows(claims(roles=("ops",)))
    assert r.allows(claims(roles=("admin", "x")))
    assert not r.allows(claims(roles=("dev",)))
    assert not r.allows(claims())


def test_all_of_roles(metrics: Metrics) -> None:
    r = requirement(metrics, all_roles=["ops", "oncall"])
    assert r.allows(claims(roles=("ops", "oncall", "x")))
    assert not r.allows(claims(roles=("ops",)))


def test_subjects_unionids_and_apps(metrics: Metrics) -> None:
    assert requirement(metrics, subjects=["u_a"]).allows(claims("u_a"))
    assert not requirement(metrics, subjects=["u_a"]).allows(claims("u_b"))
    assert requirement(metrics, unionids=["un1"]).allows(claims(unionid="un1"))
    assert not requirement(metrics, unionids=["un1"]).allows(claims())
    assert requirement(metrics, appids=["wx1"]).allows(claims(appid="wx1"))
    assert not requirement(metrics, appids=["wx1"]).allows(claims(appid="wx2"))


def test_claims_equal_or_contained(metrics: Metrics) -> None:
    r = requirement(metrics, claims={"dept": "eng", "amr": "wechat_qr"})
    assert r.allows(claims(dept="eng", amr=["wechat_qr", "x"]))
    assert not r.allows(claims(dept="eng", amr=["sms"]))
    assert not r.allows(claims(dept="sales", amr=["wechat_qr"]))
    assert not r.allows(claims(amr=["wechat_qr"]))


def test_every_condition_must_hold(metrics: Metrics) -> None:
    r = requirement(metrics, any_roles=["ops"], subjects=["u_a"], claims={"dept": "eng"})
    assert r.allows(claims("u_a", ("ops",), dept="eng"))
    assert not r.allows(claims("u_b", ("ops",), dept="eng"))
    assert not r.allows(claims("u_a", (), dept="eng"))
    assert not r.allows(claims("u_a", ("ops",)))


def test_decide_counts(metrics: Metrics) -> None:
    r = requirement(metrics, any_roles=["ops"])
    assert r.decide(claims(roles=("ops",))) and not r.decide(claims())
    assert not r.decide(claims())
    assert (count(metrics, "allowed"), count(metrics, "denied")) == (1, 2)


def test_narrowed_needs_both(metrics: Metrics) -> None:
    family = metrics.of(AuthzMetrics).decisions
    base = requirement(metrics, any_roles=["staff"])
    both = base.narrowed(family, any_roles=["ops"], subjects=["u_a"])
    assert both.decide(claims("u_a", ("staff", "ops")))
    assert not both.decide(claims("u_a", ("ops",)))  # the route's own requirement still holds
    assert not both.decide(claims("u_b", ("staff", "ops")))
    assert (count(metrics, "allowed"), count(metrics, "denied")) == (1, 2)


def test_parse_role_list() -> None:
    assert parse_role_list("ops, admin,") == {"ops", "admin"}
    for bad in ("", ",", "Ops", "ops,a b", "x" * 65):
        with pytest.raises(ValueError):
            parse_role_list(bad)


def rules(*configs: RoleRuleConfig) -> RoleRules:
    return RoleRules(configs)


def test_role_rules_match_every_condition_given() -> None:
    r = rules(
        RoleRuleConfig(roles=("admin",), unionids=("un_boss",)),
        RoleRuleConfig(roles=("mini",), apps=("mini",)),
        RoleRuleConfig(roles=("ops",), openids=("o_1",), apps=("web",)),
    )
    assert r.granted(app="web", openid="o_9", unionid="un_boss", held=frozenset()) == {"admin"}
    assert r.granted(app="mini", openid="o_9", unionid=None, held=frozenset()) == {"mini"}
    assert r.granted(app="web", openid="o_1", unionid=None, held=frozenset()) == {"ops"}
    assert r.granted(app="mini", openid="o_1", unionid=None, held=frozenset()) == {"mini"}
    assert r.granted(app="web", openid="o_2", unionid="un_x", held=frozenset()) == frozenset()


def test_role_rules_chain_on_held_roles_and_add_only_missing() -> None:
    r = rules(
        RoleRuleConfig(roles=("staff",), has_roles=("ops",)),
        RoleRuleConfig(roles=("ops",), apps=("web",)),
    )
    assert r.granted(app="web", openid="o", unionid=None, held=frozenset()) == {"ops", "staff"}
    assert r.granted(app="web", openid="o", unionid=None, held=frozenset({"ops"})) == {"staff"}
    assert r.granted(app="mp", openid="o", unionid=None, held=frozenset({"ops"})) == {"staff"}
    assert not rules()

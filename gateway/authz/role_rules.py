"""``[[authz.role_rules]]``: roles granted at login by matching the person's identity.

A rule matches when every condition it names holds — the login's unionid is one of
``unionids``, its openid one of ``openids``, its app (the ``[wechat.apps.*]`` name) one of
``apps``, the user already holds one of ``has_roles`` — and then grants ``roles``. Rules are
applied until nothing changes, so a role granted by one rule can satisfy another's
``has_roles``. This is how the first administrator is bootstrapped without a database shell:
a rule naming their unionid (or openid) grants ``admin`` at their next login.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.config import RoleRuleConfig

__all__ = ["RoleRules"]


@dataclass(frozen=True, slots=True)
class _Rule:
    roles: frozenset[str]
    unionids: frozenset[str]
    openids: frozenset[str]
    apps: frozenset[str]
    has_roles: frozenset[str]

    def matches(self, app: str, openid: str, unionid: str | None, held: frozenset[str]) -> bool:
        return (
            (not self.unionids or unionid in self.unionids)
            and (not self.openids or openid in self.openids)
            and (not self.apps or app in self.apps)
            and (not self.has_roles or not self.has_roles.isdisjoint(held))
        )


class RoleRules:
    """The compiled role rules (an empty set of rules grants nothing)."""

    __slots__ = ("_rules",)

    def __init__(self, rules: Iterable[RoleRuleConfig] = ()) -> None:
        self._rules = tuple(
            _Rule(frozenset(r.roles), frozenset(r.unionids), frozenset(r.openids),
                  frozenset(r.apps), frozenset(r.has_roles))
            for r in rules
        )  # fmt: skip

    def __bool__(self) -> bool:
        return bool(self._rules)

    def granted(
        self, *, app: str, openid: str, unionid: str | None, held: frozenset[str]
    ) -> frozenset[str]:
        """The roles the rules grant a login through ``app`` as ``openid``/``unionid`` by a
        user holding ``held``, beyond ``held`` itself (empty when there is nothing to add)."""
        roles = held
        changed = True
        while changed:  # at most one pass per rule: each productive pass adds a role
            changed = False
            for rule in self._rules:
                if not rule.roles <= roles and rule.matches(app, openid, unionid, roles):
                    roles = roles | rule.roles
                    changed = True
        return roles - held

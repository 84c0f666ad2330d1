"""A route's requirement on its callers: who is allowed, decided on verified claims.

Every condition given must hold (an empty one is no condition):

- ``any_roles``: the caller holds at least one of these roles (``allowed_roles``);
- ``all_roles``: the caller holds every one of these (``required_roles``);
- ``subjects``: the caller's ``sub`` is one of these (``allowed_subjects``);
- ``unionids``: the caller's ``unionid`` is one of these (``allowed_unionids``);
- ``appids``: the caller logged in through one of these apps (``allowed_apps``, compiled from
  app names to appids: the token carries the ``appid``);
- ``claims``: each named claim equals its value (or, for a list claim, contains it).

Compiled once (frozensets, bound metric children); ``decide`` allocates nothing and touches no
Store or database: it reads the claims the verifier already parsed (and cached).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gateway.tokens import AccessClaims
from gateway.users import is_role_name

__all__ = ["Requirement", "parse_role_list"]


class Requirement:
    """Who may pass a route (module doc); ``decide`` counts each decision under ``label``."""

    __slots__ = ("_allowed", "_denied", "all_roles", "any_roles", "appids", "claims", "label",
                 "subjects", "unionids")  # fmt: skip

    def __init__(
        self,
        label: str,
        counter: Any,
        *,
        any_roles: Iterable[str] = (),
        all_roles: Iterable[str] = (),
        subjects: Iterable[str] = (),
        unionids: Iterable[str] = (),
        appids: Iterable[str] = (),
        claims: Mapping[str, str] | None = None,
    ) -> None:
        """``counter``: the ``wxgate_authz_decisions_total`` family (``AuthzMetrics``)."""
        self.label = label
        self.any_roles = frozenset(any_roles)
        self.all_roles = frozenset(all_roles)
        self.subjects = frozenset(subjects)
        self.unionids = frozenset(unionids)
        self.appids = frozenset(appids)
        self.claims = tuple((claims or {}).items())
        self._allowed = counter.labels(label, "allowed")
        self._denied = counter.labels(label, "denied")

    def allows(self, claims: AccessClaims) -> bool:
        """True when ``claims`` meet every condition (module doc); not counted."""
        if self.any_roles and self.any_roles.isdisjoint(claims.roles):
            return False
        if self.all_roles and not self.all_roles <= claims.roles:
            return False
        if self.subjects and claims.sub not in self.subjects:
            return False
        if self.unionids and claims.unionid not in self.unionids:
            return False
        if self.appids and claims.appid not in self.appids:
            return False
        raw = claims.raw
        for name, value in self.claims:
            found = raw.get(name)
            if found != value and not (type(found) is list and value in found):
                return False
        return True

    def decide(self, claims: AccessClaims) -> bool:
        """``allows``, counted as allowed or denied."""
        if self.allows(claims):
            self._allowed.inc()
            return True
        self._denied.inc()
        return False

    def narrowed(
        self, counter: Any, *, any_roles: Iterable[str] = (), subjects: Iterable[str] = ()
    ) -> Requirement:
        """This requirement plus further conditions (forward auth's ``allowed_roles`` and
        ``allowed_subjects`` on the verify URL), counted under the same label. A second
        any-of set must hold too: both ``any_roles`` sets need a role of their own."""
        extra = Requirement(self.label, counter, any_roles=any_roles, subjects=subjects)
        return _Both(self, extra, counter)


class _Both(Requirement):
    """Two requirements that must both hold (counted once, under the first one's label)."""

    __slots__ = ("_first", "_second")

    def __init__(self, first: Requirement, second: Requirement, counter: Any) -> None:
        super().__init__(first.label, counter)
        self._first = first
        self._second = second

    def allows(self, claims: AccessClaims) -> bool:
        return self._first.allows(claims) and self._second.allows(claims)


def parse_role_list(value: str) -> frozenset[str]:
    """The role names of a comma-separated list (``allowed_roles=ops,admin``); ValueError for
    an empty list or a name that is not a role name."""
    names = frozenset(part.strip() for part in value.split(",") if part.strip())
    if not names or not all(is_role_name(name) for name in names):
        raise ValueError("allowed_roles: a comma-separated list of role names")
    return names

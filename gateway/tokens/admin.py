"""Operator functions behind the ``wxgate keys ...`` and ``wxgate token issue`` verbs.

Each works on the keys directory of a config, in its own process; running gateways pick up
the result on their next key reload (``KeyRing`` re-reads the directory every 15 s by default).
Errors are ``KeyRingError`` with a message meant for the operator.

- ``keys_generate``: the first key, active at once. Refused when a key already signs (that
  would skip the publish delay and break verifiers caching the JWKS) unless ``force`` (an
  emergency replacement; the old key keeps verifying until its tokens expire).
- ``keys_rotate``: stage a ``next`` key that becomes active ``tokens.publish_delay`` seconds
  from now; files of ``dropped`` keys are pruned. Refused while another key is staged.
- ``keys_list``: every key with its derived state.
- ``token_issue``: an access token for smoke tests (``amr`` ``["cli"]``, its own ``sid``, no
  refresh token). A ``ttl`` longer than ``tokens.access_ttl`` may outlive its key after a
  rotation (retired keys are kept for ``access_ttl + leeway``); one longer than
  ``tokens.max_lifetime`` is refused (verifiers would refuse the token).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.clock import Clock, SystemClock
from gateway.config import Config
from gateway.metrics import Metrics
from gateway.tokens.issuer import AccessTokenIssuer, new_id
from gateway.tokens.keyfiles import (
    KeyRingError,
    generate_private_key,
    remove_key_file,
    write_key_file,
)
from gateway.tokens.keys import KeyRing, KeyState

__all__ = [
    "KeyRow",
    "keys_generate",
    "keys_list",
    "keys_rotate",
    "keys_rows",
    "open_ring",
    "token_issue",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KeyRow:
    """One line of ``wxgate keys list`` (times are epoch seconds)."""

    kid: str
    alg: str
    state: KeyState
    created: float
    activates_at: float

    @property
    def created_iso(self) -> str:
        """``created`` as UTC ISO 8601 (seconds)."""
        return _iso(self.created)

    @property
    def activates_iso(self) -> str:
        """``activates_at`` as UTC ISO 8601 (seconds)."""
        return _iso(self.activates_at)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _ring(
    config: Config, clock: Clock, metrics: Metrics | None = None, reload_interval: float = 15.0
) -> KeyRing:
    ring = KeyRing(
        config.keys_dir,
        algorithm=config.tokens.algorithm,
        access_ttl=config.tokens.access_ttl,
        leeway=config.tokens.leeway,
        clock=clock,
        metrics=metrics,
        strict_permissions=not config.dev,
        reload_interval=reload_interval,
    )
    ring.load()
    return ring


def _no_key(config: Config) -> KeyRingError:
    return KeyRingError(
        f"no active signing key in {config.keys_dir}; create one with `wxgate keys generate`"
    )


def open_ring(
    config: Config, clock: Clock, metrics: Metrics | None = None, *, reload_interval: float = 15.0
) -> KeyRing:
    """The loaded ring of a starting gateway. In dev mode an empty keys directory gets a
    fresh key (logged, never the key itself); otherwise no active key is a KeyRingError."""
    ring = _ring(config, clock, metrics, reload_interval)
    if config.dev and not ring.keys:
        now = clock.time()
        alg = config.tokens.algorithm
        key = write_key_file(
            config.keys_dir, generate_private_key(alg), alg, created=now, activates_at=now
        )
        log.info("dev mode: generated %s signing key %s in %s", alg, key.kid, config.keys_dir)
        ring.load()
    if ring.active is None:
        raise _no_key(config)
    if config.tokens.jwks_max_age >= config.tokens.publish_delay:
        log.warning(
            "tokens.jwks_max_age (%ss) is not below tokens.publish_delay (%ss): verifiers may "
            "see a rotated key sign before their cached JWKS lists it",
            config.tokens.jwks_max_age,
            config.tokens.publish_delay,
        )
    return ring


def _row(ring: KeyRing, kid: str) -> KeyRow:
    return next(r for r in keys_rows(ring) if r.kid == kid)


def keys_rows(ring: KeyRing) -> list[KeyRow]:
    """Rows for every key file in ``ring``, newest activation first."""
    rows = [
        KeyRow(k.kid, k.file.alg, k.state, k.file.created, k.file.activates_at) for k in ring.keys
    ]
    return sorted(rows, key=lambda r: (-r.activates_at, r.kid))


def keys_generate(config: Config, *, force: bool = False, clock: Clock | None = None) -> KeyRow:
    """Create a key that signs at once (see the module docstring for ``force``)."""
    clock = clock or SystemClock()
    ring = _ring(config, clock)
    if ring.active is not None and not force:
        raise KeyRingError(
            f"{config.keys_dir} already has an active key ({ring.active.kid}); use "
            "`wxgate keys rotate` to replace it after the publish delay"
        )
    return _add_key(config, ring, clock.time(), 0)


def _add_key(config: Config, ring: KeyRing, now: float, delay: float) -> KeyRow:
    """Write a new key activating ``delay`` seconds from ``now``, and strictly after every
    key already activated (so states never depend on a tie-break)."""
    latest = max((k.file.activates_at for k in ring.keys if k.state != "next"), default=0.0)
    activates_at = max(now + delay, latest + 0.001)
    alg = config.tokens.algorithm
    key = write_key_file(
        config.keys_dir, generate_private_key(alg), alg, created=now, activates_at=activates_at
    )
    ring.load()
    return _row(ring, key.kid)


def keys_rotate(config: Config, *, clock: Clock | None = None) -> KeyRow:
    """Stage a ``next`` key, active after ``tokens.publish_delay``; prune dropped keys."""
    clock = clock or SystemClock()
    ring = _ring(config, clock)
    if ring.active is None:
        raise _no_key(config)
    staged = [k for k in ring.keys if k.state == "next"]
    if staged:
        raise KeyRingError(
            f"key {staged[0].kid} is already staged and not active yet; rotate again later"
        )
    for dropped in (k for k in ring.keys if k.state == "dropped"):
        remove_key_file(dropped.file)
    return _add_key(config, ring, clock.time(), config.tokens.publish_delay)


def keys_list(config: Config, *, clock: Clock | None = None) -> list[KeyRow]:
    """Every key in the keys directory with its state now."""
    return keys_rows(_ring(config, clock or SystemClock()))


def token_issue(
    config: Config,
    sub: str,
    ttl: int | None = None,
    *,
    clock: Clock | None = None,
    roles: Sequence[str] = (),
) -> str:
    """An access token for ``sub`` signed with the active key (``ttl`` defaults to
    ``tokens.access_ttl``, at most ``tokens.max_lifetime``: ValueError beyond), carrying
    ``roles`` (in ``authz.roles_claim``). Refused (KeyRingError) when no key is active."""
    if not sub:
        raise ValueError("sub must not be empty")
    if ttl is not None and ttl <= 0:
        raise ValueError("ttl must be positive")
    if ttl is not None and ttl > config.tokens.max_lifetime:
        raise ValueError("ttl must not exceed tokens.max_lifetime")
    clock = clock or SystemClock()
    ring = _ring(config, clock)
    if ring.active is None:
        raise _no_key(config)
    issuer = AccessTokenIssuer(
        ring,
        issuer=config.issuer,
        audience=config.tokens.audience,
        access_ttl=config.tokens.access_ttl,
        scope=config.tokens.scope,
        clock=clock,
        roles_claim=config.authz.roles_claim,
        max_roles=config.authz.max_roles,
    )
    return issuer.issue(sub, sid=new_id(), amr=["cli"], ttl=ttl, roles=roles).token

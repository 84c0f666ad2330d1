"""The key ring: which keys sign, which verify, and the JWKS that publishes them.

States are derived from the keys' activation times and the clock (``derive_states``), never
stored, so replicas reading the same directory agree:

- ``next``: activation time in the future; published in the JWKS so verifiers' caches learn it
  before it signs (``tokens.publish_delay`` ahead), and accepted for verification.
- ``active``: the newest key whose activation time has passed; it signs.
- ``retired``: an older activated key; it verifies until the newest token it could have signed
  has expired: ``stopped signing + access_ttl + leeway``.
- ``dropped``: past that point; neither published nor accepted (the files may be pruned).

The ring re-reads the directory every ``reload_interval`` seconds (so a ``wxgate keys rotate``
run by another process is picked up) and re-derives states whenever the clock passes the next
transition; when a key stops being published, the ``on_drop`` listeners run (the verifier
clears its cache).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gateway.clock import Clock
from gateway.metrics import Metrics
from gateway.tokens.jws import Algorithm
from gateway.tokens.keyfiles import KeyFile, KeyRingError, load_key_files
from gateway.tokens.metrics import TokenMetrics

__all__ = ["KeyRing", "KeyState", "RingKey", "derive_states"]

log = logging.getLogger(__name__)

_Cache = dict[Path, tuple[tuple[int, int, int], KeyFile]]
KeyState = Literal["next", "active", "retired", "dropped"]
_PUBLISHED: tuple[KeyState, ...] = ("active", "next", "retired")


@dataclass(frozen=True, slots=True)
class RingKey:
    """A key with its state at the time states were derived."""

    file: KeyFile
    state: KeyState
    drop_at: float | None  # when a retired key stops verifying

    @property
    def kid(self) -> str:
        return self.file.kid


def derive_states(
    keys: Sequence[KeyFile], now: float, *, access_ttl: float, leeway: float
) -> tuple[list[RingKey], float]:
    """States of ``keys`` at ``now``, and the next time any state changes (``inf`` if none).

    Pure: the whole rotation policy lives here.
    """
    ordered = sorted(keys, key=lambda k: (k.activates_at, k.created, k.kid))
    activated = [k for k in ordered if k.activates_at <= now]
    changes = [k.activates_at for k in ordered if k.activates_at > now]
    ring = [RingKey(k, "next", None) for k in ordered if k.activates_at > now]
    for i, key in enumerate(activated):
        if i == len(activated) - 1:
            ring.append(RingKey(key, "active", None))
            continue
        drop_at = activated[i + 1].activates_at + access_ttl + leeway
        if now < drop_at:
            changes.append(drop_at)
        ring.append(RingKey(key, "retired" if now < drop_at else "dropped", drop_at))
    return ring, min(changes, default=math.inf)


class KeyRing:
    """The signing and verification keys of one process, derived from one keys directory."""

    def __init__(
        self,
        keys_dir: Path,
        *,
        algorithm: Algorithm,
        access_ttl: float,
        leeway: float,
        clock: Clock,
        metrics: Metrics | None = None,
        strict_permissions: bool = True,
        reload_interval: float = 15.0,
    ) -> None:
        self.keys_dir = keys_dir
        self.algorithm: Algorithm = algorithm
        self._access_ttl = access_ttl
        self._leeway = leeway
        self._clock = clock
        self._metrics = metrics.of(TokenMetrics) if metrics else None
        self._strict = strict_permissions
        self._reload_interval = reload_interval
        self._cache: _Cache = {}
        self._files: list[KeyFile] = []
        self._listeners: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self.keys: list[RingKey] = []
        self.active: KeyFile | None = None
        #: kid -> key, for every published key (the verifier's lookup table)
        self.by_kid: dict[str, KeyFile] = {}
        #: encoded header segment our issuer writes -> key (the verifier's fast path)
        self.by_header: dict[str, KeyFile] = {}
        #: the clock time at which states must be derived again
        self.next_change = -math.inf
        self._jwks: tuple[bytes, str] = (b'{"keys":[]}', '"empty"')

    # -- loading ------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the directory now and derive states; KeyRingError on a bad key file."""
        cache = dict(self._cache)
        files = load_key_files(
            self.keys_dir, self.algorithm, strict_permissions=self._strict, cache=cache
        )
        self._apply(files, cache)

    async def reload(self) -> None:
        """``load`` with the disk work in a thread; a bad file keeps the previous ring."""
        cache = dict(self._cache)
        try:
            files = await asyncio.to_thread(
                load_key_files,
                self.keys_dir,
                self.algorithm,
                strict_permissions=self._strict,
                cache=cache,
            )
        except KeyRingError as exc:
            log.error("key reload failed, keeping the current keys: %s", exc)
            self._count_reload_error()
            return
        if self.active is not None and not _signs(files, self._clock.time()):
            # The files are gone (a Secret unmounted, a volume emptied, a stray rm): a ring with
            # nothing to sign with would fail every login, and verifying nothing would log
            # everyone out. Keep serving with the keys in memory until the files are back.
            log.error(
                "key reload found no usable signing key in %s (files removed?); keeping the %d "
                "keys loaded in memory; restore the key files (a restart would fail now)",
                self.keys_dir, len(self._files),
            )  # fmt: skip
            self._count_reload_error()
            return
        self._apply(files, cache)

    def _count_reload_error(self) -> None:
        if self._metrics is not None:
            self._metrics.key_reload_errors.inc()

    def _apply(self, files: list[KeyFile], cache: _Cache) -> None:
        self._cache = {k.path: cache[k.path] for k in files if k.path in cache}
        self._files = files
        self.update(self._clock.time(), force=True)

    def start(self) -> None:
        """Start the periodic reload task (call from a running event loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._reload_loop(), name="keyring-reload")

    async def close(self) -> None:
        """Stop the reload task."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _reload_loop(self) -> None:
        while True:
            await asyncio.sleep(self._reload_interval)
            await self.reload()

    # -- states -------------------------------------------------------------------------------

    def on_drop(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever a key stops being published (dropped or removed)."""
        self._listeners.append(listener)

    def update(self, now: float, *, force: bool = False) -> None:
        """Derive states again if ``now`` passed the next transition (or when forced)."""
        if not force and now < self.next_change:
            return
        before = set(self.by_kid)
        self.keys, self.next_change = derive_states(
            self._files, now, access_ttl=self._access_ttl, leeway=self._leeway
        )
        published = [k.file for k in self.keys if k.state in _PUBLISHED]
        self.active = next((k.file for k in self.keys if k.state == "active"), None)
        self.by_kid = {k.kid: k for k in published}
        self.by_header = {k.header: k for k in published}
        self._jwks = _jwks_document([k for k in self.keys if k.state in _PUBLISHED])
        self._count()
        if before - set(self.by_kid):
            for listener in self._listeners:
                listener()

    def _count(self) -> None:
        if self._metrics is None:
            return
        for state in _PUBLISHED:
            n = sum(1 for k in self.keys if k.state == state)
            self._metrics.signing_keys.labels(state=state).set(n)

    def signing_key(self) -> KeyFile:
        """The active key at the clock's current time; KeyRingError when there is none."""
        self.update(self._clock.time())
        if self.active is None:
            raise KeyRingError(
                f"no active signing key in {self.keys_dir}; run `wxgate keys generate`"
            )
        return self.active

    def jwks(self) -> tuple[bytes, str]:
        """The JWKS document (RFC 7517 §5) of every published key, and its strong ETag."""
        self.update(self._clock.time())
        return self._jwks


def _signs(files: Sequence[KeyFile], now: float) -> bool:
    """Whether any of ``files`` would be the active signing key at ``now``."""
    return any(k.activates_at <= now for k in files)


def _jwks_document(keys: list[RingKey]) -> tuple[bytes, str]:
    order = {"active": 0, "next": 1, "retired": 2}
    ordered = sorted(keys, key=lambda k: (order.get(k.state, 3), k.kid))
    body = json.dumps({"keys": [k.file.jwk for k in ordered]}, separators=(",", ":")).encode()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'

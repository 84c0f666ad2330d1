"""``AuditLog``: the one writer of the audit trail.

Every event becomes one row of the user directory's append-only ``audit_log`` table and one
JSON line on the ``wxgate.audit`` logger (field ``audit``: the entry), for shipping to a SIEM;
``wxgate_audit_events_total{kind}`` counts them. The client address and User-Agent come from
the request being served (``gateway.logs.current_client``; empty in the CLI).

Entries carry identifiers only (subjects, session ids, role names, flows, routes): callers never
pass a token, a code or a secret, and ``details`` values are bounded in length.

Policy denials (``denied``) are recorded at most once per subject and route per
``audit.denial_interval`` seconds, per process, so a client looping on a forbidden route cannot
flood the table. Failed logins (``login_failed``: kind ``login``, empty subject, ``result`` the
refusal's machine code) and refusals on the OpenID Provider's consent page
(``consent_denied``) are rate-limited the same way, per client address, flow and result, so
a flood of bad callbacks cannot flood it either. A sweeper deletes entries older than
``audit.retention_days`` every ``audit.sweep_interval`` seconds (``start``/``close``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from gateway.admin.metrics import AdminMetrics
from gateway.clock import Clock
from gateway.config import AuditConfig
from gateway.errors import GatewayError
from gateway.logs import current_client
from gateway.metrics import Metrics
from gateway.users import AuditEntry, UserDirectory, new_entry_id

__all__ = ["AUDIT_LOGGER", "AuditLog"]

AUDIT_LOGGER = "wxgate.audit"
_DAY = 86400.0
_MAX_DENIAL_KEYS = 10_000
_MAX_TEXT = 256

log = logging.getLogger(__name__)
audit_log = logging.getLogger(AUDIT_LOGGER)


class AuditLog:
    """Writes audit entries (table + logger + metric); sweeps old ones."""

    def __init__(
        self, users: UserDirectory, clock: Clock, metrics: Metrics, config: AuditConfig
    ) -> None:
        self._users = users
        self._clock = clock
        self._metrics = metrics.of(AdminMetrics)
        self._config = config
        self._denials: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self._sweeper: asyncio.Task[None] | None = None

    async def record(
        self,
        kind: str,
        action: str,
        *,
        actor: str = "",
        subject: str = "",
        result: str = "ok",
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one entry (StoreUnavailable/TemporarilyUnavailable if the directory fails)."""
        at = self._clock.time()
        client_ip, user_agent = current_client()
        entry = AuditEntry(
            id=new_entry_id(at), at=at, kind=kind, action=action, actor=actor,
            subject=subject, result=result, client_ip=client_ip, user_agent=user_agent,
            details={k: _bounded(v) for k, v in (details or {}).items()},
        )  # fmt: skip
        await self._users.append_audit(entry)
        self._metrics.audit_events.labels(kind=kind).inc()
        audit_log.info("%s %s", kind, action, extra={"audit": entry.as_json()})
        return entry

    async def token_event(self, kind: str, sub: str, details: Mapping[str, str]) -> None:
        """A ``TokenService.on_event`` listener: logins, logouts, revocations, reuse."""
        info = dict(details)
        result = info.pop("result", "ok")
        action = info.get("flow", kind) if kind == "login" else kind
        await self.record(kind, action, subject=sub, result=result, details=info)

    async def denied(self, subject: str, route: str, reason: str = "") -> bool:
        """Record a policy denial of ``subject`` on ``route`` unless one was recorded less
        than ``audit.denial_interval`` seconds ago (per process); whether it was recorded.
        Never raises: a denial is answered whether or not the trail could be written."""
        if self._throttled(("denial", subject, route)):
            return False
        details = {"route": route, "reason": reason}
        return await self._record_quietly(
            "policy denial", "policy_denial", "access_denied", subject=subject,
            result="denied", details=details,
        )  # fmt: skip

    async def login_failed(self, flow: str, appid: str, result: str) -> bool:
        """Record a failed login (a ``SessionIssuer.on_failure`` listener) unless one with
        the same client address, flow and result was recorded less than
        ``audit.denial_interval`` seconds ago (per process); whether it was recorded. The
        subject is empty: no user is known. Never raises."""
        client_ip, _ = current_client()
        if self._throttled(("login", client_ip, f"{flow} {result}")):
            return False
        return await self._record_quietly(
            "failed login", "login", flow, result=result, details={"flow": flow, "app": appid}
        )

    async def consent_denied(self, subject: str, client_id: str) -> bool:
        """Record that ``subject`` refused OpenID Provider client ``client_id`` on the consent
        page (kind ``login``, action ``oidc_consent``, result ``access_denied``), rate-limited
        like a failed login (per client address, subject and client). Never raises."""
        client_ip, _ = current_client()
        if self._throttled(("consent", client_ip, f"{subject} {client_id}")):
            return False
        return await self._record_quietly(
            "consent denial", "login", "oidc_consent", subject=subject,
            result="access_denied", details={"client_id": client_id},
        )  # fmt: skip

    def _throttled(self, key: tuple[str, str, str]) -> bool:
        """Whether ``key`` was let through less than ``audit.denial_interval`` seconds ago;
        if not, it is let through now (a bounded, oldest-first forgotten memory)."""
        now = self._clock.monotonic()
        last = self._denials.get(key)
        if last is not None and now - last < self._config.denial_interval:
            return True
        self._denials[key] = now
        self._denials.move_to_end(key)
        while len(self._denials) > _MAX_DENIAL_KEYS:
            self._denials.popitem(last=False)
        return False

    async def _record_quietly(self, what: str, kind: str, action: str, **fields: Any) -> bool:
        try:
            await self.record(kind, action, **fields)
        except GatewayError as exc:
            log.warning("audit: a %s could not be recorded (%s)", what, exc.error)
            return False
        return True

    async def sweep(self) -> int:
        """Delete entries older than the retention now; how many."""
        cutoff = self._clock.time() - self._config.retention_days * _DAY
        return await self._users.purge_audit(cutoff)

    def start(self) -> None:
        """Run the retention sweep now and every ``audit.sweep_interval`` seconds."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop())

    async def close(self) -> None:
        task, self._sweeper = self._sweeper, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _sweep_loop(self) -> None:
        while True:
            try:
                removed = await self.sweep()
                if removed:
                    log.info("audit: %d entries past retention deleted", removed)
            except GatewayError as exc:
                log.warning("audit retention sweep failed (%s); retrying later", exc.error)
            await asyncio.sleep(self._config.sweep_interval)


def _bounded(value: Any) -> Any:
    if isinstance(value, str):
        return value[:_MAX_TEXT]
    if isinstance(value, Mapping):
        return {str(k)[:64]: _bounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, frozenset, set)):
        return [_bounded(v) for v in sorted(value, key=str)][:64]
    return value

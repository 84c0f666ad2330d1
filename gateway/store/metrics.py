"""The store's metric family, created on the process's registry through
``Metrics.of(StoreMetrics)``; ``count_error`` is the ``on_error`` hook ``create_store`` takes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

__all__ = ["StoreMetrics"]


class StoreMetrics:
    """Families of ``gateway.store``; ask ``metrics.of(StoreMetrics)``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.errors = Counter(
            "wxgate_store_errors_total",
            "Store operations that failed (backend unreachable or timed out).",
            ["op"],
            registry=registry,
        )

    def count_error(self, op: str) -> None:
        """Count one failed store operation ``op`` (a bounded name: get, set, transition...)."""
        self.errors.labels(op).inc()

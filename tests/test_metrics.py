"""``Metrics``: one registry, HTTP families, and each package's family set created once."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from gateway.metrics import Metrics
from gateway.server.telemetry import FAMILY_SETS, create_families


class Things:
    created = 0

    def __init__(self, registry: CollectorRegistry) -> None:
        Things.created += 1
        self.things = Counter("wxgate_test_things_total", "Things.", registry=registry)


def test_a_family_set_is_created_once_per_metrics() -> None:
    Things.created = 0
    metrics = Metrics()
    first = metrics.of(Things)
    assert metrics.of(Things) is first and Things.created == 1  # no double registration
    first.things.inc()
    assert metrics.registry.get_sample_value("wxgate_test_things_total") == 1
    other = Metrics()
    assert other.of(Things) is not first and Things.created == 2  # its own registry


def test_create_families_is_idempotent_and_shares_the_services_sets() -> None:
    metrics = Metrics()
    sets = create_families(metrics)
    assert create_families(metrics) == sets
    assert [type(s) for s in sets] == list(FAMILY_SETS)
    assert all(metrics.of(type(s)) is s for s in sets)

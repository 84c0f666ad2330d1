"""Short-lived shared state: the small protocol every flow needs, with one factory.

Backends: ``memory://`` (one process; injected clock) and Redis (``redis.asyncio``): one node
``redis://``/``rediss://``, a Cluster ``redis+cluster://`` or a Sentinel-managed primary
``redis+sentinel://`` (atomic operations are Lua scripts; every key carries a hash tag so each
script touches one Cluster slot). All pass the same contract suite (tests/store).

Values are strings; records are flat ``dict[str, str]`` (a Redis hash). TTLs are seconds
(floats allowed; backends round up to milliseconds). Keys are given without the configured
prefix; the backend adds it.
"""

from gateway.store.contract import MessagesLost, Store, Subscription, Transition
from gateway.store.factory import create_store
from gateway.store.metrics import StoreMetrics

__all__ = [
    # services
    "Store",
    "Subscription",
    "create_store",
    # values
    "Transition",
    # errors
    "MessagesLost",
    # metric families
    "StoreMetrics",
]

"""Fixtures for the token tests: configs, clocks, stores (memory and a real redis-server),
token services, and the whole gateway app served on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.clock import ManualClock
from gateway.config import (
    Config,
    IntrospectionClient,
    ServerConfig,
    StoreConfig,
    TokensConfig,
)
from gateway.metrics import Metrics
from gateway.server.app import create_app
from gateway.server.keys import CONFIG, TOKENS
from gateway.store import Store
from gateway.store.memory import MemoryStore
from gateway.tokens.service import TokenService
from tests.fixtures.redis_server import RedisServer, unique_prefix

MAX_FIELD_SIZE = 32 * 1024
INTROSPECTOR = IntrospectionClient(client_id="rs-billing", client_secret="s3cr3t:with/odd+chars")


def make_config(tmp_path: Path, *, port: int = 8080, dev: bool = True, **tokens: Any) -> Config:
    """A config with keys under ``tmp_path`` and an issuer on 127.0.0.1:``port``."""
    base: dict[str, Any] = {
        "keys_dir": str(tmp_path / "keys"),
        "introspection_clients": (INTROSPECTOR,),
        "publish_delay": 60,
        "jwks_max_age": 30,
    }
    base.update(tokens)
    return Config(
        server=ServerConfig(host="127.0.0.1", port=port, data_dir=str(tmp_path / "var")),
        tokens=TokensConfig(**base),
        dev=dev,
    )


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock starting now (so independent libraries agree the tokens are fresh)."""
    return ManualClock(start=float(int(time.time())))


@dataclasses.dataclass
class Backend:
    name: str
    make_store: Callable[[], Store]
    redis_url: str | None = None
    prefix: str = ""


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, clock: ManualClock) -> Backend:
    """Store factory: one shared MemoryStore, or a new RedisStore per call on one server
    and one key prefix (several replicas sharing one Redis)."""
    if request.param == "memory":
        shared = MemoryStore(clock)
        return Backend("memory", lambda: shared)
    from gateway.store.redis import RedisStore

    server: RedisServer = request.getfixturevalue("redis_server")
    prefix = unique_prefix("tokens")
    config = StoreConfig(url=server.url, prefix=prefix)
    return Backend("redis", lambda: RedisStore(config, clock), server.url, prefix)


OpenService = Callable[..., Awaitable[TokenService]]


@pytest.fixture
async def open_service(clock: ManualClock) -> AsyncIterator[OpenService]:
    """``await open_service(config, store)``: a TokenService closed (with its store) after."""
    opened: list[tuple[TokenService, Store]] = []

    async def factory(
        config: Config, store: Store, metrics: Metrics | None = None, **kwargs: Any
    ) -> TokenService:
        service = await TokenService.open(config, store, metrics or Metrics(), clock, **kwargs)
        opened.append((service, store))
        return service

    yield factory
    for service, store in opened:
        await service.close()
        await store.close()


@dataclasses.dataclass
class Gateway:
    config: Config
    service: TokenService
    client: TestClient
    metrics: Metrics

    @property
    def base(self) -> str:
        return str(self.client.make_url("")).rstrip("/")


MakeGateway = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def make_gateway(
    tmp_path: Path,
    clock: ManualClock,
    aiohttp_client: Any,
    unused_tcp_port_factory: Callable[[], int],
) -> MakeGateway:
    """``await make_gateway(**tokens)``: the whole gateway (``create_app``, dev mode, memory
    store, SQLite users) served on 127.0.0.1, its issuer being its own URL."""

    async def factory(**tokens: Any) -> Gateway:
        port = unused_tcp_port_factory()
        config = make_config(tmp_path, port=port, **tokens)
        metrics = Metrics()
        app = create_app(config, clock=clock, metrics=metrics)
        # Header fields up to 32 KB reach the handler (aiohttp's default is 8190 bytes), so an
        # oversized token is refused by the verifier's own cap with a 401.
        server = TestServer(app, port=port)
        await server.start_server(max_field_size=MAX_FIELD_SIZE)
        client = await aiohttp_client(server)
        return Gateway(app[CONFIG], app[TOKENS], client, metrics)

    return factory


@pytest.fixture
async def gateway(make_gateway: MakeGateway) -> Gateway:
    return await make_gateway()

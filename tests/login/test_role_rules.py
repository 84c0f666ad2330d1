"""``[[authz.role_rules]]`` at login: a real mini-program login through the simulator."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest
from aiohttp.test_utils import TestServer

from gateway.config import AuthzConfig, RoleRuleConfig
from gateway.server.app import create_app
from gateway.server.keys import USERS
from tests.conftest import dev_config
from tests.fixtures.net import free_port
from tests.login.conftest import Gateway
from tests.login.test_flows import mini_login

RULES = (
    RoleRuleConfig(roles=("member",), apps=("mini",)),  # everyone logging in through "mini"
    RoleRuleConfig(roles=("staff",), has_roles=("member",), openids=("nobody",)),  # no match
    RoleRuleConfig(roles=("lead",), has_roles=("member",), apps=("mini",)),  # chained
    RoleRuleConfig(roles=("web-only",), apps=("web",)),
)


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    port = free_port()
    config = dev_config(tmp_path).with_bind("127.0.0.1", port)
    config = dataclasses.replace(config, authz=AuthzConfig(roles_claim="grp", role_rules=RULES))
    app = create_app(config)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield Gateway(f"http://127.0.0.1:{port}", app, config.resolved())
    finally:
        await server.close()


async def test_role_rules_grant_and_store_roles_at_login(gw: Gateway) -> None:
    body = await mini_login(gw, "rita")
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["grp"] == ["lead", "member"]  # the configured claim name, sorted
    stored = await gw.app[USERS].get(claims["sub"])
    assert stored is not None and stored.roles == {"lead", "member"}
    # an operator's grant is kept; the rules only add
    await gw.app[USERS].grant_role(claims["sub"], "ops")
    again = await mini_login(gw, "rita")
    claims = jwt.decode(again["access_token"], options={"verify_signature": False})
    assert claims["grp"] == ["lead", "member", "ops"]

"""The foundation's HTTP behaviour: health, JSON errors, request ids, limits, metrics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from gateway.server.app import create_app
from gateway.server.keys import READINESS
from gateway.server.metrics import metrics_app
from tests.conftest import dev_config

pytestmark = pytest.mark.asyncio


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("internal detail: /etc/secret-path password=hunter2")


@pytest.fixture
async def client(tmp_path: Path, aiohttp_client) -> TestClient:  # type: ignore[no-untyped-def]
    app = create_app(dev_config(tmp_path, WXGATE_SERVER__MAX_BODY_BYTES="2048"))
    app.router.add_get("/test/boom", boom)
    return await aiohttp_client(app)


def assert_error(body: dict[str, str], code: str) -> None:
    assert body["error"] == code
    assert body["error_description"]
    assert len(body["request_id"]) >= 8


async def test_health_and_ready(client: TestClient) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200 and (await resp.json())["status"] == "ok"
    resp = await client.get("/readyz")
    assert resp.status == 200, await resp.text()


async def test_ready_lists_failing_checks_and_draining(client: TestClient) -> None:
    readiness = client.app[READINESS]

    async def broken() -> None:
        raise ConnectionError("down")

    readiness.add("probe", broken)
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert (await resp.json())["failing"] == {"probe": "ConnectionError"}
    readiness.remove("probe")
    readiness.draining = True
    resp = await client.get("/readyz")
    assert resp.status == 503 and "draining" in (await resp.json())["failing"]
    assert (await client.get("/healthz")).status == 200


async def test_unknown_route_is_json_404(client: TestClient) -> None:
    resp = await client.get("/nope/x")
    assert resp.status == 404
    assert resp.content_type == "application/json"
    assert_error(await resp.json(), "not_found")


async def test_wrong_method_is_json_405(client: TestClient) -> None:
    resp = await client.delete("/healthz")
    assert resp.status == 405
    assert "GET" in resp.headers["Allow"]
    assert_error(await resp.json(), "method_not_allowed")


async def test_body_limit_is_json_413(client: TestClient) -> None:
    resp = await client.post("/auth/wechat/miniprogram/login", data=b"{" + b" " * 5000 + b"}",
                             headers={"Content-Type": "application/json"})  # fmt: skip
    assert resp.status == 413
    assert_error(await resp.json(), "payload_too_large")


async def test_malformed_json_is_invalid_request(client: TestClient) -> None:
    resp = await client.post("/auth/wechat/miniprogram/login", data=b'{"code": ',
                             headers={"Content-Type": "application/json"})  # fmt: skip
    assert resp.status == 400
    assert_error(await resp.json(), "invalid_request")


async def test_unhandled_error_leaks_nothing(client: TestClient, caplog) -> None:  # type: ignore[no-untyped-def]
    resp = await client.get("/test/boom")
    assert resp.status == 500
    body = await resp.json()
    assert_error(body, "server_error")
    assert "hunter2" not in await resp.text() and "secret-path" not in str(body)
    assert any(r.exc_info or r.exc_text for r in caplog.records if r.levelname == "ERROR")


async def test_request_id_accepted_or_generated(client: TestClient) -> None:
    resp = await client.get("/healthz", headers={"X-Request-Id": "abc-123.def"})
    assert resp.headers["X-Request-Id"] == "abc-123.def"
    resp = await client.get("/nope", headers={"X-Request-Id": "bad id\twith spaces" + "x" * 200})
    rid = resp.headers["X-Request-Id"]
    assert rid != "bad id" and len(rid) == 32
    assert (await resp.json())["request_id"] == rid


async def test_the_metrics_listener_names_no_server_software(
    tmp_path: Path,
    aiohttp_client,  # type: ignore[no-untyped-def]
) -> None:
    app = create_app(dev_config(tmp_path))
    client = await aiohttp_client(metrics_app(app, "/metrics"))
    resp = await client.get("/metrics")
    assert resp.status == 200 and "Server" not in resp.headers


async def test_metrics_are_prometheus_text_with_route_templates(client: TestClient) -> None:
    await client.get("/healthz")
    await client.get("/nope/12345")
    resp = await client.get("/metrics")
    assert resp.status == 200
    families = {f.name: f for f in text_string_to_metric_families(await resp.text())}
    samples = families["wxgate_http_requests"].samples
    routes = {s.labels["route"] for s in samples}
    assert "/healthz" in routes and "unmatched" in routes
    assert not any("12345" in r for r in routes)
    assert "wxgate_build_info" in families
    assert "wxgate_http_requests_in_flight" in families
    assert "wxgate_http_request_duration_seconds" in families


async def test_every_family_of_the_readme_is_on_metrics(client: TestClient) -> None:
    """Every package's families are created with the app: all are scraped from the start."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    listed = {name.removesuffix("_total") for name in re.findall(r"`(wxgate_\w+)`", table)}
    text = await (await client.get("/metrics")).text()
    scraped = {f.name for f in text_string_to_metric_families(text)}
    assert len(listed) == 37 and listed <= scraped, sorted(listed - scraped)


async def test_metric_labels_stay_bounded(client: TestClient) -> None:
    for method in ("PROPFIND", "MKCOL", "LOCK"):  # methods the HTTP parser accepts
        await client.request(method, f"/random/{method}")
    await client.get("/healthz")
    text = await (await client.get("/metrics")).text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = families["wxgate_http_requests"].samples
    assert {s.labels["method"] for s in samples} == {"GET", "OTHER"}
    assert not any("random" in s.labels["route"] for s in samples)


async def test_logout_return_to_follows_the_login_rules(client: TestClient) -> None:
    for unsafe in ("/%5Cevil.com", "/%2F%2Fevil.com", "//evil.com", "https:evil.com"):
        resp = await client.post("/auth/logout", data={"return_to": unsafe}, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/", unsafe
    resp = await client.post("/auth/logout", data={"return_to": "/bye"}, allow_redirects=False)
    assert resp.headers["Location"] == "/bye"

"""The shipped Traefik, Envoy and ingress-nginx configs, parsed and cross-checked against the
gateway's config and exercised the way each proxy calls ``/auth/verify``.

(No Traefik/Envoy/Kubernetes binaries here: the YAML is read, its paths, ports and header names
are compared with the gateway's defaults, and the requests those proxies would send are sent to
a real gateway.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml  # type: ignore[import-untyped]

from gateway.config import ProxyConfig, ServerConfig, SessionConfig
from gateway.server.proxy.forward_auth import LOGIN_HEADER, VERIFY_PATH
from tests.server.proxy_support import Gateway, gateway, make_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROXY = ProxyConfig()
IDENTITY = [
    PROXY.subject_header,
    PROXY.openid_header,
    PROXY.unionid_header,
    PROXY.appid_header,
    PROXY.scope_header,
    PROXY.token_header,
    PROXY.roles_header,
]
PORT = ServerConfig().port
COOKIE = SessionConfig().cookie_name


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _find(node: Any, key: str) -> list[Any]:
    return [d[key] for d in _walk(node) if key in d]


def _exact(matcher: dict[str, Any]) -> list[str]:
    return [p["exact"] for p in matcher["patterns"]]


@pytest.fixture(scope="module")
def traefik() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "traefik" / "wxgate.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def envoy() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "envoy" / "envoy.yaml").read_text())
    return loaded


@pytest.fixture(scope="module")
def ingress() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((DEPLOY / "ingress-nginx" / "ingress.yaml").read_text()))


def test_traefik_forward_auth_matches_gateway(traefik: dict[str, Any]) -> None:
    middlewares = traefik["http"]["middlewares"]
    assert middlewares, "no middleware"
    for middleware in middlewares.values():
        fa = middleware["forwardAuth"]
        url = urlsplit(fa["address"])
        assert url.path == VERIFY_PATH and url.port == PORT
        assert url.query in ("", "redirect=1")
        assert fa["authResponseHeaders"] == IDENTITY
        assert fa["authResponseHeadersRegex"] == f"^{PROXY.strip_header_prefix}"
        # Traefik must set X-Forwarded-Uri itself: a client's own would name any path
        assert fa["trustForwardHeader"] is False
        assert {"Authorization", "Cookie", "Accept"} <= set(fa["authRequestHeaders"])
        # the name browsers hold over https (Secure, no domain), and the bare one otherwise
        assert fa["addAuthCookiesToResponse"] == [f"__Host-{COOKIE}", COOKIE]
    routers = traefik["http"]["routers"]
    assert "/auth/" in routers["wxgate"]["rule"] and routers["wxgate"]["service"] == "wxgate"
    assert "wxgate-auth" in routers["app"]["middlewares"]
    service = traefik["http"]["services"]["wxgate"]["loadBalancer"]["servers"][0]["url"]
    assert urlsplit(service).port == PORT


def test_envoy_ext_authz_matches_gateway(envoy: dict[str, Any]) -> None:
    (ext_authz,) = [f for f in _find(envoy, "http_filters")[0] if "ext_authz" in f["name"]]
    config = ext_authz["typed_config"]
    service = config["http_service"]
    assert service["path_prefix"] == VERIFY_PATH
    assert service["server_uri"]["cluster"] == "wxgate"
    assert urlsplit(service["server_uri"]["uri"]).port == PORT
    lower = [h.lower() for h in IDENTITY]
    response = service["authorization_response"]
    assert _exact(response["allowed_upstream_headers"]) == lower
    client = _exact(response["allowed_client_headers"])
    assert {"www-authenticate", "set-cookie", "location", LOGIN_HEADER.lower()} <= set(client)
    assert _exact(response["allowed_client_headers_on_success"]) == ["set-cookie"]
    assert {"cookie", "accept"} <= set(_exact(config["allowed_headers"]))
    (mutation,) = _find(envoy, "early_header_mutation_extensions")
    assert [m["remove"] for m in mutation[0]["typed_config"]["mutations"]] == lower
    clusters = {c["name"]: c for c in envoy["static_resources"]["clusters"]}
    ports = _find(clusters["wxgate"], "port_value")
    assert ports == [PORT]
    routes = _find(envoy, "routes")[0]
    own = [r for r in routes if r["match"]["prefix"] in ("/auth/", "/.well-known/")]
    assert len(own) == 2
    for route in own:
        per_filter = route["typed_per_filter_config"]["envoy.filters.http.ext_authz"]
        assert route["route"]["cluster"] == "wxgate" and per_filter["disabled"] is True


def test_ingress_nginx_annotations_match_gateway(ingress: list[dict[str, Any]]) -> None:
    protected = [d for d in ingress if "auth-url" in str(d["metadata"].get("annotations", {}))]
    assert len(protected) == 2
    for doc in protected:
        notes = {
            k.removeprefix("nginx.ingress.kubernetes.io/"): v
            for k, v in doc["metadata"]["annotations"].items()
        }
        url = urlsplit(notes["auth-url"])
        assert url.path == VERIFY_PATH and url.port == PORT
        assert notes["auth-response-headers"].split(",") == IDENTITY
        if "auth-signin" in notes:
            assert urlsplit(notes["auth-signin"]).path == "/auth/login"
            assert notes["auth-signin-redirect-param"] == "return_to"
    own = [d for d in ingress if d["kind"] == "Ingress" and d["metadata"]["name"] == "wxgate"]
    paths = [p["path"] for p in own[0]["spec"]["rules"][0]["http"]["paths"]]
    assert paths == ["/auth/", "/.well-known/"]


# -- the requests each proxy sends, against a real gateway ------------------------------------

ROUTES: list[dict[str, Any]] = [
    {"prefix": "/public/", "upstream": "http://127.0.0.1:9", "auth": "public"},
    {"prefix": "/demo/", "upstream": "http://127.0.0.1:9", "auth": "required"},
]


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    config = make_config(tmp_path, ROUTES, WXGATE_SERVER__TRUSTED_PROXIES="127.0.0.1/32")
    async with gateway(config) as g:
        yield g


async def test_traefik_request_gets_exactly_the_configured_headers(
    gw: Gateway, traefik: dict[str, Any]
) -> None:
    fa = traefik["http"]["middlewares"]["wxgate-auth"]["forwardAuth"]
    address = urlsplit(fa["address"])
    url = f"{gw.url}{address.path}?{address.query}"
    token = await gw.token("traefik-user")
    headers = {
        "X-Forwarded-Method": "GET",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "app.example.com",
        "X-Forwarded-Uri": "/demo/x?a=1",
        "Authorization": f"Bearer {token}",
    }
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers=headers, allow_redirects=False) as resp:
            assert resp.status == 200
            returned = [h for h in resp.headers if h.lower().startswith("x-auth-")]
        assert set(returned) <= set(fa["authResponseHeaders"])
        assert resp.headers[PROXY.subject_header] == "traefik-user"
        del headers["Authorization"]
        headers["Accept"] = "text/html"
        async with http.get(url, headers=headers, allow_redirects=False) as resp:
            assert resp.status == 302
            assert resp.headers["Location"] == (
                f"{gw.url}/auth/login?return_to=https%3A//app.example.com/demo/x%3Fa%3D1"
            )


async def test_envoy_request_uses_the_path_prefix(gw: Gateway, envoy: dict[str, Any]) -> None:
    (service,) = _find(envoy, "http_service")
    token = await gw.token("envoy-user")
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{gw.url}{service['path_prefix']}/demo/x?q=1",
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            assert resp.status == 200 and resp.headers[PROXY.subject_header] == "envoy-user"
        async with http.get(f"{gw.url}{service['path_prefix']}/demo/x") as resp:
            assert resp.status == 401 and "WWW-Authenticate" in resp.headers
        async with http.get(f"{gw.url}{service['path_prefix']}/public/x") as resp:
            assert resp.status == 200 and PROXY.subject_header not in resp.headers


async def test_ingress_nginx_request_uses_the_original_url(gw: Gateway) -> None:
    async with aiohttp.ClientSession() as http:
        headers = {"X-Original-URL": "https://app.example.com/public/x", "X-Original-Method": "GET"}
        async with http.get(f"{gw.url}{VERIFY_PATH}", headers=headers) as resp:
            assert resp.status == 200
        headers["X-Original-URL"] = "https://app.example.com/demo/x"
        async with http.get(f"{gw.url}{VERIFY_PATH}", headers=headers) as resp:
            assert resp.status == 401

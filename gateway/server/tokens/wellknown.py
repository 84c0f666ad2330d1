"""``/.well-known/jwks.json`` (RFC 7517 §5) and ``/.well-known/openid-configuration``
(OpenID Connect Discovery 1.0 §4).

Both are public and cacheable for ``tokens.jwks_max_age`` seconds, which must stay below
``tokens.publish_delay`` so every verifier learns a staged key before it signs. The JWKS carries
a strong ``ETag`` (a hash of the exact body) and honours ``If-None-Match`` with 304
(RFC 9110 §13.1.2: weak comparison, ``*`` matches).
"""

from __future__ import annotations

from aiohttp import web

from gateway.server.keys import CONFIG, OIDC, TOKENS

__all__ = ["etag_matches", "setup_routes"]

JWKS_PATH = "/.well-known/jwks.json"
DISCOVERY_PATH = "/.well-known/openid-configuration"


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """True when an ``If-None-Match`` value names ``etag`` (or is ``*``)."""
    if not if_none_match:
        return False
    tags = {t.strip() for t in if_none_match.split(",")}
    return "*" in tags or etag in {t.removeprefix("W/") for t in tags}


def _cache_headers(request: web.Request) -> dict[str, str]:
    # Public documents without credentials: any origin may read them (browser-side verifiers).
    max_age = request.app[CONFIG].tokens.jwks_max_age
    return {"Cache-Control": f"public, max-age={max_age}", "Access-Control-Allow-Origin": "*"}


async def jwks(request: web.Request) -> web.Response:
    """The public keys that may verify a live token: active, next and retired."""
    body, etag = request.app[TOKENS].jwks_document()
    headers = {**_cache_headers(request), "ETag": etag}
    if etag_matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)


async def openid_configuration(request: web.Request) -> web.Response:
    """The provider metadata. Endpoints are absolute URLs under ``server.public_url`` when it
    is set, else under the issuer (never under a bind address)."""
    config = request.app[CONFIG]
    base = config.server.public_url.rstrip("/") or config.issuer
    document = request.app[OIDC].discovery(base)
    return web.json_response(document, headers=_cache_headers(request))


def setup_routes(app: web.Application) -> None:
    """Add the two well-known routes (GET, and HEAD through aiohttp's ``allow_head``)."""
    app.router.add_get(JWKS_PATH, jwks)
    app.router.add_get(DISCOVERY_PATH, openid_configuration)

"""The OpenID Provider as the demo relying party sees it, over HTTP like any other client:
discovery (fetched server to server from ``<public_url>/.well-known/openid-configuration``; its
``issuer`` must be the configured one), the JWKS (fetched again, once, when a token names a
``kid`` it does not have: the provider rotated), the token endpoint (with the client's
registered authentication method, RFC 6749 §2.3.1) and UserInfo (OIDC Core §5.3).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import aiohttp

from gateway.config import OidcClientConfig
from gateway.simulator.rp.jws import Jws, UnknownKey, parse_jws, verify_signature

__all__ = ["OpError", "Provider", "RpClient"]

_TIMEOUT = aiohttp.ClientTimeout(total=10)
_MAX_BODY = 256 * 1024


class OpError(Exception):
    """The provider could not be used or refused; the message says why (never a token)."""


@dataclass(frozen=True, slots=True)
class RpClient:
    """One registered client the demo plays (``[[oidc.clients]]`` with its callback)."""

    client_id: str
    secret: str
    method: str
    first_party: bool
    scope: str
    post_logout_redirect_uri: str | None
    backchannel: bool

    @property
    def public(self) -> bool:
        return self.method == "none"

    @classmethod
    def of(cls, config: OidcClientConfig, base: str) -> RpClient:
        wanted = ("openid", "profile", "phone", "wechat")
        after_logout = f"{base}/"
        return cls(
            client_id=config.client_id,
            secret=config.client_secret,
            method=config.token_endpoint_auth_method,
            first_party=config.first_party,
            scope=" ".join(s for s in wanted if s in config.scopes),
            post_logout_redirect_uri=(
                after_logout if after_logout in config.post_logout_redirect_uris else None
            ),
            backchannel=config.backchannel_logout_uri == f"{base}/backchannel-logout",
        )


def basic_authorization(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: id and secret form-urlencoded, then HTTP Basic."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


class Provider:
    """The provider at ``public_url`` whose issuer is ``issuer``."""

    def __init__(self, http: aiohttp.ClientSession, public_url: str, issuer: str) -> None:
        self._http = http
        self._public_url = public_url.rstrip("/")
        self.issuer = issuer
        self._metadata: dict[str, Any] | None = None
        self._keys: list[dict[str, Any]] | None = None

    async def metadata(self) -> dict[str, Any]:
        """The discovery document (fetched once)."""
        if self._metadata is None:
            url = f"{self._public_url}/.well-known/openid-configuration"
            document = await self._json("GET", url, "discovery")
            if document.get("issuer") != self.issuer:
                raise OpError("the discovery document names another issuer")
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(document.get(name), str):
                    raise OpError(f"the discovery document has no {name}")
            self._metadata = document
        return self._metadata

    def metadata_if_known(self) -> dict[str, Any] | None:
        """The discovery document if it was fetched already (pages render without I/O)."""
        return self._metadata

    async def endpoint(self, name: str) -> str | None:
        value = (await self.metadata()).get(name)
        return value if isinstance(value, str) else None

    async def _jwks(self, *, again: bool) -> list[dict[str, Any]]:
        if self._keys is None or again:
            url = (await self.metadata())["jwks_uri"]
            keys = (await self._json("GET", url, "JWKS")).get("keys")
            if not isinstance(keys, list):
                raise OpError("the JWKS has no keys")
            self._keys = [k for k in keys if isinstance(k, dict)]
        return self._keys

    async def verified(self, token: str) -> Jws:
        """``token`` parsed and its signature verified against the provider's JWKS with an
        algorithm discovery announces; TokenRefused otherwise (claims are not checked)."""
        jws = parse_jws(token)
        algs = (await self.metadata()).get("id_token_signing_alg_values_supported") or []
        try:
            verify_signature(jws, await self._jwks(again=False), algs)
        except UnknownKey:
            verify_signature(jws, await self._jwks(again=True), algs)
        return jws

    async def exchange(
        self, client: RpClient, code: str, redirect_uri: str, verifier: str
    ) -> dict[str, Any]:
        """OIDC Core §3.1.3.1: the code for tokens, authenticated as ``client`` is registered."""
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": redirect_uri, "code_verifier": verifier}  # fmt: skip
        headers = {}
        if client.method == "client_secret_basic":
            headers["Authorization"] = basic_authorization(client.client_id, client.secret)
        elif client.method == "client_secret_post":
            form |= {"client_id": client.client_id, "client_secret": client.secret}
        else:
            form["client_id"] = client.client_id
        url = (await self.metadata())["token_endpoint"]
        body = await self._json("POST", url, "token endpoint", data=form, headers=headers)
        if str(body.get("token_type", "")).lower() != "bearer":
            raise OpError("the token response's token_type is not Bearer")
        for name in ("access_token", "id_token"):
            if not isinstance(body.get(name), str):
                raise OpError(f"the token response has no {name}")
        return body

    async def userinfo(self, access_token: str) -> dict[str, Any]:
        """OIDC Core §5.3.1 with the access token as a bearer token."""
        url = await self.endpoint("userinfo_endpoint")
        if url is None:
            raise OpError("the provider has no userinfo_endpoint")
        headers = {"Authorization": f"Bearer {access_token}"}
        return await self._json("GET", url, "UserInfo", headers=headers)

    async def _json(
        self,
        method: str,
        url: str,
        what: str,
        *,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The JSON object ``url`` answers with 200; OpError with the OAuth error (RFC 6749
        §5.2) or the status otherwise."""
        try:
            async with self._http.request(
                method, url, data=data, headers=headers, timeout=_TIMEOUT, allow_redirects=False
            ) as response:
                raw = await response.content.read(_MAX_BODY)
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OpError(f"the {what} could not be reached ({type(exc).__name__})") from exc
        try:
            body = json.loads(raw) if raw else None
        except (UnicodeDecodeError, ValueError):
            body = None
        if status != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            detail = body.get("error_description") if isinstance(body, dict) else None
            said = f": {error}" + (f" ({detail})" if detail else "") if error else ""
            raise OpError(f"the {what} answered {status}{said}")
        return body

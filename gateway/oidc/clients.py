"""The registry of relying parties (``[[oidc.clients]]``) and client authentication.

Client authentication at the token endpoint (RFC 6749 §2.3.1): ``client_secret_basic`` (HTTP
Basic with form-urlencoded id and secret), ``client_secret_post`` (in the body) or ``none``
(public clients: ``client_id`` in the body, PKCE required). A client uses exactly the method it
is registered with; secrets are compared in constant time; every failure is the same
``invalid_client`` (401, with a Basic challenge when Basic was used).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass

from gateway.config import OidcClientConfig, OidcConfig
from gateway.errors import InvalidClient

__all__ = ["BASIC_CHALLENGE", "Client", "ClientRegistry", "Credentials"]

BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="wxgate"'}


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a token request presented: the method it used, the id and the secret."""

    method: str  # client_secret_basic, client_secret_post, none
    client_id: str
    secret: str = ""

    def __repr__(self) -> str:  # never show the secret
        return f"Credentials(method={self.method!r}, client_id={self.client_id!r})"


@dataclass(frozen=True, slots=True)
class Client:
    """One registered client, as the provider uses it."""

    config: OidcClientConfig

    @property
    def client_id(self) -> str:
        return self.config.client_id

    @property
    def public(self) -> bool:
        return not self.config.client_secret

    @property
    def name(self) -> str:
        return self.config.name or self.config.client_id

    @property
    def audience(self) -> str:
        return self.config.audience or self.config.client_id

    @property
    def requires_pkce(self) -> bool:
        explicit = self.config.require_pkce
        return self.public if explicit is None else explicit or self.public

    def allows_grant(self, grant_type: str) -> bool:
        return grant_type in self.config.grant_types

    def allows_redirect(self, uri: str) -> bool:
        """Exact string comparison (RFC 9700 §4.1.3): no prefix, wildcard or case folding."""
        return uri in self.config.redirect_uris

    def allows_post_logout(self, uri: str) -> bool:
        return uri in self.config.post_logout_redirect_uris

    def allows_flow(self, flow: str) -> bool:
        return not self.config.login_flows or flow in self.config.login_flows


class ClientRegistry:
    """Clients by id; client authentication."""

    def __init__(self, config: OidcConfig) -> None:
        self._clients = {c.client_id: Client(c) for c in config.clients}

    def __iter__(self) -> Iterator[Client]:
        return iter(self._clients.values())

    def get(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    def audiences(self) -> tuple[str, ...]:
        """Every client's access-token audience (UserInfo accepts tokens of any of them)."""
        return tuple(dict.fromkeys(c.audience for c in self._clients.values()))

    def authenticate(self, credentials: Credentials) -> Client:
        """The client ``credentials`` prove; InvalidClient (401) otherwise."""
        headers = BASIC_CHALLENGE if credentials.method == "client_secret_basic" else None
        client = self._clients.get(credentials.client_id)
        expected = client.config.client_secret if client else ""
        # compare even for an unknown client, so timing does not tell which ids exist
        same = hmac.compare_digest(expected.encode(), credentials.secret.encode())
        if client is None:
            raise InvalidClient(headers=headers)
        if credentials.method != client.config.token_endpoint_auth_method:
            raise InvalidClient("the client must authenticate with its registered method",
                                headers=headers)  # fmt: skip
        if not client.public and not (credentials.secret and same):
            raise InvalidClient(headers=headers)
        return client

"""The OpenID Provider core (OpenID Connect Core 1.0, RFC 6749, RFC 7636, RFC 9207), no web
framework: the client registry, authorization requests, codes, consent, ID-token and UserInfo
claims by scope, the token endpoint's grants. The server's ``oidc`` room adapts it to HTTP.
"""

from gateway.oidc.authorization import SCOPES, AuthorizationRequest
from gateway.oidc.claims import at_hash, pairwise_subject, scoped_claims
from gateway.oidc.clients import BASIC_CHALLENGE, Client, ClientRegistry, Credentials
from gateway.oidc.errors import AuthorizeError, InvalidScope, UnauthorizedClient
from gateway.oidc.logout import BACKCHANNEL_EVENT, BackchannelLogout, Post
from gateway.oidc.metrics import OidcMetrics
from gateway.oidc.provider import AMR_OF_FLOW, BrowserLogin, Provider

__all__ = [
    # services
    "BackchannelLogout",
    "ClientRegistry",
    "Provider",
    # metric families
    "OidcMetrics",
    # values
    "AMR_OF_FLOW",
    "BACKCHANNEL_EVENT",
    "BASIC_CHALLENGE",
    "SCOPES",
    "AuthorizationRequest",
    "BrowserLogin",
    "Client",
    "Credentials",
    "Post",
    # pure helpers
    "at_hash",
    "pairwise_subject",
    "scoped_claims",
    # errors
    "AuthorizeError",
    "InvalidScope",
    "UnauthorizedClient",
]

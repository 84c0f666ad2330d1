"""The OpenID Provider's rules (``[oidc]`` and each ``[[oidc.clients]]``), as in ``rules``.

``validate_oidc_client`` is also what ``wxgate clients new`` checks a new client with.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from gateway.config.tree import Config, OidcClientConfig

__all__ = ["OIDC_GRANT_TYPES", "OIDC_LOGIN_FLOWS", "validate_oidc", "validate_oidc_client"]

OIDC_GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
OIDC_LOGIN_FLOWS = ("scan", "web", "mp")
_CLIENT_ID_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space (RFC 6749 A.1)
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3 scope-token
_LOOPBACK_V4 = ipaddress.IPv4Network("127.0.0.0/8")
_LOOPBACK_V6 = ipaddress.IPv6Address("::1")


def validate_oidc(config: Config) -> list[str]:
    """The ``[oidc]`` section and every client; each problem is ``key.path: message``."""
    o, problems = config.oidc, []
    if not 1 <= o.code_ttl <= 600:  # RFC 6749 §4.1.2: a maximum lifetime of 10 minutes
        problems.append("oidc.code_ttl: must be between 1 and 600 seconds")
    if not 10 <= o.logout_token_ttl <= 3600:
        problems.append("oidc.logout_token_ttl: must be between 10 and 3600 seconds")
    if o.backchannel_timeout <= 0:
        problems.append("oidc.backchannel_timeout: must be positive")
    if not 0 <= o.backchannel_retries <= 10:
        problems.append("oidc.backchannel_retries: must be between 0 and 10")
    first: dict[str, int] = {}
    for i, client in enumerate(o.clients):
        problems += validate_oidc_client(client, f"oidc.clients[{i}]", dev=config.dev)
        if client.client_id and client.client_id in first:
            problems.append(
                f"oidc.clients[{i}].client_id: duplicate client_id {client.client_id!r} "
                f"(also oidc.clients[{first[client.client_id]}])"
            )
        first.setdefault(client.client_id, i)
    pairwise = [
        f"oidc.clients[{i}]" for i, c in enumerate(o.clients) if c.subject_type == "pairwise"
    ]
    if pairwise and len(o.pairwise_salt) < 32:
        problems.append(
            "oidc.pairwise_salt: at least 32 characters required by the pairwise clients "
            f"({', '.join(pairwise)})"
        )
    return problems


def validate_oidc_client(client: OidcClientConfig, where: str, *, dev: bool) -> list[str]:
    """One ``[[oidc.clients]]`` entry's rules; each problem is ``<where>.key: message``
    (``key: message`` when ``where`` is empty). ``dev`` allows paths as URIs."""
    at = f"{where}." if where else ""
    return (
        _client_id_problems(client.client_id, at)
        + _client_auth_problems(client, at)
        + _client_grant_problems(client, at)
        + _client_uri_problems(client, at, dev)
    )


def _client_id_problems(client_id: str, at: str) -> list[str]:
    if not client_id:
        return [f"{at}client_id: required"]
    if len(client_id) > 255:
        return [f"{at}client_id: longer than 255 characters"]
    if not _CLIENT_ID_CHARS.fullmatch(client_id):
        return [f"{at}client_id: {client_id!r} may hold only printable ASCII, no spaces"]
    return []


def _client_auth_problems(c: OidcClientConfig, at: str) -> list[str]:
    problems, method = [], c.token_endpoint_auth_method
    if c.client_secret and method == "none":
        problems.append(
            f"{at}token_endpoint_auth_method: 'none' is for public clients but this client has "
            "a client_secret: use client_secret_basic or client_secret_post, or remove the secret"
        )
    if not c.client_secret and method != "none":
        problems.append(
            f"{at}client_secret: a confidential client without a secret "
            f"(token_endpoint_auth_method = {method!r}): set client_secret or "
            "client_secret_file, or token_endpoint_auth_method = 'none' for a public client"
        )
    if not c.client_secret and c.require_pkce is False:  # RFC 9700 §2.1.1
        problems.append(
            f"{at}require_pkce: a public client without PKCE enforcement: "
            "remove require_pkce or set it to true"
        )
    return problems


def _client_grant_problems(c: OidcClientConfig, at: str) -> list[str]:
    problems = [
        f"{at}grant_types[{j}]: {grant!r} is not one of {', '.join(OIDC_GRANT_TYPES)}"
        for j, grant in enumerate(c.grant_types)
        if grant not in OIDC_GRANT_TYPES
    ]
    if not c.grant_types:
        problems.append(f"{at}grant_types: must not be empty")
    if not c.client_secret and "client_credentials" in c.grant_types:  # RFC 6749 §4.4
        problems.append(f"{at}grant_types: client_credentials needs a confidential client")
    code = "authorization_code" in c.grant_types
    if code and not c.redirect_uris:
        problems.append(f"{at}redirect_uris: required for the authorization_code grant")
    if code and "openid" not in c.scopes:
        problems.append(f"{at}scopes: must include 'openid' (the authorization_code grant)")
    problems += [
        f"{at}scopes[{j}]: {scope!r} is not a scope token "
        "(RFC 6749 §3.3: printable ASCII without spaces, '\"' or '\\')"
        for j, scope in enumerate(c.scopes)
        if not _SCOPE_TOKEN.fullmatch(scope)
    ]
    problems += [
        f"{at}login_flows[{j}]: {flow!r} is not one of {', '.join(OIDC_LOGIN_FLOWS)}"
        for j, flow in enumerate(c.login_flows)
        if flow not in OIDC_LOGIN_FLOWS
    ]
    return problems


def _client_uri_problems(c: OidcClientConfig, at: str, dev: bool) -> list[str]:
    problems = []
    for key in ("redirect_uris", "post_logout_redirect_uris"):
        for j, uri in enumerate(getattr(c, key)):
            if why := _uri_problem(uri, dev=dev, http_in_dev=False):
                problems.append(f"{at}{key}[{j}]: {uri!r} {why}")
    uri = c.backchannel_logout_uri
    if uri and (why := _uri_problem(uri, dev=dev, http_in_dev=True)):
        problems.append(f"{at}backchannel_logout_uri: {uri!r} {why}")
    return problems


def _uri_problem(uri: str, *, dev: bool, http_in_dev: bool) -> str:
    """Why ``uri`` cannot be a client's redirect or logout URI; "" when it can.

    In dev mode a path is allowed: ``Config.resolved`` puts the public URL in front of it.
    """
    if "#" in uri:  # RFC 6749 §3.1.2; OIDC Back-Channel Logout §2.2
        return "must not have a fragment"
    if dev and uri.startswith("/") and not uri.startswith("//"):
        return ""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (raises ValueError for a port that is not one)
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http(s) URL" + (
            " or a path starting with /" if dev else " (a path only in dev mode)"
        )
    if parts.scheme == "http" and not (_is_loopback(parts.hostname) or (dev and http_in_dev)):
        return "must be https (http only on a loopback host" + (
            " or in dev mode)" if http_in_dev else ")"
        )
    return ""


def _is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost (RFC 8252 §7.3, §8.3)."""
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip in _LOOPBACK_V4 if isinstance(ip, ipaddress.IPv4Address) else ip == _LOOPBACK_V6

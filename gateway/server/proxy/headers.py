"""Header rules of the reverse proxy, precomputed once per application (pure, no I/O).

Request headers sent upstream:

- hop-by-hop headers are dropped (RFC 9110 §7.6.1: ``Connection`` and every header it lists,
  ``Keep-Alive``, ``Proxy-Connection``, ``TE``, ``Trailer``, ``Transfer-Encoding``, ``Upgrade``),
  and so is ``Expect`` (the gateway already answered ``100-continue`` itself) and ``Host``
  (the upstream's host is sent unless the route sets ``preserve_host``);
- identity headers are **always** removed as the client sent them: the configured names and any
  header starting with ``proxy.strip_header_prefix`` (case-insensitive, ``_`` read as ``-``
  because CGI/WSGI backends do), on every route, so a client can never spoof an identity; the
  gateway then adds the verified ones;
- ``X-Forwarded-For/Proto/Host``: appended to when the peer is a trusted proxy
  (``server.trusted_proxies``), otherwise replaced; ``Forwarded`` and ``X-Real-IP`` and every
  other ``X-Forwarded-*`` header are passed only from trusted peers;
- the gateway's session cookie is removed from ``Cookie`` (other cookies pass), under its name
  and under the bare ``session.cookie_name`` it had before the ``__Host-`` prefix;
- on ``required``/``optional`` routes a client's ``Authorization: Bearer`` is removed: the
  gateway consumed it (``pass_token`` sends the verified token itself, in ``proxy.token_header``
  or, when that is empty, as ``Authorization: Bearer``). Other schemes (Basic...) pass, and
  public routes pass ``Authorization`` untouched.

Response headers sent back: hop-by-hop headers dropped, everything else passed unchanged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, MutableMapping

from multidict import CIMultiDict, CIMultiDictProxy

from gateway.config import Config
from gateway.tokens import AccessClaims

__all__ = ["DECODED_ENCODINGS", "HeaderRules", "copy_response_headers", "drop_cookie"]

# aiohttp's server decodes request bodies in these encodings before the handler reads them:
# the proxy forwards the decoded body, so the headers that described the encoded one go
# (the upstream gets it chunked).
DECODED_ENCODINGS = frozenset({"gzip", "x-gzip", "deflate", "br", "zstd"})
_ENCODED_BODY = frozenset({"content-encoding", "content-length"})

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
    }
)
_REQUEST_DROP = HOP_BY_HOP | {"host", "expect"}
_FORWARDING = frozenset({"forwarded", "x-real-ip"})
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _connection_tokens(value: str) -> set[str]:
    return {t.strip().lower() for t in value.split(",") if t.strip()}


class HeaderRules:
    """Everything the proxy needs to rewrite headers, computed from the config once."""

    def __init__(self, config: Config) -> None:
        p = config.proxy
        self.subject = p.subject_header
        self.openid = p.openid_header
        self.unionid = p.unionid_header
        self.appid = p.appid_header
        self.scope = p.scope_header
        self.token = p.token_header
        self.roles = p.roles_header
        # the bare name too: a browser may still hold a cookie set before the __Host- prefix
        self.cookie_name = config.session.cookie_name  # a substring of the prefixed name
        self.cookie_names = frozenset({config.session_cookie_name, self.cookie_name})
        names = (self.subject, self.openid, self.unionid, self.appid, self.scope, self.token,
                 self.roles)  # fmt: skip
        self.identity = frozenset(n.lower() for n in names if n)
        self.prefix = p.strip_header_prefix.lower()
        self._drop = _REQUEST_DROP | self.identity
        self._networks: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in config.server.trusted_proxies
        )
        self._trust_cache: dict[str, bool] = {}

    def is_trusted(self, peer: str | None) -> bool:
        """True when ``peer`` (an IP address) is in ``server.trusted_proxies``."""
        if not self._networks or not peer:
            return False
        known = self._trust_cache.get(peer)
        if known is None:
            try:
                addr = ipaddress.ip_address(peer)
            except ValueError:
                known = False
            else:
                known = any(addr in net for net in self._networks)
            if len(self._trust_cache) > 4096:
                self._trust_cache.clear()
            self._trust_cache[peer] = known
        return known

    def upstream_headers(
        self,
        incoming: CIMultiDictProxy[str],
        *,
        trusted: bool,
        strip_authorization: bool,
    ) -> CIMultiDict[str]:
        """The client's headers minus everything the proxy must not pass on (see module doc)."""
        drop = self._drop
        connection = incoming.get("Connection")
        if connection:
            drop = drop | _connection_tokens(connection)
        prefix = self.prefix
        out: CIMultiDict[str] = CIMultiDict()
        decoded = incoming.get("Content-Encoding", "").strip().lower() in DECODED_ENCODINGS
        for name, value in incoming.items():
            low = name.lower()
            if "_" in low:  # CGI/WSGI backends read X_Auth_Subject as X-Auth-Subject
                low = low.replace("_", "-")
            if low in drop or (prefix and low.startswith(prefix)):
                continue
            if decoded and low in _ENCODED_BODY:  # the body goes upstream decoded
                continue
            if not trusted and (low.startswith("x-forwarded-") or low in _FORWARDING):
                continue
            if low == "authorization" and strip_authorization and _is_bearer(value):
                continue
            if low == "cookie" and self.cookie_name in value:
                value = drop_cookie(value, self.cookie_names)
                if not value:
                    continue
            out.add(name, value)
        return out

    def set_forwarded(
        self,
        headers: CIMultiDict[str],
        *,
        trusted: bool,
        peer: str | None,
        scheme: str,
        host: str,
    ) -> None:
        """Set ``X-Forwarded-For/Proto/Host`` (appending to a trusted proxy's values)."""
        client = peer or "unknown"
        if trusted:
            prior = headers.getall("X-Forwarded-For", ())
            if prior:
                client = ", ".join((*prior, client))
            scheme = headers.get("X-Forwarded-Proto", scheme)
            host = headers.get("X-Forwarded-Host", host)
        headers["X-Forwarded-For"] = client
        headers["X-Forwarded-Proto"] = scheme
        headers["X-Forwarded-Host"] = host

    def add_identity(
        self, headers: MutableMapping[str, str], claims: AccessClaims, token: str | None
    ) -> None:
        """Set the identity headers of a verified token on ``headers`` (empty claims are left
        out), and the token itself when ``token`` is given (the route's ``pass_token``): in
        ``proxy.token_header``, else as ``Authorization: Bearer``. The proxy and forward auth
        both answer with these."""
        headers[self.subject] = claims.sub
        if claims.openid:
            headers[self.openid] = claims.openid
        if claims.unionid:
            headers[self.unionid] = claims.unionid
        if claims.appid:
            headers[self.appid] = claims.appid
        if claims.scope and self.scope:
            headers[self.scope] = claims.scope
        if claims.role_list and self.roles:  # role names hold no comma (authz)
            headers[self.roles] = ",".join(claims.role_list)
        if token:
            if self.token:
                headers[self.token] = token
            else:
                headers["Authorization"] = f"Bearer {token}"


def _is_bearer(value: str) -> bool:
    return value[:7].lower() == "bearer "


def drop_cookie(header: str, names: Collection[str]) -> str:
    """``header`` (a Cookie header value) without the cookies called any of ``names``."""
    kept = [
        part.strip()
        for part in header.split(";")
        if part.strip() and part.split("=", 1)[0].strip() not in names
    ]
    return "; ".join(kept)


def copy_response_headers(upstream: CIMultiDictProxy[str], target: CIMultiDict[str]) -> None:
    """Add the upstream's response headers to ``target`` minus the hop-by-hop ones
    (RFC 9110 §7.6.1), in one pass."""
    connection = upstream.get("Connection")
    drop = HOP_BY_HOP | _connection_tokens(connection) if connection else HOP_BY_HOP
    add = target.add
    for name, value in upstream.items():
        if name.lower() not in drop:
            add(name, value)

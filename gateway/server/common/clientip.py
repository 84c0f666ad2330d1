"""The client's address, trusting ``X-Forwarded-For`` only from configured proxy networks."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from aiohttp import web

from gateway.server.keys import CONFIG

__all__ = ["client_ip", "trusted_networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def trusted_networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _in(addr: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip(request: web.Request) -> str:
    """The originating client: the peer, or the rightmost untrusted X-Forwarded-For hop."""
    peer = request.remote or "unknown"
    networks = trusted_networks(request.app[CONFIG].server.trusted_proxies)
    if not networks or not _in(peer, networks):
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, networks):
            return hop
    return hops[0] if hops else peer

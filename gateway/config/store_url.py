"""``store.url``: which shared-state backend, and where (pure parsing, no I/O).

Schemes (redis-py's own URL forms for one node; the ``+cluster``/``+sentinel`` forms follow the
``redis+sentinel://`` convention of Celery/Kombu and Spring, with a comma-separated host list,
because redis-py has no URL form for either):

- ``memory://`` one process only;
- ``redis://[user:password@]host:port/db`` and ``rediss://`` (TLS): one Redis server;
- ``redis+cluster://[user:password@]h1:p1,h2:p2/`` and ``rediss+cluster://``: a Redis Cluster
  (any reachable nodes seed the discovery; the database must be 0);
- ``redis+sentinel://[user:password@]s1:p1,s2:p2/service[/db]`` and ``rediss+sentinel://``: the
  primary that the Sentinels at ``s1:p1,...`` monitor as ``service``. The credentials and TLS
  apply to the data nodes; the Sentinels are asked without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

__all__ = ["StoreURL", "parse_store_url"]

Mode = Literal["memory", "single", "cluster", "sentinel"]
_MODES: dict[str, Mode] = {
    "memory": "memory",
    "redis": "single",
    "rediss": "single",
    "redis+cluster": "cluster",
    "rediss+cluster": "cluster",
    "redis+sentinel": "sentinel",
    "rediss+sentinel": "sentinel",
}


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed ``store.url``. ``hosts`` are the cluster's seed nodes or the Sentinels."""

    mode: Mode
    tls: bool = False
    hosts: tuple[tuple[str, int], ...] = ()
    username: str | None = None
    password: str | None = None
    service: str = ""
    db: int = 0


def parse_store_url(url: str) -> StoreURL:
    """Parse ``url``; ValueError with a message naming what is wrong.

    One-node ``redis://`` URLs are left to redis-py (``from_url``): only their scheme is read.
    """
    scheme, sep, rest = url.partition("://")
    mode = _MODES.get(scheme.lower()) if sep else None
    if mode is None:
        raise ValueError(
            f"unsupported scheme {scheme!r} (expected memory://, redis://, rediss://, "
            "redis+cluster://, redis+sentinel:// or their rediss+ forms)"
        )
    tls = scheme.lower().startswith("rediss")
    if mode in ("memory", "single"):
        return StoreURL(mode, tls)
    netloc, _, path = rest.partition("/")
    path = path.partition("?")[0]
    userinfo, at, hostlist = netloc.rpartition("@")
    username, password = _credentials(userinfo) if at else (None, None)
    hosts = tuple(_host_port(item) for item in hostlist.split(","))
    parts = [p for p in path.split("/") if p]
    if mode == "cluster":
        if parts and parts != ["0"]:
            raise ValueError("a Redis Cluster has database 0 only (end the URL with / or /0)")
        return StoreURL(mode, tls, hosts, username, password)
    if not parts or len(parts) > 2:
        raise ValueError("a Sentinel URL names the service: redis+sentinel://host:port/<service>")
    db = _int(parts[1], "database") if len(parts) == 2 else 0
    return StoreURL(mode, tls, hosts, username, password, unquote(parts[0]), db)


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    user, colon, password = userinfo.partition(":")
    if not colon:  # redis-py's rule: a lone userinfo is the password
        return None, unquote(user) or None
    return unquote(user) or None, unquote(password) or None


def _host_port(item: str) -> tuple[str, int]:
    host, colon, port = item.strip().rpartition(":")
    if not colon or not host:
        raise ValueError(f"each node is host:port, got {item!r}")
    value = _int(port, "port")
    if not 0 < value <= 65535:
        raise ValueError(f"port out of range in {item!r}")
    return host.strip("[]"), value


def _int(text: str, what: str) -> int:
    if not text.isdigit():
        raise ValueError(f"{what} must be a number, got {text!r}")
    return int(text)

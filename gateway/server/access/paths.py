"""Request paths the gateway refuses rather than route, and the normalisation forward auth does.

A path is matched here against a route's prefix, then sent on to a backend that reads it again:
if the backend reads it as another path, a public prefix could reach a private one. Refused
(400 ``invalid_request``), after the one percent-decoding the match uses:

- always: dot segments (``/public/../admin``, also as ``%2e%2e``) and empty segments (``//``);
- ``reject_path_parameters``: any ``;`` (raw or ``%3b``): Tomcat and Spring drop a segment's
  ``;parameters``, so ``/public/..;/admin`` is ``/admin`` to them;
- ``reject_backslash``: any ``\\`` (raw or ``%5c``): IIS, Windows servers and some frameworks
  read it as ``/``;
- ``reject_double_encoding``: a ``%`` followed by two hex digits *after* decoding
  (``%252e%252e`` → ``%2e%2e``), which a backend that decodes again reads as ``..``.

The three options are ``[proxy]`` keys, all on by default, like Envoy's path normalisation
settings. The common path has none of ``\\ ; %``: three substring tests and nothing more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.errors import InvalidRequest

__all__ = ["PathRules", "is_ambiguous", "normalize_path"]

_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")


def is_ambiguous(path: str) -> bool:
    """True when a decoded ``path`` has dot segments or empty segments (``//``).

    Such a path could be matched here as one route and normalised by the backend into another
    (``/public/../admin``), so the proxy refuses it rather than guess.
    """
    if "//" in path:
        return True
    if "/." not in path:
        return False
    return any(seg in (".", "..") for seg in path.split("/"))


def normalize_path(path: str) -> str:
    """``path`` with ``.``/``..`` segments resolved and repeated slashes merged (RFC 3986
    §5.2.4, plus nginx's ``merge_slashes``): what a front proxy routed on."""
    if not is_ambiguous(path):
        return path
    out: list[str] = []
    for seg in path.split("/"):
        if seg == "..":
            if out:
                out.pop()
        elif seg and seg != ".":
            out.append(seg)
    trailing = "/" if path.endswith(("/", "/.", "/..")) and out else ""
    return "/" + "/".join(out) + trailing


@dataclass(frozen=True, slots=True)
class PathRules:
    """Which path forms are refused (see module doc); every option on by default."""

    reject_backslash: bool = True
    reject_path_parameters: bool = True
    reject_double_encoding: bool = True

    def check(self, path: str) -> None:
        """The proxy's test of a decoded ``path``: InvalidRequest (400) for dot or empty
        segments and for every form the options refuse. Inlined tests: it runs per request."""
        if ("//" in path or "/." in path) and is_ambiguous(path):
            raise InvalidRequest("the path has dot segments or empty segments")
        if "\\" in path or ";" in path or "%" in path:
            self.check_backend_forms(path)

    def check_backend_forms(self, path: str) -> None:
        """InvalidRequest (400) when the decoded ``path`` has a form the options refuse
        (forward auth resolves dot segments itself, as the front proxy did)."""
        if "\\" in path and self.reject_backslash:
            raise InvalidRequest("the path has a backslash")
        if ";" in path and self.reject_path_parameters:
            raise InvalidRequest("the path has a ';' (path parameters)")
        if "%" in path and self.reject_double_encoding and _ENCODED.search(path):
            raise InvalidRequest("the path is percent-encoded twice")

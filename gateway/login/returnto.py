"""``return_to`` validation: where a login may send the browser afterwards.

Allowed: a relative path (``/x``, with query and fragment), or an absolute http(s) URL whose
origin is in ``login.allowed_return_origins``. Everything else falls back to the default —
in particular the open-redirect tricks: ``//host``, ``/\\host``, ``\\\\host``, ``https:host``,
``javascript:``, control characters, and any of those percent-encoded (decoded repeatedly
before checking, as browsers and proxies may decode again).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

__all__ = ["safe_return_to"]

_MAX_LEN = 2048


def _decoded_forms(value: str) -> Iterable[str]:
    seen = value
    for _ in range(4):
        yield seen
        nxt = unquote(seen)
        if nxt == seen:
            return
        seen = nxt


def _is_safe_relative(value: str) -> bool:
    for form in _decoded_forms(value):
        if not form.startswith("/") or form.startswith(("//", "/\\")):
            return False
        if any(ord(c) < 0x20 or c == "\x7f" or c == "\\" for c in form):
            return False
    return True


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def safe_return_to(value: str | None, allowed_origins: Iterable[str], default: str) -> str:
    """``value`` if it is a safe place to send the browser after login, else ``default``."""
    if not value or len(value) > _MAX_LEN:
        return default
    if value.startswith("/"):
        return value if _is_safe_relative(value) else default
    if any(ord(c) < 0x21 or c == "\\" for c in value):
        return default
    origin = _origin(value)
    allowed = {o.rstrip("/").lower() for o in allowed_origins}
    return value if origin is not None and origin in allowed else default

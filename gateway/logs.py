"""JSON-lines logging with request ids and a redaction filter.

Every line is one JSON object on stdout: ``ts``, ``level``, ``logger``, ``msg``, ``request_id``
(from a context variable the server middleware sets) and any ``extra`` fields. The redaction
filter masks secrets wherever they appear in the message, the extra fields or a traceback:
AppSecret and other ``secret`` parameters, access/refresh/id tokens, OAuth and js codes,
``session_key``, ``Authorization`` and ``Cookie`` header values, and anything shaped like a JWT.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

__all__ = [
    "JsonFormatter",
    "RedactingFilter",
    "client_var",
    "configure_logging",
    "current_client",
    "redact",
    "request_id_var",
]

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

#: Who is on the other end of the request being served: a zero-argument callable returning
#: ``(client address, User-Agent)``, set lazily by the server middleware (computed only when
#: asked: session records and audit entries read it, the proxy's hot path never does).
client_var: contextvars.ContextVar[Callable[[], tuple[str, str]] | None] = contextvars.ContextVar(
    "client", default=None
)


def current_client() -> tuple[str, str]:
    """``(client address, User-Agent)`` of the request being served (``("", "")`` outside
    one, e.g. in the CLI), each bounded in length."""
    facts = client_var.get()
    if facts is None:
        return "", ""
    address, agent = facts()
    return address[:64], agent[:256]


MASK = "[redacted]"

# names whose values are secret wherever they appear (query string, form, JSON, key=value)
_SECRET_NAMES = (
    r"secret|appsecret|client_secret|session_key|access_token|refresh_token|id_token|token"
    r"|js_code|code|password|encryptedData|encrypted_data|iv|signature|ticket_secret|binding"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # JSON: "name": "value"
    (re.compile(rf'("(?:{_SECRET_NAMES})"\s*:\s*")[^"]*(")', re.IGNORECASE), rf"\1{MASK}\2"),
    # query strings, forms, key=value / key: value text
    (
        re.compile(rf"(?<![A-Za-z0-9_])((?:{_SECRET_NAMES})\s*[=:]\s*)[^&\s,;\"'}}]+", re.I),
        rf"\1{MASK}",
    ),
    # HTTP headers
    (re.compile(r"((?:authorization|proxy-authorization)\s*[:=]\s*)[^\r\n,]+", re.I), rf"\1{MASK}"),
    (re.compile(r"((?:cookie|set-cookie)\s*[:=]\s*)[^\r\n]+", re.I), rf"\1{MASK}"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I), rf"\1{MASK}"),
    # anything shaped like a JWT / JWS compact serialization
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), MASK),
)


def redact(text: str) -> str:
    """``text`` with every secret-looking value replaced by ``[redacted]``."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


class RedactingFilter(logging.Filter):
    """Rewrites the record in place so no handler ever sees an unredacted secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None if record.exc_text else record.exc_info
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in line:
                line[key] = value
        if record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """Send every log record of the process, redacted, as JSON lines to ``stream`` (stdout)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_wxgate", False):
            root.removeHandler(old)
    handler._wxgate = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiohttp.access").disabled = True  # the gateway writes its own access log
    return handler

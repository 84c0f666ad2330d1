"""``server/health``, ``server/metrics`` and this description itself."""

from __future__ import annotations

from gateway.config import Config
from gateway.server.openapi.spec import Paths, json_content, op, responses

__all__ = ["paths"]

_TAG = "operations"


def paths(config: Config) -> Paths:
    status = {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}},
    }
    found: Paths = {
        "/healthz": {"get": op("Liveness", _TAG, responses(
            _200={"description": "the process serves", "content": json_content(status)}))},
        "/readyz": {"get": op("Readiness: store, users and signing key", _TAG, responses(
            _200={"description": "ready", "content": json_content(status)},
            _503={"description": "a dependency fails; `failing` names it",
                  "content": json_content(status)}))},
        "/openapi.json": {"get": op("This description (OpenAPI 3.1)", _TAG, responses(
            _200={"description": "the document",
                  "content": json_content({"type": "object"})}))},
    }  # fmt: skip
    if config.metrics.enabled and config.metrics.main_listener:
        text = {"text/plain": {"schema": {"type": "string"}}}
        found[config.metrics.path] = {
            "get": op("Prometheus metrics (main listener)", _TAG, responses(
                _200={"description": "text exposition format", "content": text}))
        }  # fmt: skip
    return found

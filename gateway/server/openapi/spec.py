"""The vocabulary every room's description is written in: plain dicts of OpenAPI 3.1, no
aiohttp. A room module builds its operations with these helpers and refers to the shared
components (the error body, the token pair, the standard error responses) by ``$ref``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ANY_METHODS",
    "COMPONENTS",
    "HTML",
    "JSON_ERROR",
    "Operation",
    "PathItem",
    "Paths",
    "error",
    "form_or_json",
    "json_body",
    "json_content",
    "op",
    "param",
    "ref",
    "responses",
]

Schema = dict[str, Any]
Operation = dict[str, Any]
PathItem = dict[str, Operation | list[Any]]
Paths = dict[str, PathItem]

# The methods an aiohttp ``"*"`` route answers that OpenAPI names (TRACE and CONNECT are
# refused before any handler runs).
ANY_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")

HTML: dict[str, Any] = {"text/html": {"schema": {"type": "string"}}}
JSON_ERROR: dict[str, Any] = {
    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def json_body(schema: Schema, *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": json_content(schema)}


def form_or_json(schema: Schema, *, required: bool = True) -> dict[str, Any]:
    """A body of string parameters, form-encoded (RFC 6749 §3.2) or a JSON object."""
    return {
        "required": required,
        "content": {
            "application/x-www-form-urlencoded": {"schema": schema},
            "application/json": {"schema": schema},
        },
    }


def param(name: str, where: str = "query", *, required: bool = False, **schema: Any) -> Schema:
    """A parameter; its ``schema`` is a string unless ``type`` says otherwise."""
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": {"type": "string", **schema},
    }


def responses(*errors: int, **ok: dict[str, Any]) -> dict[str, Any]:
    """``ok`` maps a status (``_200``) to its response object; ``errors`` are statuses of the
    shared error responses in ``COMPONENTS``."""
    found: dict[str, Any] = {key.lstrip("_"): value for key, value in ok.items()}
    for status in errors:
        found[str(status)] = {"$ref": f"#/components/responses/{_ERRORS[status][0]}"}
    return found


def error(status: int, description: str) -> dict[str, Any]:
    """A JSON error response of ``status`` whose description names its machine codes (where
    the shared one of ``responses`` says too little, e.g. ``account_disabled``)."""
    return _error_response(status, description)


def op(summary: str, tag: str, answers: dict[str, Any], **more: Any) -> Operation:
    """One operation: its summary, its tag (the room), its responses and anything else
    (``parameters``, ``requestBody``, ``security``, ``description``)."""
    return {"summary": summary, "tags": [tag], **more, "responses": answers}


# status -> (component name, description); every error body is the shared ``Error``.
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Malformed request (`invalid_request` and the OAuth 2.0 codes)"),
    401: ("Unauthorized", "Missing or invalid credentials, with a `WWW-Authenticate` challenge"),
    403: ("Forbidden", "Authenticated but not allowed"),
    404: ("NotFound", "No such resource"),
    405: ("MethodNotAllowed", "Method not allowed on this resource"),
    409: ("Conflict", "The resource is not in a state that allows this"),
    413: ("PayloadTooLarge", "Body larger than `server.max_body_bytes`"),
    429: ("TooManyRequests", "An abuse limit was reached (see `[limits]`); retry after"),
    502: ("BadGateway", "An upstream or WeChat failed"),
    503: ("Unavailable", "A dependency (store, users, WeChat) is unavailable"),
    504: ("GatewayTimeout", "An upstream or WeChat did not answer in time"),
}


def _error_response(status: int, description: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": JSON_ERROR}
    if status in (429, 503):  # 503: while a WeChat API's circuit is open
        response["headers"] = {
            "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
        }
    return response


COMPONENTS: dict[str, Any] = {
    "schemas": {
        "Error": {
            "type": "object",
            "description": "Every error the gateway answers with (pages aside)",
            "required": ["error", "error_description"],
            "properties": {
                "error": {"type": "string", "description": "machine code"},
                "error_description": {"type": "string"},
                "request_id": {"type": "string"},
            },
        },
        "TokenPair": {
            "type": "object",
            "required": ["access_token", "token_type", "expires_in"],
            "properties": {
                "access_token": {"type": "string"},
                "token_type": {"type": "string"},
                "expires_in": {"type": "integer"},
                "refresh_token": {"type": "string"},
                "id_token": {"type": "string"},
                "scope": {"type": "string"},
            },
        },
        "TicketState": {
            "type": "object",
            "required": ["state", "ticket"],
            "properties": {
                "state": {"type": "string"},
                "ticket": {"type": "string"},
                "seq": {"type": "integer"},
                "expires_in": {"type": ["number", "integer"]},
            },
        },
    },
    "responses": {name: _error_response(status, text) for status, (name, text) in _ERRORS.items()},
    "securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "session": {"type": "apiKey", "in": "cookie", "name": "wxgate_session"},
        "client": {"type": "http", "scheme": "basic"},
    },
}

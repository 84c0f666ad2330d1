"""Reading request bodies: JSON or form, with clear 400s and the configured size limit.

Every way a client can make a body unreadable is a 400 ``invalid_request``, never a 500: a body
that does not match its ``Content-Encoding`` (aiohttp decodes gzip/deflate/br while reading and
raises ``RequestPayloadError``), JSON nested deeper than the parser's recursion limit, a form
that is not UTF-8, a multipart body without a boundary or with a malformed part.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage

from gateway.errors import InvalidRequest, PayloadTooLarge

__all__ = ["body_error", "read_json", "read_params"]


def _undecodable() -> InvalidRequest:
    # aiohttp closes the connection after such a body (what is left of it cannot be parsed),
    # so the client is told not to reuse it.
    return InvalidRequest(
        "the request body could not be read (does it match its Content-Encoding?)",
        headers={"Connection": "close"},
    )


def body_error(exc: BaseException) -> InvalidRequest | None:
    """The 400 for ``exc`` when it was caused by a request body aiohttp could not read (the
    proxy's upload stream failing on it, say), else None: the client's fault, not a 5xx."""
    if isinstance(exc, web.RequestPayloadError) or isinstance(
        exc.__cause__, web.RequestPayloadError
    ):
        return _undecodable()
    return None


async def _read(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge() from exc
    except web.RequestPayloadError as exc:
        raise _undecodable() from exc


async def _form_params(request: web.Request) -> dict[str, str]:
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge() from exc
    except web.RequestPayloadError as exc:
        raise _undecodable() from exc
    except (ValueError, BadHttpMessage) as exc:  # not UTF-8 (a ValueError), bad multipart
        raise InvalidRequest("the form body is malformed") from exc
    params: dict[str, str] = {}
    for key, value in form.items():
        if key in params:
            raise InvalidRequest(f"parameter {key!r} is repeated")
        if not isinstance(value, str):
            raise InvalidRequest(f"parameter {key!r} must not be a file")
        params[key] = value
    return params


async def read_json(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; 400 ``invalid_request`` if it is not one."""
    raw = await _read(request)
    if not raw.strip():
        raise InvalidRequest("request body must be a JSON object")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise InvalidRequest("request body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    return data


async def read_params(request: web.Request) -> dict[str, str]:
    """Parameters from a form-encoded body (RFC 6749 §3.2) or a JSON object.

    Repeated form parameters are refused (RFC 6749 §3.1); JSON values must be strings.
    """
    if request.content_type == "application/json":
        data = await read_json(request)
        if not all(isinstance(v, str) for v in data.values()):
            raise InvalidRequest("every parameter must be a string")
        return {str(k): str(v) for k, v in data.items()}
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        if request.body_exists:
            raise InvalidRequest("use application/x-www-form-urlencoded or application/json")
        return {}
    return await _form_params(request)

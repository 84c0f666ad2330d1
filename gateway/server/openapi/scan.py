"""``server/scan``: flow D, the gateway's own scan-login (tickets, their three ways to wait,
images, the phone's pages and API, the PC's login page)."""

from __future__ import annotations

from typing import Any

from gateway.config import Config
from gateway.server.openapi.spec import (
    HTML,
    JSON_ERROR,
    Paths,
    error,
    form_or_json,
    json_content,
    op,
    param,
    ref,
    responses,
)

__all__ = ["paths"]

_TAG = "scan"
_TICKET = param("ticket", "path")
_CREATE_FLOW = param("flow", enum=["scan", "follow"])
_STATE: dict[str, Any] = {
    "description": "the ticket's state",
    "content": json_content(ref("TicketState")),
}
# a page for a browser (WeChat's, the PC's), or the JSON error for an API client
_PAGE_ERROR = {"description": "refused (page or JSON error)", "content": {**JSON_ERROR, **HTML}}
_REDIRECT = {"description": "to the login or confirm page"}


def _image(kind: str) -> dict[str, Any]:
    return {"description": "the image", "content": {kind: {"schema": {"type": "string"}}}}


def paths(config: Config) -> Paths:
    del config
    ticket = {
        "type": "object",
        "required": ["ticket", "flow", "expires_in", "qr_content", "image_url", "events_url",
                     "ws_url", "status_url", "image_svg_url", "redeem_url"],
        "properties": {"ticket": {"type": "string"}, "flow": _CREATE_FLOW["schema"],
                       "expires_in": {"type": "integer"},
                       **{url: {"type": "string"} for url in (
                           "qr_content", "image_url", "events_url", "ws_url", "status_url",
                           "image_svg_url", "redeem_url", "wxacode_url")}},
    }  # fmt: skip
    redeemed = {"allOf": [ref("TokenPair"), {"type": "object", "required": ["return_to"]}]}
    action = op(
        "",
        _TAG,
        responses(_200=_STATE, **{"_4XX": _PAGE_ERROR}),
        requestBody=form_or_json(
            {"type": "object", "properties": {"csrf": {"type": "string"}}}, required=False
        ),
        parameters=[_TICKET],
        security=[{"bearer": []}, {"session": []}],
    )
    images = {"png": "image/png", "svg": "image/svg+xml"}
    return {
        "/auth/qr": {"post": op("Create a ticket (PC): scan-login (D) or follow-login (E)",
            _TAG, responses(400, 413, 429, 502, 504, _404=error(404, "`not_found`: no app "
                "offers follow-login (by that `app` name)"), _503=error(503,
                "`follow_login_unavailable`: WeChat refuses parametric QR codes for the "
                "account (48001); `temporarily_unavailable`"),
                _200={"description": "the ticket and its URLs", "content": json_content(ticket)}),
            parameters=[param("return_to"), _CREATE_FLOW, param("app")],
            requestBody=form_or_json({"type": "object", "properties": {
                "return_to": {"type": "string"}, "flow": _CREATE_FLOW["schema"],
                "app": {"type": "string"}}}, required=False))},
        "/auth/qr/{ticket}/redeem": {"post": op("Redeem a confirmed ticket, once", _TAG,
            responses(404, 409, 429, 503, _200={"description": "tokens",
                      "content": json_content(redeemed)}, _403=error(403,
                      "`access_denied` (another browser's ticket), `account_disabled`")),
            parameters=[_TICKET])},
        "/auth/qr/{ticket}/ws": {"get": op("Wait by WebSocket", _TAG, responses(
            400, 404, 429, _101={"description": "switching to WebSocket"}),
            parameters=[_TICKET])},
        "/auth/qr/{ticket}/events": {"get": op("Wait by Server-Sent Events", _TAG, responses(
            400, 404, 429,
            _200={"description": "the event stream",
                  "content": {"text/event-stream": {"schema": {"type": "string"}}}},
            _204={"description": "a final state was already seen"}),
            parameters=[_TICKET, param("last_event_id"), param("Last-Event-ID", "header")])},
        "/auth/qr/{ticket}/status": {"get": op("Wait by long-poll", _TAG, responses(
            400, 404, 429, _200=_STATE),
            parameters=[_TICKET, param("wait", type="number"), param("after")])},
        "/auth/qr/{ticket}/image.{kind}": {"get": op("The ticket's QR code", _TAG, responses(
            404, 429, _200={"description": "the QR code", "content": {
                v: {"schema": {"type": "string"}} for v in images.values()}}),
            parameters=[_TICKET, param("kind", "path", enum=list(images))])},
        "/auth/qr/{ticket}/wxacode.png": {"get": op("The ticket's mini-program code", _TAG,
            responses(404, 429, 502, 503, _200=_image("image/png")), parameters=[_TICKET])},
        "/auth/qr/{ticket}/scan": {
            "get": op("The phone scanned in WeChat's browser", _TAG, responses(
                _302=_REDIRECT, _200={"description": "a message page", "content": HTML},
                **{"_4XX": _PAGE_ERROR}), parameters=[_TICKET], security=[{}, {"session": []}]),
            "post": {**action, "summary": "The mini-program scanned", "security": [{"bearer": []}]},
        },
        "/auth/qr/{ticket}/confirm": {
            "get": op("The phone's confirm page", _TAG, responses(
                _302=_REDIRECT, _200={"description": "the confirm page", "content": HTML},
                **{"_4XX": _PAGE_ERROR}), parameters=[_TICKET], security=[{"session": []}]),
            "post": {**action, "summary": "Confirm the login (bearer, or form + CSRF)",
                     "responses": {**action["responses"],
                                   "200": {"description": "the state, or a page for a form",
                                           "content": {**_STATE["content"], **HTML}}}},
        },
        "/auth/qr/{ticket}/deny": {"post": {**action, "summary": "Deny the login",
            "responses": {**action["responses"], "200": {
                "description": "the state, or a page for a form",
                "content": {**_STATE["content"], **HTML}}}}},
        "/auth/login": {"get": op("The PC's login page", _TAG, responses(
            _200={"description": "the page", "content": HTML}),
            parameters=[param("return_to"), param("transport", enum=["ws", "sse", "poll"])])},
        "/auth/login/assets/{name}": {"get": op("The login page's assets", _TAG, responses(
            404, _200={"description": "a script or stylesheet", "content": {
                "application/javascript": {"schema": {"type": "string"}},
                "text/css": {"schema": {"type": "string"}}}},
            _304={"description": "unchanged"}), parameters=[param("name", "path")])},
    }  # fmt: skip

"""The decision's refusals, with their RFC 6750 §3 challenges."""

from __future__ import annotations

from gateway.errors import InsufficientScope, InvalidToken
from gateway.tokens import bearer_challenge

__all__ = ["AuthenticationRequired", "insufficient_scope"]

_NO_TOKEN = bearer_challenge(error=None)


class AuthenticationRequired(InvalidToken):
    """401 ``invalid_token`` on a policy that requires authentication.

    ``presented`` tells whether a credential came with the request (the challenge then names
    ``error="invalid_token"``, RFC 6750 §3.1); ``rejection`` is the token service's typed
    refusal when there was one (its description, e.g. "expired", reaches the client);
    ``clear_cookie`` tells that the session cookie presented is dead.
    """

    def __init__(
        self,
        *,
        presented: bool,
        rejection: InvalidToken | None = None,
        clear_cookie: bool = False,
    ) -> None:
        if rejection is not None:
            super().__init__(rejection.description, headers=dict(rejection.headers))
        elif presented:
            description = "the access token is invalid or expired"
            super().__init__(description, headers=bearer_challenge())
        else:
            super().__init__("authentication required", headers=dict(_NO_TOKEN))
        self.presented = presented
        self.clear_cookie = clear_cookie  # the session is dead: the browser forgets the cookie


def insufficient_scope(detail: str) -> InsufficientScope:
    """403 ``insufficient_scope``: a valid token that does not reach this resource."""
    return InsufficientScope(detail, headers=bearer_challenge(error="insufficient_scope"))

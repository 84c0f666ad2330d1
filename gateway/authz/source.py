"""Where access tokens get the user's roles: the user directory, read at each token minted."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection

from gateway.users import UserDirectory

__all__ = ["directory_roles"]


def directory_roles(users: UserDirectory) -> Callable[[str], Awaitable[Collection[str]]]:
    """The roles source of ``TokenService.use_roles``: the stored roles of ``sub`` (none for
    a subject that is not a user, such as a token minted by ``wxgate token``)."""

    async def roles_of(sub: str) -> Collection[str]:
        user = await users.get(sub)
        return user.roles if user is not None else ()

    return roles_of

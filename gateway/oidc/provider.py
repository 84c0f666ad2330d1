"""``Provider``: the OpenID Provider's core, no web framework.

The server's ``/auth/authorize`` room decides *who* is in the browser (the wxgate session) and
shows the login or consent page; everything else is here: checking requests, codes, the token
endpoint's grants, ID tokens, UserInfo claims by scope, and the client side of logout.

Sessions: a client's tokens live in a session of their own (a refresh family bound to the
client: ``tokens.SessionClient``), linked to the browser session it was authorized in, so
ending the browser session ends every client session it started (and back-channel logout tells
each client). The ID token's ``sid`` is the client session's id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from gateway.clock import Clock
from gateway.config import Config
from gateway.errors import InvalidGrant, InvalidRequest
from gateway.oidc.authorization import AuthorizationRequest, parse_authorization
from gateway.oidc.claims import id_token_claims, pairwise_subject, scoped_claims
from gateway.oidc.clients import Client, ClientRegistry
from gateway.oidc.codes import CodeStore, Grant
from gateway.oidc.consent import ConsentStore
from gateway.oidc.discovery import openid_configuration
from gateway.oidc.errors import InvalidScope, UnauthorizedClient
from gateway.store import Store
from gateway.tokens import AccessClaims, SessionClient, TokenPair, TokenService
from gateway.users import UserDirectory

__all__ = ["AMR_OF_FLOW", "BrowserLogin", "Provider", "new_session_id"]

# the login page's ways in (``login_flows``) and the amr their sessions carry
AMR_OF_FLOW = {
    "scan": "wechat_scan",
    "web": "wechat_qr",
    "mp": "wechat_mp",
    "miniprogram": "wechat_mini",
}
ID_TOKEN_TTL = 3600


def new_session_id() -> str:
    """A fresh 128-bit session id (the client session a code will start)."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True, slots=True)
class BrowserLogin:
    """The person logged in in the browser (the wxgate session's access-token claims)."""

    sub: str
    sid: str
    amr: tuple[str, ...]
    auth_time: float
    appid: str | None
    openid: str | None
    unionid: str | None

    @classmethod
    def of(cls, claims: AccessClaims) -> BrowserLogin:
        auth_time = claims.raw.get("auth_time", claims.iat)
        return cls(
            sub=claims.sub,
            sid=claims.sid,
            amr=claims.amr,
            auth_time=float(auth_time) if isinstance(auth_time, int | float) else claims.iat,
            appid=claims.appid,
            openid=claims.openid,
            unionid=claims.unionid,
        )


class Provider:
    """The OpenID Provider for one application."""

    def __init__(
        self,
        config: Config,
        store: Store,
        tokens: TokenService,
        users: UserDirectory,
        clock: Clock,
    ) -> None:
        self.clients = ClientRegistry(config.oidc)
        self.issuer = config.issuer
        self._config = config
        self._tokens = tokens
        self._users = users
        self._clock = clock
        self._codes = CodeStore(store, config.oidc.code_ttl)
        self.consents = ConsentStore(store, config.oidc.consent_ttl)

    # -- the authorization endpoint ----------------------------------------------------------

    def parse(self, params: dict[str, str]) -> AuthorizationRequest:
        """The checked request; AuthorizeError otherwise (see ``authorization``)."""
        return parse_authorization(params, self.clients)

    def needs_login(self, request: AuthorizationRequest, login: BrowserLogin | None) -> bool:
        """No session, a session older than ``max_age``, or one through a way in the client
        does not accept: the person must log in (again)."""
        if login is None:
            return True
        if request.max_age is not None and self._clock.time() - login.auth_time > request.max_age:
            return True
        flows = request.client.config.login_flows
        return bool(flows) and not any(AMR_OF_FLOW.get(f) in login.amr for f in flows)

    async def needs_consent(self, request: AuthorizationRequest, login: BrowserLogin) -> bool:
        """Third-party clients ask once per person, client and scope set (remembered)."""
        if request.client.config.first_party:
            return False
        if "consent" in request.prompt:
            return True
        return not await self.consents.covers(login.sub, request.client.client_id, request.scopes)

    async def issue_code(self, request: AuthorizationRequest, login: BrowserLogin,
                         *, redirect_given: bool) -> str:  # fmt: skip
        """The success redirect (RFC 6749 §4.1.2, RFC 9207): ``code``, ``state``, ``iss``."""
        grant = Grant(
            client_id=request.client.client_id,
            redirect_uri=request.redirect_uri,
            redirect_given=redirect_given,
            scope=request.scope,
            code_challenge=request.code_challenge,
            nonce=request.nonce,
            sub=login.sub,
            amr=login.amr,
            auth_time=login.auth_time,
            op_sid=login.sid,
            sid=new_session_id(),
            appid=login.appid,
            openid=login.openid,
            unionid=login.unionid,
        )
        code = await self._codes.issue(grant)
        return self.response_url(request.redirect_uri, {"code": code, "state": request.state})

    def response_url(
        self, redirect_uri: str, params: Mapping[str, str | None], *, iss: bool = True
    ) -> str:
        """``redirect_uri`` with ``params`` (None values left out) and, for authorization
        responses, ``iss`` (RFC 9207) added to its query (RFC 6749 §4.1.2: its own query is
        kept)."""
        extra = {"iss": self.issuer} if iss else {}
        query = urlencode({k: v for k, v in {**params, **extra}.items() if v})
        if not query:
            return redirect_uri
        sep = "&" if urlsplit(redirect_uri).query else "?"
        return f"{redirect_uri}{sep}{query}"

    # -- the token endpoint -----------------------------------------------------------------

    async def exchange_code(
        self, client: Client, code: str, redirect_uri: str | None, verifier: str | None
    ) -> dict[str, Any]:
        """RFC 6749 §4.1.3 + OIDC Core §3.1.3: tokens and an ID token for a code."""
        if not client.allows_grant("authorization_code"):
            raise UnauthorizedClient()
        redeemed = await self._codes.redeem(code)
        if redeemed.grant is None:
            if redeemed.replayed_sid:  # §4.1.2: revoke what the code produced
                await self._tokens.revoke_session(redeemed.replayed_sid)
            raise InvalidGrant("the authorization code is invalid, expired or already used")
        grant = redeemed.grant
        if grant.client_id != client.client_id:
            raise InvalidGrant("the authorization code was issued to another client")
        if grant.redirect_given and redirect_uri != grant.redirect_uri:
            raise InvalidGrant("redirect_uri does not match the authorization request")
        _check_pkce(grant.code_challenge, verifier)
        scopes = tuple(grant.scope.split())
        pair = await self._tokens.issue_session(
            grant.sub,
            grant.amr,
            appid=grant.appid,
            openid=grant.openid,
            unionid=grant.unionid,
            scope=grant.scope,
            client=SessionClient(
                client.client_id, client.audience, grant.auth_time, grant.op_sid, grant.sid
            ),
        )
        id_token = await self._id_token(client, grant.sub, pair, grant.auth_time, grant.amr,
                                        scopes, nonce=grant.nonce)  # fmt: skip
        return self._token_response(client, pair, id_token, scopes)

    async def refresh(self, client: Client, refresh_token: str) -> dict[str, Any]:
        """RFC 6749 §6 for a client: rotation and reuse detection as for the gateway's own
        sessions; a refresh token only works for the client it was issued to; a new ID token
        (OIDC Core §12.2: same ``sub``, ``auth_time``, no ``nonce``)."""
        if not client.allows_grant("refresh_token"):
            raise UnauthorizedClient()
        pair = await self._tokens.refresh(refresh_token, client.client_id)
        session = await self._tokens.get_session(pair.sid)
        if session is None:
            raise InvalidGrant()
        scopes = tuple(session.scope.split())
        auth_time = float(session.auth_time or session.created_at)
        id_token = None
        if "openid" in scopes:
            id_token = await self._id_token(client, session.sub, pair, auth_time, session.amr,
                                            scopes, nonce=None)  # fmt: skip
        return self._token_response(client, pair, id_token, scopes)

    def client_credentials(self, client: Client, scope: str | None) -> dict[str, Any]:
        """RFC 6749 §4.4: a confidential client's own access token; no refresh token."""
        if client.public or not client.allows_grant("client_credentials"):
            raise UnauthorizedClient()
        requested = tuple(dict.fromkeys((scope or "").split()))
        allowed = set(client.config.scopes) - {"openid", "offline_access"}
        if any(s not in allowed for s in requested):
            raise InvalidScope()
        token, expires_in = self._tokens.issue_client_token(
            client.client_id, client.audience, " ".join(requested) or None
        )
        body: dict[str, Any] = {"access_token": token, "token_type": "Bearer",
                                "expires_in": expires_in}  # fmt: skip
        if requested:
            body["scope"] = " ".join(requested)
        return body

    def _token_response(
        self, client: Client, pair: TokenPair, id_token: str | None, scopes: tuple[str, ...]
    ) -> dict[str, Any]:
        """OIDC Core §3.1.3.3; a refresh token only for a client allowed to use one."""
        body = pair.as_response()
        if not client.allows_grant("refresh_token"):
            del body["refresh_token"]
        body["scope"] = " ".join(scopes)
        if id_token is not None:
            body["id_token"] = id_token
        return body

    async def _id_token(
        self,
        client: Client,
        sub: str,
        pair: TokenPair,
        auth_time: float,
        amr: tuple[str, ...],
        scopes: tuple[str, ...],
        *,
        nonce: str | None,
    ) -> str:
        known = await self._known_claims(sub)
        claims = id_token_claims(
            issuer=self.issuer,
            sub=self.subject_for(client, sub),
            client_id=client.client_id,
            now=self._clock.time(),
            ttl=ID_TOKEN_TTL,
            auth_time=auth_time,
            sid=pair.sid,
            amr=amr,
            nonce=nonce,
            access_token=pair.access_token,
            extra=scoped_claims(scopes, known, self._config.authz.roles_claim),
        )
        token, _ = self._tokens.sign_jwt(claims, "JWT")
        return token

    # -- subjects and claims -----------------------------------------------------------------

    def subject_for(self, client: Client, sub: str) -> str:
        """The ``sub`` the client sees: the user's own, or a pairwise one (OIDC Core §8.1)."""
        if client.config.subject_type != "pairwise":
            return sub
        return pairwise_subject(_sector(client), sub, self._config.oidc.pairwise_salt)

    async def _known_claims(self, sub: str) -> dict[str, Any]:
        user = await self._users.get(sub)
        if user is None:
            return {}
        first = user.identities[0] if user.identities else None
        return {
            "nickname": user.nickname,
            "picture": user.avatar_url,
            "phone_number": user.phone,
            "unionid": user.unionid,
            "openid": first.openid if first else None,
            "appid": first.appid if first else None,
            "roles": sorted(user.roles)[: self._config.authz.max_roles],
        }

    async def userinfo(self, claims: AccessClaims) -> dict[str, Any] | None:
        """OIDC Core §5.3 for a client's access token: ``sub`` (as that client sees it) and
        the claims its scopes allow. None when the token is not a client's."""
        client = self.clients.get(str(claims.raw.get("client_id", "")))
        if client is None:
            return None
        known = await self._known_claims(claims.sub)
        known.update({k: v for k, v in (("appid", claims.appid), ("openid", claims.openid),
                                         ("unionid", claims.unionid)) if v})  # fmt: skip
        return {"sub": self.subject_for(client, claims.sub),
                **scoped_claims(claims.scopes, known, self._config.authz.roles_claim)}  # fmt: skip

    def discovery(self, public_url: str) -> dict[str, Any]:
        """The provider's metadata (``discovery``), endpoints under ``public_url``."""
        return openid_configuration(self._config, public_url)


def _sector(client: Client) -> str:
    """The sector identifier: the redirect URIs' host (one host for every URI is enforced by
    check-config for pairwise clients)."""
    uris = client.config.redirect_uris
    return urlsplit(uris[0]).hostname or client.client_id if uris else client.client_id


def _check_pkce(challenge: str | None, verifier: str | None) -> None:
    """RFC 7636 §4.6: ``BASE64URL(SHA256(ASCII(code_verifier)))`` equals the challenge."""
    if challenge is None:
        if verifier:  # a verifier for a request without a challenge: refuse (RFC 9700 §2.1.1)
            raise InvalidGrant("code_verifier without a code_challenge in the request")
        return
    if not verifier:
        raise InvalidRequest("code_verifier is required")
    if not (43 <= len(verifier) <= 128) or not _VERIFIER_CHARS.issuperset(verifier):
        raise InvalidGrant("code_verifier is malformed")
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    if not hmac.compare_digest(computed, challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")


_VERIFIER_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

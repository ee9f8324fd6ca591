"""Identity provider for people: a sandbox stand-in for NHS CIS2 (Care Identity Service 2).

OpenID Connect, authorization code flow with PKCE (S256 required), built on Authlib's
authorization server: discovery (`/.well-known/openid-configuration`), `/authorize` (a
simple sign-in form), `/token`, `/jwks.json` and `/userinfo`. ID tokens are RS256.

Like CIS2, a person's roles travel in the `nhsid_nrbac_roles` claim (scope
`nationalrbacaccess`), one entry per role with its `role_name` and `org_code`; the sandbox's
roles are the console's own words, `call-handler` and `provider-staff`.

Everything is held in memory: codes live 60 s and are single use, access tokens an hour.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode, UserInfo
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from uec_booking.spine.identity_accounts import (
    ROLES,
    SCOPES,
    OidcClient,
    Person,
    people_from_directory,
)
from uec_booking.spine.identity_pages import error_page, sign_in_page

__all__ = [
    "ROLES",
    "IdentityServer",
    "OidcClient",
    "Person",
    "create_app",
    "people_from_directory",
    "user_info",
]
CODE_LIFETIME_S = 60
TOKEN_LIFETIME_S = 3600


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    person: Person
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd"]

    def is_expired(self) -> bool:
        return time.time() > self.expires_at


@dataclass
class AccessToken:
    person: Person
    scope: str
    expires_at: float


class _Request(OAuth2Request):  # type: ignore[misc]
    """An OAuth2Request from a Starlette request whose query and form were already read."""

    def __init__(self, method: str, uri: str, headers: Any, data: dict[str, str]) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = BasicOAuth2Payload(data)
        self._data = data

    @property
    def args(self) -> dict[str, str]:
        return self._data

    @property
    def form(self) -> dict[str, str]:
        return self._data


class _CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.server.codes[code] = AuthorizationCode(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.client.get_allowed_scope(request.payload.scope),
            person=request.user,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            auth_time=int(time.time()),
            expires_at=time.time() + CODE_LIFETIME_S,
        )

    def query_authorization_code(self, code: str, client: OidcClient) -> AuthorizationCode | None:
        found: AuthorizationCode | None = self.server.codes.get(code)
        if found and found.client_id == client.client_id and not found.is_expired():
            return found
        return None

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        self.server.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Person:
        return authorization_code.person


class _PkceChallenge(CodeChallenge):  # type: ignore[misc]
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # "plain" adds nothing over no PKCE

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        # Authlib lets confidential clients skip PKCE; here every client must use S256
        # (RFC 9700 §2.1.1), so every code has a challenge and every exchange a verifier.
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError(
                "PKCE is required: send code_challenge with code_challenge_method=S256",
                redirect_uri=redirect_uri,
            )
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: AuthorizationCode) -> Any:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: AuthorizationCode) -> Any:
        return authorization_code.code_challenge_method


def user_info(person: Person, scope: str) -> UserInfo:
    claims: dict[str, Any] = {"sub": person.sub}
    scopes = scope.split()
    if "profile" in scopes:
        claims["name"] = person.name
        claims["preferred_username"] = person.username
    if "nationalrbacaccess" in scopes:
        claims["nhsid_nrbac_roles"] = [
            {"role_name": role, "org_code": person.org_code, "person_roleid": f"{person.sub}-{i}"}
            for i, role in enumerate(person.roles)
        ]
    return UserInfo(claims)


class _OpenIdCode(OpenIDCode):  # type: ignore[misc]
    def __init__(self, server: IdentityServer) -> None:
        super().__init__(require_nonce=True)
        self._server = server

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return any(c.nonce == nonce for c in self._server.codes.values())

    def resolve_client_private_key(self, client: OidcClient) -> RSAKey:
        return self._server.key

    def get_client_algorithm(self, client: OidcClient) -> str:
        return "RS256"

    def get_client_claims(self, client: OidcClient) -> dict[str, Any]:
        return {"iss": self._server.issuer, "aud": [client.client_id]}

    def get_encode_header(self, client: OidcClient) -> dict[str, str]:
        return {"alg": "RS256", "kid": self._server.key.kid or ""}

    def generate_user_info(self, user: Person, scope: str) -> UserInfo:
        return user_info(user, scope)


class IdentityServer(AuthorizationServer):  # type: ignore[misc]
    """Authlib's authorization server over in-memory people, clients, codes and tokens."""

    def __init__(self, *, issuer: str, people: list[Person], clients: list[OidcClient]) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.issuer = issuer.rstrip("/")
        self.people = {p.username: p for p in people}
        self.clients = {c.client_id: c for c in clients}
        self.codes: dict[str, AuthorizationCode] = {}
        self.tokens: dict[str, AccessToken] = {}
        self.key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
        self.key.ensure_kid()
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                lambda *a, **k: secrets.token_urlsafe(32), expires_generator=_token_expiry
            ),
        )
        self.register_grant(_CodeGrant, [_PkceChallenge(required=True), _OpenIdCode(self)])

    def query_client(self, client_id: str) -> OidcClient | None:
        return self.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.tokens[token["access_token"]] = AccessToken(
            request.user, token.get("scope", ""), time.time() + TOKEN_LIFETIME_S
        )

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        if isinstance(body, dict):
            return JSONResponse(body, status, headers=dict(headers))
        return Response(body, status, headers=dict(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    @property
    def redirect_uris(self) -> list[str]:
        return [u for c in self.clients.values() for u in c.redirect_uris]

    def metadata(self) -> dict[str, Any]:
        """The discovery document (OpenID Connect Discovery 1.0 §3)."""
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/jwks.json",
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "name", "preferred_username", "nhsid_nrbac_roles"],
        }


def _token_expiry(client: Any, grant_type: str) -> int:
    return TOKEN_LIFETIME_S


async def _oauth_request(request: Request) -> _Request:
    data = dict(request.query_params)
    if request.method == "POST":
        form = await request.form()
        data.update({k: str(v) for k, v in form.items()})
    return _Request(request.method, str(request.url), request.headers, data)


def create_app(server: IdentityServer) -> Starlette:
    """The identity provider's ASGI app."""

    async def discovery(request: Request) -> JSONResponse:
        return JSONResponse(server.metadata())

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse({"keys": [server.key.as_dict(private=False)]})

    async def authorize(request: Request) -> Response:
        oauth = await _oauth_request(request)
        try:
            grant = server.get_consent_grant(request=oauth)
        except OAuth2Error as exc:
            # No redirect to a URI that failed validation: the person sees the error here.
            return error_page(exc)
        if request.method == "GET":
            return sign_in_page(oauth.args, server.redirect_uris)
        person = server.people.get(oauth.args.get("username", ""))
        password = oauth.args.get("password", "")
        if person is None or not await run_in_threadpool(person.check, password):
            return sign_in_page(
                oauth.args, server.redirect_uris, "The username or password is not right."
            )
        response: Response = server.create_authorization_response(
            request=oauth, grant_user=person, grant=grant
        )
        return response

    async def token(request: Request) -> Response:
        response: Response = server.create_token_response(await _oauth_request(request))
        return response

    async def userinfo(request: Request) -> JSONResponse:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        found = server.tokens.get(value) if scheme.lower() == "bearer" else None
        if found is None or found.expires_at < time.time():
            return JSONResponse(
                {"error": "invalid_token"},
                401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return JSONResponse(dict(user_info(found.person, found.scope)))

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/jwks.json", jwks),
            Route("/authorize", authorize, methods=["GET", "POST"]),
            Route("/token", token, methods=["POST"]),
            Route("/userinfo", userinfo, methods=["GET", "POST"]),
        ]
    )

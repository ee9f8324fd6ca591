"""NHS authentication stand-in: OAuth2 client credentials → RS256 JWT access tokens, JWKS for
verification (fs_authentication.md). Two ways to authenticate at the one token endpoint:

- the seed's: `client_id` + `client_secret` (form or HTTP Basic) and
  `scope=<provider service root URL>/.default`, minted only for registered providers;
- the NHS API platform's (PDS is on it): `client_assertion_type` jwt-bearer with an RS512
  `client_assertion` checked against the JWKS the client registered (`auth_platform`).

Errors as RFC 6749 §5.2 says, with the platform's texts for its flow. Wrong secrets are
throttled per client and per source address; scrypt runs in a worker thread, so nothing
else (a JWKS GET) waits behind it.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote_plus

import httpx
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from uec_booking.spine.auth_clients import (
    Client,
    ClientRegistry,
    FailureThrottle,
    ReplayCache,
    check_secret,
    hash_secret,
)
from uec_booking.spine.auth_keys import KeySet
from uec_booking.spine.auth_platform import (
    JWT_BEARER,
    PLATFORM_TOKEN_LIFETIME_S,
    TokenRefused,
    verify_assertion,
)

__all__ = [
    "JWT_BEARER",
    "Client",
    "ClientRegistry",
    "check_secret",
    "create_app",
    "hash_secret",
    "new_client_secret",
]

TOKEN_LIFETIME_S = 3600
DEFAULT_SCOPE_SUFFIX = "/.default"
TOKEN_PATH = "/oauth2/token"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _error(
    status: int,
    error: str,
    description: str,
    *,
    basic: bool = False,
    retry_after: int | None = None,
) -> JSONResponse:
    headers = dict(NO_STORE)
    if basic:
        headers["WWW-Authenticate"] = 'Basic realm="token"'
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    body = {"error": error, "error_description": description, "message_id": str(uuid.uuid4())}
    return JSONResponse(body, status, headers=headers)


class _MalformedBasic(ValueError):
    pass


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1: `Basic base64(urlencode(id):urlencode(secret))`, or None if absent."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise _MalformedBasic("the Basic credentials are not base64 of id:secret") from exc
    user, colon, password = decoded.partition(":")
    if not colon:
        raise _MalformedBasic("the Basic credentials have no ':' between id and secret")
    return unquote_plus(user), unquote_plus(password)


def create_app(
    *,
    issuer: str,
    clients: ClientRegistry,
    keys: KeySet | None = None,
    token_lifetime: int = TOKEN_LIFETIME_S,
    client_throttle: FailureThrottle | None = None,
    source_throttle: FailureThrottle | None = None,
    routes: Sequence[BaseRoute] = (),
    http: httpx.AsyncClient | None = None,
) -> Starlette:
    """The authentication service's ASGI app (`token_lifetime` shorter only in tests).

    `routes` are mounted beside the token endpoint (for example an OIDC provider for
    people: `create_app(..., routes=[Mount("/oidc", app=oidc_app)])`); they find the
    signing keys, the registry and the issuer on `request.app.state`."""
    keyset = keys or KeySet()
    # Wrong secrets: a few per client id, more per source address (many clients may share
    # one, behind a NAT), each in a one-minute sliding window.
    per_client = FailureThrottle(limit=10) if client_throttle is None else client_throttle
    per_source = FailureThrottle(limit=30) if source_throttle is None else source_throttle
    replays = ReplayCache()
    token_url = f"{issuer}{TOKEN_PATH}"
    # An unknown client costs the same hashing as a known one: no timing oracle for ids.
    decoy_hash = hash_secret(secrets.token_urlsafe(16))
    # Bound the hashing in flight: a flood of wrong secrets queues here, not in every thread.
    hashing = asyncio.Semaphore(4)

    def mint(claims: dict[str, Any]) -> str:
        key = keyset.active
        return jwt.encode(
            claims, key.private_key, algorithm="RS256", headers={"kid": key.kid, "x5t": key.x5t}
        )

    async def secret_ok(secret: str, client: Client | None) -> bool:
        stored = client.secret_hash if client and client.secret_hash else decoy_hash
        async with hashing:
            ok = await asyncio.to_thread(check_secret, secret, stored)
        return ok and client is not None and client.secret_hash is not None

    async def platform_token(form: dict[str, str]) -> JSONResponse:
        try:
            client = await verify_assertion(
                form, token_url=token_url, clients=clients, replays=replays, http=http
            )
        except TokenRefused as refused:
            return _error(refused.status, refused.error, refused.description)
        now = int(time.time())
        access_token = mint(
            {
                "iss": issuer,
                "sub": client.client_id,
                "aud": issuer,  # application-restricted: any API of this platform
                "iat": now,
                "nbf": now,
                "exp": now + min(token_lifetime, PLATFORM_TOKEN_LIFETIME_S),
                "jti": str(uuid.uuid4()),
                "client_id": client.client_id,
                "asid": client.asid,
                "ods": client.ods,
                "access": "application",
            }
        )
        # The platform's own response shape (AssignMessage.ClientCredentialsGenerateTokenResponse).
        body = {
            "access_token": access_token,
            "expires_in": str(min(token_lifetime, PLATFORM_TOKEN_LIFETIME_S)),
            "token_type": "Bearer",
            "issued_at": str(now * 1000),
        }
        return JSONResponse(body, headers=NO_STORE)

    async def token(request: Request) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        grant_type = form.get("grant_type")
        if not grant_type:
            return _error(400, "invalid_request", "grant_type is missing")
        if grant_type != "client_credentials":
            return _error(400, "unsupported_grant_type", "grant_type is invalid")
        if "client_assertion" in form or "client_assertion_type" in form:
            return await platform_token(form)
        try:
            basic = _basic_credentials(request)
        except _MalformedBasic as exc:
            return _error(401, "invalid_client", str(exc), basic=True)
        if basic and (form.get("client_secret") or form.get("client_id") not in (None, basic[0])):
            return _error(400, "invalid_request", "use one client authentication method, not two")
        client_id = basic[0] if basic else form.get("client_id", "")
        secret = basic[1] if basic else form.get("client_secret", "")
        if not client_id or not secret:
            return _error(
                401 if basic else 400,
                "invalid_client" if basic else "invalid_request",
                "client_id and client_secret are required",
                basic=basic is not None,
            )
        source = request.client.host if request.client else "?"
        waits = [
            w for w in (per_client.retry_after(client_id), per_source.retry_after(source)) if w
        ]
        if waits:
            wait = max(waits)
            return _error(
                429,
                "invalid_client",
                f"Too many failed attempts: try again in {wait} s",
                retry_after=wait,
            )
        client = clients.get(client_id)
        if not await secret_ok(secret, client):
            per_client.failed(client_id)
            per_source.failed(source)
            return _error(
                401, "invalid_client", "Client authentication failed", basic=basic is not None
            )
        assert client is not None
        scope = form.get("scope", "")
        if not scope.endswith(DEFAULT_SCOPE_SUFFIX) or len(scope) == len(DEFAULT_SCOPE_SUFFIX):
            return _error(400, "invalid_scope", "scope must be <provider FHIR base URL>/.default")
        audience = scope[: -len(DEFAULT_SCOPE_SUFFIX)].rstrip("/")
        if not clients.may_call(client, audience):
            return _error(
                400, "invalid_scope", f"{audience} is not a provider {client_id} may call"
            )
        now = int(time.time())
        access_token = mint(
            {
                "iss": issuer,
                "sub": client.client_id,
                "aud": audience,
                "iat": now,
                "nbf": now,
                "exp": now + token_lifetime,
                "jti": str(uuid.uuid4()),
                "appid": client.client_id,
                "asid": client.asid,
                "ods": client.ods,
                "groups": list(client.groups),
                "scp": " ".join(client.scopes),
            }
        )
        body = {
            "token_type": "Bearer",
            "expires_in": token_lifetime,
            "ext_expires_in": token_lifetime,
            "access_token": access_token,
        }
        return JSONResponse(body, headers=NO_STORE)

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(keyset.jwks(), headers={"Cache-Control": "public, max-age=300"})

    async def openid(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": issuer,
                "token_endpoint": token_url,
                "jwks_uri": f"{issuer}/.well-known/jwks.json",
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                    "private_key_jwt",
                ],
                "token_endpoint_auth_signing_alg_values_supported": ["RS512"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route(TOKEN_PATH, token, methods=["POST"]),
            Route("/.well-known/jwks.json", jwks),
            Route("/jwks", jwks),
            Route("/.well-known/openid-configuration", openid),
            Route("/_health", health),
            *routes,
        ]
    )
    app.state.keys = keyset
    app.state.clients = clients
    app.state.issuer = issuer
    return app


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)

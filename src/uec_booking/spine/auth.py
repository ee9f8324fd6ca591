"""NHS authentication stand-in: OAuth2 client credentials → RS256 JWT access tokens (1 hour),
JWKS for verification (fs_authentication.md). Errors as RFC 6749 §5.2 says."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from uec_booking.spine.auth_keys import KeySet

TOKEN_LIFETIME_S = 3600
DEFAULT_SCOPE_SUFFIX = "/.default"


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    """`scrypt$<salt>$<hash>`: what the registry stores instead of the secret."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_secret(secret: str, stored: str) -> bool:
    try:
        scheme, salt_b64, _ = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hash_secret(secret, salt=base64.b64decode(salt_b64))
    return hmac.compare_digest(candidate, stored)


@dataclass(frozen=True)
class Client:
    """A consumer system assured for the standard: its credentials and what it may do."""

    client_id: str
    secret_hash: str
    asid: str
    ods: str
    groups: tuple[str, ...]
    scopes: tuple[str, ...]
    audiences: tuple[str, ...] = ()  # empty: any provider


class ClientRegistry:
    def __init__(self, clients: list[Client]) -> None:
        self._clients = {c.client_id: c for c in clients}

    def get(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    @classmethod
    def from_directory(cls, directory: dict[str, Any]) -> ClientRegistry:
        """The sample directory's consumer systems (secrets hashed on load)."""
        return cls(
            [
                Client(
                    client_id=c["client_id"],
                    secret_hash=hash_secret(c["client_secret"]),
                    asid=c["asid"],
                    ods=c["ods"],
                    groups=tuple(c["groups"]),
                    scopes=tuple(c["scopes"]),
                )
                # Provider staff (the provider-admin scope) are clients of the same service.
                for c in [
                    *directory["consumer_systems"],
                    *directory.get("provider_admin_clients", []),
                ]
            ]
        )

    @classmethod
    def from_file(cls, path: str | Path) -> ClientRegistry:
        """A JSON file: `{"clients": [{"client_id", "secret_hash", "asid", "ods", "groups",
        "scopes", "audiences"?}]}` (hash secrets with `hash_secret`)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(
            [
                Client(
                    client_id=c["client_id"],
                    secret_hash=c["secret_hash"],
                    asid=c["asid"],
                    ods=c["ods"],
                    groups=tuple(c["groups"]),
                    scopes=tuple(c["scopes"]),
                    audiences=tuple(c.get("audiences", ())),
                )
                for c in data["clients"]
            ]
        )


def _error(status: int, error: str, description: str, *, basic: bool = False) -> JSONResponse:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if basic:
        headers["WWW-Authenticate"] = 'Basic realm="token"'
    return JSONResponse({"error": error, "error_description": description}, status, headers=headers)


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
) -> Starlette:
    """The authentication service's ASGI app (`token_lifetime` shorter only in tests)."""
    keyset = keys or KeySet()
    # An unknown client costs the same hashing as a known one: no timing oracle for ids.
    decoy_hash = hash_secret(secrets.token_urlsafe(16))

    async def token(request: Request) -> JSONResponse:
        form = await request.form()
        try:
            basic = _basic_credentials(request)
        except _MalformedBasic as exc:
            return _error(401, "invalid_client", str(exc), basic=True)
        if basic and (form.get("client_secret") or form.get("client_id") not in (None, basic[0])):
            return _error(400, "invalid_request", "use one client authentication method, not two")
        client_id = basic[0] if basic else str(form.get("client_id") or "")
        secret = basic[1] if basic else str(form.get("client_secret") or "")
        grant_type, scope = str(form.get("grant_type") or ""), str(form.get("scope") or "")
        if not grant_type:
            return _error(400, "invalid_request", "grant_type is required")
        if not client_id or not secret:
            return _error(
                401 if basic else 400,
                "invalid_client" if basic else "invalid_request",
                "client_id and client_secret are required",
                basic=basic is not None,
            )
        client = clients.get(client_id)
        secret_ok = check_secret(secret, client.secret_hash if client else decoy_hash)
        if client is None or not secret_ok:
            return _error(
                401, "invalid_client", "Client authentication failed", basic=basic is not None
            )
        if grant_type != "client_credentials":
            return _error(400, "unsupported_grant_type", "Only client_credentials is supported")
        if not scope.endswith(DEFAULT_SCOPE_SUFFIX) or len(scope) == len(DEFAULT_SCOPE_SUFFIX):
            return _error(400, "invalid_scope", "scope must be <provider FHIR base URL>/.default")
        audience = scope[: -len(DEFAULT_SCOPE_SUFFIX)].rstrip("/")
        if client.audiences and audience not in client.audiences:
            return _error(400, "invalid_scope", f"{client_id} may not call {audience}")
        now = int(time.time())
        claims = {
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
        key = keyset.active
        access_token = jwt.encode(
            claims, key.private_key, algorithm="RS256", headers={"kid": key.kid, "x5t": key.x5t}
        )
        body = {
            "token_type": "Bearer",
            "expires_in": token_lifetime,
            "ext_expires_in": token_lifetime,
            "access_token": access_token,
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(keyset.jwks(), headers={"Cache-Control": "public, max-age=300"})

    async def openid(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": issuer,
                "token_endpoint": f"{issuer}/oauth2/token",
                "jwks_uri": f"{issuer}/.well-known/jwks.json",
                "grant_types_supported": ["client_credentials"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/oauth2/token", token, methods=["POST"]),
            Route("/.well-known/jwks.json", jwks),
            Route("/jwks", jwks),
            Route("/.well-known/openid-configuration", openid),
            Route("/_health", health),
        ]
    )
    app.state.keys = keyset
    return app


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def serve_auth(
    host: str,
    port: int,
    *,
    issuer: str | None = None,
    clients_file: str | None = None,
    keys_dir: str | None = None,
) -> None:
    """Run the service until interrupted: clients from `clients_file` (hashed secrets) or the
    sample directory; signing keys from `keys_dir` (see `KeySet.from_directory`) or new ones."""
    import uvicorn

    from uec_booking import sample_data

    clients = (
        ClientRegistry.from_file(clients_file)
        if clients_file
        else ClientRegistry.from_directory(sample_data.load())
    )
    keys = KeySet.from_directory(keys_dir) if keys_dir else KeySet()
    app = create_app(issuer=issuer or f"http://{host}:{port}", clients=clients, keys=keys)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)

"""The NHS API platform's application-restricted flow: OAuth2 client credentials with a
signed JWT client assertion (RFC 7523), as `NHSDigital/identity-service-api` publishes it.

The checks, their order, their HTTP statuses and their error texts are the platform's own
(`proxies/live/apiproxy/resources/jsc/validate-client-assertion-claims.js` and the
`AssignMessage.*`/`RaiseFault.*` policies; `e2e/tests/oauth/test_client_credentials.py`
asserts them). See `contracts/identity_service/README.md` for the commit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from jwt.algorithms import RSAAlgorithm

from uec_booking.spine.auth_clients import Client, ClientRegistry, ReplayCache

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHM = "RS512"
MAX_ASSERTION_LIFETIME_S = 310  # "5 minutes … allowing an extra 10 seconds" (the platform)
PLATFORM_TOKEN_LIFETIME_S = 599  # what the platform's e2e tests see in expires_in


@dataclass
class TokenRefused(Exception):
    """A token request refused: the status and RFC 6749 §5.2 body the platform answers."""

    status: int
    error: str
    description: str


def _bad(description: str, status: int = 400) -> TokenRefused:
    return TokenRefused(status, "invalid_request", description)


def _public_key_error(description: str, status: int) -> TokenRefused:
    return TokenRefused(status, "public_key error", description)


def _decode_parts(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        header = jwt.get_unverified_header(assertion)
        payload: dict[str, Any] = jwt.decode(
            assertion, options={"verify_signature": False}, algorithms=None
        )
    except jwt.PyJWTError as exc:
        raise _bad("Malformed JWT in client_assertion") from exc
    if not isinstance(payload, dict):
        raise _bad("Malformed JWT in client_assertion")
    return header, payload


def check_claims(
    header: dict[str, Any], payload: dict[str, Any], replays: ReplayCache, *, now: float
) -> None:
    """The platform's header and claim checks, in its order (validate-client-assertion-claims.js)."""
    exp = payload.get("exp")
    if header.get("alg") != ASSERTION_ALGORITHM:
        raise _bad(
            "Invalid 'alg' header in client_assertion JWT - unsupported JWT algorithm - must be 'RS512'"
        )
    if isinstance(exp, int | float) and not isinstance(exp, bool) and now > exp:
        raise _bad("Invalid 'exp' claim in client_assertion JWT - JWT has expired")
    if not header.get("kid"):
        raise _bad("Missing 'kid' header in client_assertion JWT")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() != "jwt":
        raise _bad("Invalid 'typ' header in client_assertion JWT - must be 'JWT'")
    if exp is None:
        raise _bad("Missing 'exp' claim in client_assertion JWT")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise _bad("Invalid 'exp' claim in client_assertion JWT - must be an integer")
    iss, sub = payload.get("iss"), payload.get("sub")
    if not iss or not sub or iss != sub:
        raise _bad("Missing or non-matching 'iss'/'sub' claims in client_assertion JWT")
    jti = payload.get("jti")
    if not jti:
        raise _bad("Missing 'jti' claim in client_assertion JWT")
    if not isinstance(jti, str):
        raise _bad(
            "Invalid 'jti' claim in client_assertion JWT - must be a unique string value such as a GUID"
        )
    if replays.seen(str(iss), jti):
        raise _bad("Non-unique 'jti' claim in client_assertion JWT")
    if exp - now > MAX_ASSERTION_LIFETIME_S:
        raise _bad("Invalid 'exp' claim in client_assertion JWT - more than 5 minutes in future")


async def _client_keys(client: Client, http: httpx.AsyncClient | None) -> dict[str, Any]:
    """The client's registered JWKS: inline, or fetched from its JWKS URL."""
    if client.jwks is not None:
        return client.jwks
    if client.jwks_url is None:
        raise _public_key_error(
            "You need to register a public key to use this authentication method"
            " - please contact support to configure",
            403,
        )
    unreachable = _public_key_error(
        "The JWKS endpoint, for your client_assertion can't be reached", 403
    )
    try:
        if http is not None:
            response = await http.get(client.jwks_url, timeout=5)
        else:
            async with httpx.AsyncClient(timeout=5) as fresh:
                response = await fresh.get(client.jwks_url)
        response.raise_for_status()
        keys = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise unreachable from exc
    if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
        raise unreachable
    return keys


async def verify_assertion(
    form: dict[str, str],
    *,
    token_url: str,
    clients: ClientRegistry,
    replays: ReplayCache,
    http: httpx.AsyncClient | None = None,
) -> Client:
    """The client a platform token request authenticates as, or TokenRefused."""
    assertion_type, assertion = form.get("client_assertion_type"), form.get("client_assertion")
    if assertion_type != JWT_BEARER:
        raise _bad(
            "Missing or invalid client_assertion_type - must be "
            "'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'"
        )
    if not assertion:
        raise _bad("Missing client_assertion")
    header, payload = _decode_parts(assertion)
    now = time.time()
    check_claims(header, payload, replays, now=now)
    client = clients.get(str(payload["iss"]))
    if client is None:
        raise _bad("Invalid 'iss'/'sub' claims in client_assertion JWT", 401)
    aud = payload.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if token_url not in audiences:
        raise _bad("Missing or invalid 'aud' claim in client_assertion JWT", 401)
    jwks = await _client_keys(client, http)
    jwk = next(
        (k for k in jwks["keys"] if isinstance(k, dict) and k.get("kid") == header["kid"]), None
    )
    if jwk is None:
        raise _bad("Invalid 'kid' header in client_assertion JWT - no matching public key", 401)
    try:
        key = RSAAlgorithm.from_jwk(jwk)
        jwt.decode(
            assertion,
            key=key,  # type: ignore[arg-type]
            algorithms=[ASSERTION_ALGORITHM],
            audience=token_url,
            options={"require": ["exp", "iss", "sub", "jti"]},
        )
    except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
        raise _public_key_error("JWT signature verification failed", 401) from exc
    if not replays.remember(client.client_id, str(payload["jti"]), float(payload["exp"])):
        raise TokenRefused(503, "temporarily_unavailable", "Too many assertions in flight")
    return client

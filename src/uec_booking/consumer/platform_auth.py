"""The consumer's token for APIs on the NHS API platform (PDS): application-restricted
access by OAuth2 client credentials with a signed JWT client assertion (RFC 7523).

The assertion is what `NHSDigital/identity-service-api` checks: header `alg: RS512`,
`typ: JWT`, `kid` naming a key in the JWKS the application registered; claims `iss` = `sub`
= the application's API key, `aud` = the token URL, a fresh `jti`, `exp` at most 5 minutes
ahead. The private key stays with the consumer; `uec-booking keys jwks --key F --kid K`
prints the public JWKS to register (or to serve at the registered JWKS URL).

    tokens = PlatformTokens(token_url="https://int.api.service.nhs.uk/oauth2/token",
                            api_key="…", private_key=load_private_key("pds.pem"), kid="int-1")
    token = await tokens.token()
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any, Unpack

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from uec_booking.consumer.auth import EndpointOptions, TokenEndpoint
from uec_booking.consumer.errors import AuthError

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_S = 300


def load_private_key(path: str | Path) -> rsa.RSAPrivateKey:
    """An RSA private key from a PEM file (unencrypted), or AuthError saying why not."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise AuthError(f"Cannot read the private key {path}: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AuthError(f"{path} is not an RSA private key (the platform needs RS512)")
    return key


def new_private_key_pem() -> bytes:
    """A new 4096-bit RSA key as PEM (the size the platform's guidance asks for)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_jwks(private_key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    """The JWKS to register with the platform for `private_key` (public part only)."""
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    jwk.update(kid=kid, use="sig", alg="RS512")
    return {"keys": [jwk]}


class PlatformTokens(TokenEndpoint):
    """Access tokens from the platform, reused until `refresh_margin` s before they expire."""

    service = "NHS API platform token endpoint"
    default_lifetime = 599
    default_refresh_margin = 30.0

    def __init__(
        self,
        *,
        api_key: str,
        private_key: rsa.RSAPrivateKey,
        kid: str,
        **endpoint: Unpack[EndpointOptions],
    ) -> None:
        super().__init__(**endpoint)
        self.api_key = api_key
        self.kid = kid
        self._key = private_key

    def assertion(self, *, now: int | None = None) -> str:
        iat = int(time.time()) if now is None else now
        claims = {
            "iss": self.api_key,
            "sub": self.api_key,
            "aud": self.token_url,
            "jti": str(uuid.uuid4()),
            "exp": iat + ASSERTION_LIFETIME_S,
        }
        return jwt.encode(
            claims, self._key, algorithm="RS512", headers={"kid": self.kid, "typ": "JWT"}
        )

    def invalidate(self) -> None:
        self.cache.invalidate(self.token_url)

    async def token(self) -> str:
        return await self.cache.get(self.token_url, self._request)

    async def _request(self) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": self.assertion(),
        }
        return await self._post(form)

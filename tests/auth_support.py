"""Test helpers for the NHS authentication stand-in: a running service whose requests are
counted at the server, the sample clients, and token forging for the negative cases."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from uec_booking import sample_data
from uec_booking.asgi_server import ThreadedServer
from uec_booking.netutil import free_port
from uec_booking.spine.auth import ClientRegistry, create_app
from uec_booking.spine.auth_keys import KeySet, SigningKey
from uec_booking.tokens import TokenVerifier

AUDIENCE = "http://127.0.0.1:8020/fhir"
OTHER_AUDIENCE = "http://127.0.0.1:8021/fhir"  # a second registered provider
CONSUMER: dict[str, Any] = sample_data.load()["consumer_systems"][0]
DASHBOARD: dict[str, Any] = sample_data.load()["consumer_systems"][1]
assert DASHBOARD["client_id"] == "sandbox-slot-dashboard"


class RequestCounter:
    """ASGI wrapper counting the requests the service really received, per path."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.paths: Counter[str] = Counter()
        self.fail_with: int | None = None  # answer every request with this status

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths[scope["path"]] += 1
            if self.fail_with is not None:
                await send({"type": "http.response.start", "status": self.fail_with})
                await send({"type": "http.response.body", "body": b"down"})
                return
        await self.app(scope, receive, send)


@dataclass
class AuthService:
    url: str
    keys: KeySet
    counter: RequestCounter

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth2/token"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks.json"

    def jwks_requests(self) -> int:
        return self.counter.paths["/.well-known/jwks.json"] + self.counter.paths["/jwks"]

    def token_requests(self) -> int:
        return self.counter.paths["/oauth2/token"]

    def verifier(self, **overrides: Any) -> TokenVerifier:
        options: dict[str, Any] = {
            "jwks_url": self.jwks_url,
            "issuer": self.url,
            "audience": AUDIENCE,
        }
        options.update(overrides)
        return TokenVerifier(**options)

    def issue(self, client: dict[str, Any] = CONSUMER, audience: str = AUDIENCE) -> str:
        """A token from the real endpoint, over the socket."""
        response = httpx.post(
            self.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": client["client_id"],
                "client_secret": client["client_secret"],
                "scope": f"{audience}/.default",
            },
        )
        response.raise_for_status()
        return str(response.json()["access_token"])


@contextmanager
def running_auth(
    clients: ClientRegistry | None = None, *, token_lifetime: int = 3600
) -> Iterator[AuthService]:
    """The service on a loopback port, its issuer URL being its own address."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    keys = KeySet()
    registry = clients or ClientRegistry.from_directory(
        sample_data.load(), providers=[AUDIENCE, OTHER_AUDIENCE]
    )
    counter = RequestCounter(
        create_app(issuer=issuer, clients=registry, keys=keys, token_lifetime=token_lifetime)
    )
    with ThreadedServer(counter, port=port) as server:
        yield AuthService(server.url, keys, counter)


def verify(verifier: TokenVerifier, authorization: str | None) -> Any:
    return asyncio.run(verifier.verify(authorization))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def enc(part: dict[str, Any]) -> str:
    return b64url(json.dumps(part).encode())


def claims(auth: AuthService, **changes: Any) -> dict[str, Any]:
    """Claims as the service issues them; `changes` alter or (with None) drop some."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": auth.url,
        "sub": "forger",
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": "j1",
        "appid": "forger",
        "asid": CONSUMER["asid"],
        "ods": CONSUMER["ods"],
        "groups": ["read:metadata", "read:slot"],
        "scp": "slot/*.read",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def signed(payload: dict[str, Any], key: SigningKey, kid: str | None = None) -> str:
    return jwt.encode(payload, key.private_key, algorithm="RS256", headers={"kid": kid or key.kid})


def unsigned(payload: dict[str, Any]) -> str:
    return f"{enc({'alg': 'none', 'typ': 'JWT'})}.{enc(payload)}."


def hs256(payload: dict[str, Any], secret: bytes, kid: str) -> str:
    """The key-confusion attack: HMAC-signed with the RSA public key PEM as the secret."""
    signing_input = f"{enc({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{enc(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


# --- the NHS API platform's signed-JWT flow ----------------------------------------------

PLATFORM_APP = "sandbox-platform-app"
PLATFORM_KID = "test-1"


def platform_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def platform_registry(
    key: Any, *, jwks_url: str | None = None, inline: bool = True
) -> ClientRegistry:
    """The sample clients plus one platform application whose public key is registered
    inline (or at `jwks_url`, or not at all when both are off)."""
    from uec_booking.consumer.platform_auth import public_jwks
    from uec_booking.spine.auth_clients import Client

    registry = ClientRegistry.from_directory(sample_data.load(), providers=[AUDIENCE])
    registry.register(
        Client(
            client_id=PLATFORM_APP,
            secret_hash=None,
            asid="200000000201",
            ods="X26CN1",
            groups=(),
            scopes=(),
            jwks=public_jwks(key, PLATFORM_KID) if inline and jwks_url is None else None,
            jwks_url=jwks_url,
        )
    )
    return registry


def assertion_claims(token_url: str, **changes: Any) -> dict[str, Any]:
    """The claims the platform's e2e tests send (their `claims` fixture), changed."""
    import uuid

    base: dict[str, Any] = {
        "sub": PLATFORM_APP,
        "iss": PLATFORM_APP,
        "jti": str(uuid.uuid4()),
        "aud": token_url,
        "exp": int(time.time()) + 300,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def client_assertion(
    claims: dict[str, Any],
    key: Any,
    *,
    headers: dict[str, Any] | None = None,
    algorithm: str = "RS512",
) -> str:
    """As the platform's `create_client_assertion` helper builds it."""
    return jwt.encode(
        claims,
        key,
        algorithm=algorithm,
        headers={"kid": PLATFORM_KID} if headers is None else headers,
    )


def platform_form(assertion: str | None, **changes: str | None) -> dict[str, str]:
    base: dict[str, str | None] = {
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
        "grant_type": "client_credentials",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}

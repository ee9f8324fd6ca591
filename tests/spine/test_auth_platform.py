"""The NHS API platform's signed-JWT flow at the auth stand-in, over a real socket: the
published e2e cases of `NHSDigital/identity-service-api` (status and body, `message_id`
aside), replays, JWKS URLs; and the hardening of issue 13 #18 (throttled wrong secrets,
scrypt off the event loop)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.auth_support import (
    AUDIENCE,
    CONSUMER,
    PLATFORM_APP,
    PLATFORM_KID,
    assertion_claims,
    client_assertion,
    platform_form,
    platform_key,
    platform_registry,
)
from uec_booking.asgi_server import ThreadedServer
from uec_booking.consumer.platform_auth import public_jwks
from uec_booking.netutil import free_port
from uec_booking.spine.auth import create_app
from uec_booking.spine.auth_clients import FailureThrottle, check_secret, hash_secret
from uec_booking.spine.auth_keys import KeySet

KEY = platform_key()
CONTRACT = resources.files("uec_booking.spine.auth_contract") / "identity_service"
PUBLISHED_TEXT = "\n".join(
    p.read_text(encoding="utf-8")
    for p in [*CONTRACT.iterdir(), *(CONTRACT / "policies").iterdir()]
    if p.is_file()
)


class Platform:
    def __init__(self, url: str, keys: KeySet) -> None:
        self.url, self.keys = url, keys
        self.token_url = f"{url}/oauth2/token"

    def post(self, data: dict[str, str]) -> httpx.Response:
        return httpx.post(self.token_url, data=data)


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    keys = KeySet()
    app = create_app(issuer=issuer, clients=platform_registry(KEY), keys=keys)
    with ThreadedServer(app, port=port) as server:
        yield Platform(server.url, keys)


def _published(body: dict[str, Any]) -> dict[str, Any]:
    """The body as the platform's tests compare it: message_id present, its value ignored."""
    assert body.pop("message_id"), "every platform error carries a message_id"
    assert body["error_description"] in PUBLISHED_TEXT, "the text is the platform's own"
    return body


def test_signed_assertion_gets_an_application_token(platform: Platform) -> None:
    response = platform.post(
        platform_form(client_assertion(assertion_claims(platform.token_url), KEY))
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type", "issued_at"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == "599"  # a string, as published
    jwk = next(
        k
        for k in httpx.get(f"{platform.url}/.well-known/jwks.json").json()["keys"]
        if k["kid"] == jwt.get_unverified_header(body["access_token"])["kid"]
    )
    claims = jwt.decode(
        body["access_token"], jwt.PyJWK(jwk).key, algorithms=["RS256"], audience=platform.url
    )
    assert claims["sub"] == PLATFORM_APP and claims["iss"] == platform.url


NOW = int(time.time())
# The published e2e cases: (what to change, status, error, error_description).
CLAIM_CASES: dict[str, tuple[dict[str, Any], int, str]] = {
    "unknown iss and sub": (
        {"sub": "invalid", "iss": "invalid"},
        401,
        "Invalid 'iss'/'sub' claims in client_assertion JWT",
    ),
    "sub differs": (
        {"sub": "invalid"},
        400,
        "Missing or non-matching 'iss'/'sub' claims in client_assertion JWT",
    ),
    "no sub": (
        {"sub": None},
        400,
        "Missing or non-matching 'iss'/'sub' claims in client_assertion JWT",
    ),
    "iss differs": (
        {"iss": "invalid"},
        400,
        "Missing or non-matching 'iss'/'sub' claims in client_assertion JWT",
    ),
    "no iss": (
        {"iss": None},
        400,
        "Missing or non-matching 'iss'/'sub' claims in client_assertion JWT",
    ),
    "jti integer": (
        {"jti": 1234567890},
        400,
        "Invalid 'jti' claim in client_assertion JWT - must be a unique string value such as a GUID",
    ),
    "no jti": ({"jti": None}, 400, "Missing 'jti' claim in client_assertion JWT"),
    "aud invalid": (
        {"aud": "invalid"},
        401,
        "Missing or invalid 'aud' claim in client_assertion JWT",
    ),
    "no aud": ({"aud": None}, 401, "Missing or invalid 'aud' claim in client_assertion JWT"),
    "exp string": (
        {"exp": str(NOW + 300)},
        400,
        "Invalid 'exp' claim in client_assertion JWT - must be an integer",
    ),
    "exp past": (
        {"exp": NOW - 20},
        400,
        "Invalid 'exp' claim in client_assertion JWT - JWT has expired",
    ),
    "exp over 5 min": (
        {"exp": NOW + 360},
        400,
        "Invalid 'exp' claim in client_assertion JWT - more than 5 minutes in future",
    ),
    "no exp": ({"exp": None}, 400, "Missing 'exp' claim in client_assertion JWT"),
}


@pytest.mark.parametrize("case", list(CLAIM_CASES))
def test_published_claim_errors(platform: Platform, case: str) -> None:
    changes, status, description = CLAIM_CASES[case]
    if "exp" in changes and isinstance(changes["exp"], int):
        changes = {"exp": changes["exp"] - NOW + int(time.time())}  # NOW was at import
    claims = assertion_claims(platform.token_url, **changes)
    response = platform.post(platform_form(client_assertion(claims, KEY)))
    assert response.status_code == status, response.text
    assert _published(response.json()) == {
        "error": "invalid_request",
        "error_description": description,
    }


HEADER_CASES: dict[str, tuple[dict[str, Any], int, str]] = {
    "no kid": ({"alg": "RS512"}, 400, "Missing 'kid' header in client_assertion JWT"),
    "unknown kid": (
        {"kid": "invalid", "alg": "RS512"},
        401,
        "Invalid 'kid' header in client_assertion JWT - no matching public key",
    ),
    "typ invalid": (
        {"kid": PLATFORM_KID, "typ": "invalid"},
        400,
        "Invalid 'typ' header in client_assertion JWT - must be 'JWT'",
    ),
}


@pytest.mark.parametrize("case", list(HEADER_CASES))
def test_published_header_errors(platform: Platform, case: str) -> None:
    headers, status, description = HEADER_CASES[case]
    token = client_assertion(assertion_claims(platform.token_url), KEY, headers=headers)
    response = platform.post(platform_form(token))
    assert response.status_code == status, response.text
    assert _published(response.json()) == {
        "error": "invalid_request",
        "error_description": description,
    }


@pytest.mark.parametrize("algorithm", ["RS256", "RS384", "PS256", "PS512", "HS256"])
def test_only_rs512(platform: Platform, algorithm: str) -> None:
    claims = assertion_claims(platform.token_url)
    token = (
        jwt.encode({"some": "payload"}, "test-secret-of-at-least-32-bytes!!", algorithm="HS256")
        if algorithm.startswith("HS")
        else client_assertion(claims, KEY, algorithm=algorithm)
    )
    response = platform.post(platform_form(token))
    assert response.status_code == 400
    assert _published(response.json()) == {
        "error": "invalid_request",
        "error_description": "Invalid 'alg' header in client_assertion JWT - unsupported JWT algorithm - must be 'RS512'",
    }


@pytest.mark.parametrize(
    ("changes", "status", "error", "description"),
    [
        (
            {"client_assertion_type": "invalid"},
            400,
            "invalid_request",
            "Missing or invalid client_assertion_type - must be 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'",
        ),
        (
            {"client_assertion_type": None},
            400,
            "invalid_request",
            "Missing or invalid client_assertion_type - must be 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'",
        ),
        (
            {"client_assertion": "invalid"},
            400,
            "invalid_request",
            "Malformed JWT in client_assertion",
        ),
        ({"client_assertion": None}, 400, "invalid_request", "Missing client_assertion"),
        ({"grant_type": "invalid"}, 400, "unsupported_grant_type", "grant_type is invalid"),
        ({"grant_type": None}, 400, "invalid_request", "grant_type is missing"),
    ],
)
def test_published_payload_errors(
    platform: Platform, changes: dict[str, str | None], status: int, error: str, description: str
) -> None:
    good = client_assertion(assertion_claims(platform.token_url), KEY)
    response = platform.post(platform_form(good, **changes))
    assert response.status_code == status
    assert _published(response.json()) == {"error": error, "error_description": description}


def test_a_replayed_assertion_is_refused(platform: Platform) -> None:
    form = platform_form(client_assertion(assertion_claims(platform.token_url), KEY))
    assert platform.post(form).status_code == 200
    again = platform.post(form)
    assert again.status_code == 400
    assert _published(again.json()) == {
        "error": "invalid_request",
        "error_description": "Non-unique 'jti' claim in client_assertion JWT",
    }


def test_signed_by_another_key(platform: Platform) -> None:
    forged = client_assertion(assertion_claims(platform.token_url), platform_key())
    response = platform.post(platform_form(forged))
    assert response.status_code == 401
    assert _published(response.json()) == {
        "error": "public_key error",
        "error_description": "JWT signature verification failed",
    }


def _jwks_server(body: dict[str, Any]) -> ThreadedServer:
    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(body)

    return ThreadedServer(Starlette(routes=[Route("/jwks.json", jwks)]))


def _platform_with(registry_for: Any) -> tuple[ThreadedServer, str]:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    return ThreadedServer(create_app(issuer=issuer, clients=registry_for), port=port), issuer


def test_keys_from_a_registered_jwks_url_and_their_failures() -> None:
    with _jwks_server(public_jwks(KEY, PLATFORM_KID)) as keys:
        server, issuer = _platform_with(platform_registry(KEY, jwks_url=f"{keys.url}/jwks.json"))
        with server:
            token_url = f"{issuer}/oauth2/token"
            ok = httpx.post(
                token_url, data=platform_form(client_assertion(assertion_claims(token_url), KEY))
            )
            assert ok.status_code == 200, ok.text
    server, issuer = _platform_with(
        platform_registry(KEY, jwks_url=f"http://127.0.0.1:{free_port()}/jwks.json")
    )
    with server:
        token_url = f"{issuer}/oauth2/token"
        down = httpx.post(
            token_url, data=platform_form(client_assertion(assertion_claims(token_url), KEY))
        )
    assert down.status_code == 403
    assert _published(down.json()) == {
        "error": "public_key error",
        "error_description": "The JWKS endpoint, for your client_assertion can't be reached",
    }
    server, issuer = _platform_with(platform_registry(KEY, inline=False))
    with server:
        token_url = f"{issuer}/oauth2/token"
        none = httpx.post(
            token_url, data=platform_form(client_assertion(assertion_claims(token_url), KEY))
        )
    assert none.status_code == 403
    assert _published(none.json())["error"] == "public_key error"


# --- issue 13 #18: wrong secrets --------------------------------------------------------


def _secret_form(secret: str, client_id: str = CONSUMER["client_id"]) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": secret,
        "scope": f"{AUDIENCE}/.default",
    }


def test_wrong_secrets_are_throttled_per_client_and_per_source() -> None:
    port = free_port()
    app = create_app(
        issuer=f"http://127.0.0.1:{port}",
        clients=platform_registry(KEY),
        client_throttle=FailureThrottle(limit=3, window=60),
        source_throttle=FailureThrottle(limit=5, window=60),
    )
    with ThreadedServer(app, port=port) as server:
        url = f"{server.url}/oauth2/token"
        statuses = [httpx.post(url, data=_secret_form("wrong")).status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        # Throttled now, and the right secret does not get through either (no oracle).
        locked = httpx.post(url, data=_secret_form(CONSUMER["client_secret"]))
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
        assert locked.json()["error"] == "invalid_client"
        # Another client from the same source may still try, until the source's limit.
        other = [httpx.post(url, data=_secret_form("x", "stranger")).status_code for _ in range(3)]
        assert other == [401, 401, 429]


def test_throttle_memory_is_bounded() -> None:
    throttle = FailureThrottle(limit=2, window=60, max_keys=100)
    for i in range(10_000):
        throttle.failed(f"client-{i}")
    assert len(throttle) == 100
    throttle.failed("x")
    throttle.failed("x")
    assert throttle.retry_after("x") is not None and throttle.retry_after("client-0") is None


def test_a_jwks_get_does_not_wait_behind_wrong_secrets() -> None:
    """scrypt ran on the event loop: a JWKS GET waited ~300 ms behind 6 wrong attempts.
    Now it runs in worker threads: JWKS GETs made while a dozen wrong secrets are being
    hashed each answer faster than one hash takes (on the loop, each waited for one)."""
    port = free_port()
    app = create_app(
        issuer=f"http://127.0.0.1:{port}",
        clients=platform_registry(KEY),
        client_throttle=FailureThrottle(limit=100),
        source_throttle=FailureThrottle(limit=100),
    )
    started = time.perf_counter()
    check_secret("x", hash_secret("y"))
    one_hash = time.perf_counter() - started

    async def run(base: str) -> tuple[list[float], float]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            await client.get("/.well-known/jwks.json")  # a warm connection
            started = time.perf_counter()
            wrong = [
                asyncio.create_task(client.post("/oauth2/token", data=_secret_form(f"w{i}")))
                for i in range(12)
            ]
            await asyncio.sleep(0.02)  # the attempts have arrived and are hashing
            waits = []
            while not all(task.done() for task in wrong) and len(waits) < 20:
                sent = time.perf_counter()
                assert (await client.get("/.well-known/jwks.json")).status_code == 200
                waits.append(time.perf_counter() - sent)
            assert [r.status_code for r in await asyncio.gather(*wrong)] == [401] * 12
            return waits, time.perf_counter() - started

    with ThreadedServer(app, port=port) as server:
        waits, wrong_took = asyncio.run(run(server.url))
    assert wrong_took > 3 * one_hash, "the JWKS GETs must overlap the hashing"
    assert len(waits) >= 3 and sorted(waits)[len(waits) // 2] < one_hash / 2, (waits, one_hash)


def test_extra_routes_mount_beside_the_token_endpoint() -> None:
    """How another service (an OIDC provider for people) mounts into the auth app."""

    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({"issuer": request.app.state.issuer})

    app = create_app(
        issuer="http://issuer", clients=platform_registry(KEY), routes=[Route("/oidc/hello", hello)]
    )
    with ThreadedServer(app) as server:
        assert httpx.get(f"{server.url}/oidc/hello").json() == {"issuer": "http://issuer"}
        assert httpx.get(f"{server.url}/_health").json() == {"status": "ok"}

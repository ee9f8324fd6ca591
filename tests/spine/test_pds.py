"""PDS both sides over real sockets, judged by the published contract (`spine/pds_contract/`,
the PDS FHIR API's OpenAPI): every request the consumer's client sends and every answer
the stand-in gives is validated against it with openapi-core, in both directions."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import httpx
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from tests.auth_support import (
    AUDIENCE,
    CONSUMER,
    PLATFORM_APP,
    PLATFORM_KID,
    platform_key,
    platform_registry,
)
from uec_booking import sample_data
from uec_booking.asgi_server import ThreadedServer
from uec_booking.consumer.auth import ClientCredentialsTokens
from uec_booking.consumer.errors import (
    AuthError,
    DemographicsMismatch,
    InvalidNhsNumber,
    PatientNotFound,
    PdsError,
    ServiceUnreachable,
)
from uec_booking.consumer.pds import PdsClient
from uec_booking.consumer.platform_auth import PlatformTokens
from uec_booking.netutil import free_port
from uec_booking.spine.auth import create_app as auth_app
from uec_booking.spine.pds import BASE_PATH, SPINE_R4_SYSTEM, create_app
from uec_booking.tokens import TokenVerifier

SPEC_PATH = resources.files("uec_booking.spine.pds_contract") / "personal-demographics.yaml"
SPEC = OpenAPI.from_file_path(
    str(SPEC_PATH),
    # The published file refers to its operations by $ref (not OpenAPI 3.0), so the spec
    # validator is off; its bodies are application/fhir+json, JSON to the deserialiser.
    config=Config(
        spec_validator_cls=None,
        extra_media_type_deserializers={"application/fhir+json": json.loads},
    ),
)
PUBLISHED_HOST = "https://sandbox.api.service.nhs.uk"  # the spec's server; same base path
KEY = platform_key()


def check_exchange(request: httpx.Request, response: httpx.Response) -> None:
    """Validate one request and its response against the published OpenAPI (raises)."""
    mock_request = MockRequest(
        PUBLISHED_HOST,
        request.method.lower(),
        request.url.path,
        args=dict(request.url.params.multi_items()),
        headers=dict(request.headers),
    )
    SPEC.validate_request(mock_request)
    SPEC.validate_response(
        mock_request,
        MockResponse(
            response.content,
            status_code=response.status_code,
            headers=dict(response.headers),
            content_type=response.headers.get("content-type", "").split(";")[0],
        ),
    )


@dataclass
class Validating(httpx.AsyncBaseTransport):
    """A real socket transport that validates every exchange against the contract."""

    seen: list[tuple[httpx.Request, httpx.Response]] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async with httpx.AsyncHTTPTransport() as inner:
            response = await inner.handle_async_request(request)
            await response.aread()
        check_exchange(request, response)
        self.seen.append((request, response))
        return response


@dataclass
class Services:
    auth_url: str
    pds_url: str

    @property
    def token_url(self) -> str:
        return f"{self.auth_url}/oauth2/token"

    def tokens(self, **overrides: Any) -> PlatformTokens:
        options: dict[str, Any] = {
            "token_url": self.token_url,
            "api_key": PLATFORM_APP,
            "private_key": KEY,
            "kid": PLATFORM_KID,
        }
        options.update(overrides)
        return PlatformTokens(**options)

    def bearer(self) -> str:
        return f"Bearer {asyncio.run(self.tokens().token())}"


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    auth_port = free_port()
    issuer = f"http://127.0.0.1:{auth_port}"
    auth = auth_app(issuer=issuer, clients=platform_registry(KEY))
    verifier = TokenVerifier(
        jwks_url=f"{issuer}/.well-known/jwks.json", issuer=issuer, audience=issuer
    )
    with (
        ThreadedServer(auth, port=auth_port),
        ThreadedServer(create_app(sample_data.load(), verifier=verifier)) as pds,
    ):
        yield Services(issuer, f"{pds.url}{BASE_PATH}")


def get(services: Services, path: str, *, token: bool = True, **headers: str) -> httpx.Response:
    sent = {"X-Request-ID": str(uuid.uuid4()), **headers}
    if token:
        sent["Authorization"] = services.bearer()
    response = httpx.get(f"{services.pds_url}{path}", headers=sent)
    check_exchange(response.request, response)
    return response


def spine_code(response: httpx.Response) -> str:
    coding = response.json()["issue"][0]["details"]["coding"][0]
    assert coding["system"] == SPINE_R4_SYSTEM and coding["version"] == "1"
    return str(coding["code"])


def test_read_validates_and_mirrors_both_ids(services: Services) -> None:
    request_id = str(uuid.uuid4()).upper()
    read = get(
        services,
        "/Patient/9000000009",
        **{"X-Request-ID": request_id, "X-Correlation-ID": "journey-1"},
    )
    assert read.status_code == 200
    assert read.headers["x-request-id"] == request_id
    assert read.headers["x-correlation-id"] == "journey-1"
    assert read.headers["etag"] == 'W/"2"'
    assert read.headers["content-type"].startswith("application/fhir+json")
    assert read.json()["identifier"][0]["value"] == "9000000009"


def test_x_request_id_is_required_and_a_uuid(services: Services) -> None:
    missing = httpx.get(
        f"{services.pds_url}/Patient/9000000009",
        headers={"Authorization": services.bearer(), "X-Correlation-ID": "c1"},
    )
    assert missing.status_code == 400 and spine_code(missing) == "MISSING_VALUE"
    assert missing.headers["x-correlation-id"] == "c1"  # mirrored on errors too
    assert "X-Request-ID" in missing.json()["issue"][0]["diagnostics"]
    not_uuid = httpx.get(
        f"{services.pds_url}/Patient/9000000009",
        headers={"Authorization": services.bearer(), "X-Request-ID": "r1"},
    )
    assert not_uuid.status_code == 400 and spine_code(not_uuid) == "INVALID_VALUE"
    assert not_uuid.headers["x-request-id"] == "r1"
    # The contract itself refuses both requests: these are the consumer's mistakes to avoid.
    for response in (missing, not_uuid):
        with pytest.raises(Exception, match="X-Request-ID"):
            check_exchange(response.request, response)


def test_a_platform_token_is_required(services: Services) -> None:
    none = get(services, "/Patient/9000000009", token=False)
    assert none.status_code == 401 and spine_code(none) == "ACCESS_DENIED"
    bad = get(services, "/Patient/9000000009", token=False, Authorization="Bearer not-a-token")
    assert bad.status_code == 401 and spine_code(bad) == "ACCESS_DENIED"
    # A provider token (the seed's client credentials, aud = a provider) is not for PDS.
    provider_token = asyncio.run(
        ClientCredentialsTokens(
            token_url=services.token_url,
            client_id=CONSUMER["client_id"],
            client_secret=CONSUMER["client_secret"],
        ).token(audience=AUDIENCE)
    )
    wrong_aud = get(
        services, "/Patient/9000000009", token=False, Authorization=f"Bearer {provider_token}"
    )
    assert wrong_aud.status_code == 401


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/Patient/9000000001", 400, "INVALID_RESOURCE_ID"),  # check digit wrong
        ("/Patient/900000000", 400, "INVALID_RESOURCE_ID"),
        ("/Patient/9000000033", 404, "RESOURCE_NOT_FOUND"),
        ("/Patient?family=smith&birthdate=eq1985-10-22&address-postalcode=ls16ae", 200, None),
        ("/Patient?family=smith&birthdate=eq1985-10-22&address-postcode=ls16ae", 200, None),
        ("/Patient?family=smith&birthdate=eq1999-01-01", 200, None),
        ("/Patient?family=smith", 400, "MISSING_VALUE"),
        ("/Patient?birthdate=eq1985-10-22", 400, "INVALID_SEARCH_DATA"),
        ("/Patient?family=smith&birthdate=eq1985-10-22&colour=blue", 400, "ADDITIONAL_PROPERTIES"),
        (
            "/Patient?family=smith&birthdate=eq1985-10-22&address-postcode=a&address-postalcode=b",
            400,
            "INVALID_SEARCH_DATA",
        ),
        ("/Patient", 400, "UNSUPPORTED_SERVICE"),
    ],
)
def test_answers_as_published(services: Services, path: str, status: int, code: str | None) -> None:
    response = get(services, path)  # validated against the contract inside
    assert response.status_code == status, response.text
    if code:
        assert spine_code(response) == code
    assert response.headers["x-request-id"] == response.request.headers["x-request-id"]


def test_search_finds_one(services: Services) -> None:
    found = get(services, "/Patient?family=smith&birthdate=eq1985-10-22&address-postalcode=ls16ae")
    assert [e["resource"]["id"] for e in found.json()["entry"]] == ["9000000009"]
    none = get(services, "/Patient?family=smith&birthdate=eq1999-01-01")
    assert none.json()["total"] == 0


def test_client_sends_what_the_contract_requires(services: Services) -> None:
    transport = Validating()
    tokens = services.tokens()
    pds = PdsClient(base_url=services.pds_url, tokens=tokens, transport=transport)

    async def journey() -> Any:
        patient = await pds.verify(
            nhs_number="900 000 0009",
            postcode="LS1 6AE",
            family="SMITH",
            birth_date="1985-10-22",
            correlation_id="trace-1",
        )
        await pds.verify(nhs_number="9000000009", correlation_id="trace-1")
        with pytest.raises(PatientNotFound):
            await pds.verify(nhs_number="9000000033", correlation_id="trace-1")
        return patient

    patient = asyncio.run(journey())
    assert (patient.nhs_number, patient.family, patient.given, patient.postcode) == (
        "9000000009",
        "Smith",
        ["Jane"],
        "LS1 6AE",
    )
    assert patient.city == "Leeds" and patient.address_lines == ["1 Trevelyan Square", "Boar Lane"]
    assert len(transport.seen) == 3  # each validated both ways
    request_ids = {request.headers["x-request-id"] for request, _ in transport.seen}
    assert len(request_ids) == 3, "a new X-Request-ID per request"
    assert {request.headers["x-correlation-id"] for request, _ in transport.seen} == {"trace-1"}
    assert all(r.headers["authorization"].startswith("Bearer ") for r, _ in transport.seen)
    assert tokens.requests == 1, "the platform token is reused"


def test_client_refusals(services: Services) -> None:
    pds = PdsClient(base_url=services.pds_url, tokens=services.tokens())
    with pytest.raises(InvalidNhsNumber):
        asyncio.run(pds.verify(nhs_number="9000000001"))
    with pytest.raises(DemographicsMismatch):
        asyncio.run(pds.verify(nhs_number="9000000009", postcode="BD1 1HY"))
    with pytest.raises(PdsError, match="ACCESS_DENIED"):
        asyncio.run(PdsClient(base_url=services.pds_url).verify(nhs_number="9000000009"))
    with pytest.raises(AuthError, match="public_key error"):
        asyncio.run(
            PdsClient(
                base_url=services.pds_url, tokens=services.tokens(private_key=platform_key())
            ).verify(nhs_number="9000000009")
        )
    with pytest.raises(ServiceUnreachable):
        asyncio.run(
            PdsClient(base_url=f"http://127.0.0.1:{free_port()}{BASE_PATH}").verify(
                nhs_number="9000000009"
            )
        )


def test_open_sandbox_mode_needs_no_token_but_still_an_x_request_id() -> None:
    with ThreadedServer(create_app(sample_data.load(), open_sandbox=True)) as server:
        base = f"{server.url}{BASE_PATH}"
        ok = httpx.get(f"{base}/Patient/9000000009", headers={"X-Request-ID": str(uuid.uuid4())})
        check_exchange(ok.request, ok)
        assert ok.status_code == 200
        basic = httpx.get(
            f"{base}/Patient/9000000009",
            headers={"X-Request-ID": str(uuid.uuid4()), "Authorization": "Basic eDp5"},
        )
        assert basic.status_code == 401 and spine_code(basic) == "ACCESS_DENIED"
        assert httpx.get(f"{base}/Patient/9000000009").status_code == 400
        patient = asyncio.run(PdsClient(base_url=base).verify(nhs_number="9000000009"))
        assert patient.nhs_number == "9000000009"
    with pytest.raises(ValueError, match="open_sandbox"):
        create_app(sample_data.load())  # neither a verifier nor the open mode: refused

"""PDS stand-in and the consumer's PDS client over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from uec_booking import sample_data
from uec_booking.asgi_server import ThreadedServer
from uec_booking.consumer.errors import (
    DemographicsMismatch,
    InvalidNhsNumber,
    PatientNotFound,
    ServiceUnavailable,
)
from uec_booking.consumer.pds import PdsClient
from uec_booking.netutil import free_port
from uec_booking.spine.pds import BASE_PATH, create_app


@pytest.fixture(scope="module")
def pds_url() -> Iterator[str]:
    with ThreadedServer(create_app(sample_data.load())) as server:
        yield f"{server.url}{BASE_PATH}"


def test_read_search_and_errors(pds_url: str) -> None:
    read = httpx.get(f"{pds_url}/Patient/9000000009", headers={"X-Request-ID": "r1"})
    assert read.status_code == 200 and read.headers["x-request-id"] == "r1"
    patient = read.json()
    assert (
        patient["resourceType"] == "Patient" and patient["identifier"][0]["value"] == "9000000009"
    )
    assert read.headers["etag"] == 'W/"2"'
    invalid = httpx.get(f"{pds_url}/Patient/9000000001")
    assert invalid.status_code == 400
    assert invalid.json()["issue"][0]["details"]["coding"][0]["code"] == "INVALID_RESOURCE_ID"
    missing = httpx.get(f"{pds_url}/Patient/9000000033")
    assert missing.status_code == 404
    found = httpx.get(
        f"{pds_url}/Patient",
        params={"family": "smith", "birthdate": "eq1985-10-22", "address-postcode": "ls16ae"},
    )
    assert [e["resource"]["id"] for e in found.json()["entry"]] == ["9000000009"]
    none = httpx.get(f"{pds_url}/Patient", params={"family": "smith", "birthdate": "eq1999-01-01"})
    assert none.json()["total"] == 0
    assert httpx.get(f"{pds_url}/Patient", params={"family": "smith"}).status_code == 400


def test_client_verifies_and_refuses(pds_url: str) -> None:
    pds = PdsClient(base_url=pds_url)
    patient = asyncio.run(
        pds.verify(
            nhs_number="900 000 0009", postcode="LS1 6AE", family="SMITH", birth_date="1985-10-22"
        )
    )
    assert (patient.nhs_number, patient.family, patient.given, patient.postcode) == (
        "9000000009",
        "Smith",
        ["Jane"],
        "LS1 6AE",
    )
    assert patient.city == "Leeds" and patient.address_lines == ["1 Trevelyan Square", "Boar Lane"]
    with pytest.raises(InvalidNhsNumber):
        asyncio.run(pds.verify(nhs_number="9000000001"))
    with pytest.raises(PatientNotFound):
        asyncio.run(pds.verify(nhs_number="9000000033"))
    with pytest.raises(DemographicsMismatch):
        asyncio.run(pds.verify(nhs_number="9000000009", postcode="BD1 1HY"))
    with pytest.raises(ServiceUnavailable):
        asyncio.run(
            PdsClient(base_url=f"http://127.0.0.1:{free_port()}{BASE_PATH}").verify(
                nhs_number="9000000009"
            )
        )

"""A 409 with `Content-Location` is taken as our own earlier booking only when it is the
booking we asked for (issue 13 #6): another consumer's appointment is never returned."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.consumer.test_provider_client import PATIENT, SLOT, StaticTokens
from uec_booking.asgi_server import ThreadedServer
from uec_booking.consumer.errors import ProviderError
from uec_booking.consumer.provider import ProviderClient


def _stand_in(slot_reference: str) -> Starlette:
    async def conflict(request: Request) -> Response:
        return Response(
            json.dumps({"resourceType": "OperationOutcome", "issue": [{"code": "conflict"}]}),
            409,
            headers={"Content-Location": "http://x/fhir/Appointment/other/_history/1"},
        )

    async def read(request: Request) -> Response:
        body = {
            "resourceType": "Appointment",
            "id": "other",
            "status": "booked",
            "start": SLOT.resource["start"],
            "end": SLOT.resource["end"],
            "slot": [{"reference": slot_reference}],
            "meta": {"versionId": "1"},
        }
        return Response(json.dumps(body), 200)

    return Starlette(
        routes=[
            Route("/fhir/Appointment", conflict, methods=["POST"]),
            Route("/fhir/Appointment/{id}", read),
        ]
    )


@pytest.fixture(params=["Slot/someone-elses", "Slot/s1"])
def endpoint(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    with ThreadedServer(_stand_in(request.param)) as server:
        yield f"{server.url}/fhir", request.param


def test_a_409_is_ours_only_when_it_names_our_slot(endpoint: tuple[str, str]) -> None:
    url, slot_reference = endpoint
    client = ProviderClient(ssp_url=None, from_asid="200000000201", tokens=StaticTokens())
    book = client.book(
        endpoint=url,
        to_asid="200000000101",
        slot=SLOT,
        patient=PATIENT,
        trace_id="t",
        description="d",
    )
    if slot_reference == "Slot/s1":
        assert asyncio.run(book).id == "other"
        return
    with pytest.raises(ProviderError) as raised:
        asyncio.run(book)
    assert raised.value.status == 409 and "not our booking" in str(raised.value)

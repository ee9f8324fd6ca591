"""The consumer's provider client against a stand-in provider on a real socket: retries keep
their X-Request-ID, and a 409 for our own earlier booking returns that booking."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from uec_booking.asgi_server import ThreadedServer
from uec_booking.consumer.models import FreeSlot, VerifiedPatient
from uec_booking.consumer.provider import ProviderClient
from uec_booking.fhir.interactions import Interaction

START = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
SLOT = FreeSlot(
    "s1",
    START,
    START + timedelta(minutes=15),
    "sch",
    "2000100001",
    None,
    None,
    {
        "resourceType": "Slot",
        "id": "s1",
        "start": START.isoformat(),
        "end": (START + timedelta(minutes=15)).isoformat(),
    },
)
PATIENT = VerifiedPatient(
    "9000000009",
    "Smith",
    ["Jane"],
    [],
    "female",
    "1985-10-22",
    ["1 Street"],
    "Leeds",
    "LS1 6AE",
    None,
    {},
)


class StaticTokens:
    async def token(self, *, audience: str, interaction: Interaction | None = None) -> str:
        return "token"


class Provider:
    """Answers the first POST only after the client has given up; records what it saw."""

    def __init__(self) -> None:
        self.posts: list[str] = []
        self.booked: dict[str, str] = {}  # X-Request-ID -> appointment id

    def app(self) -> Starlette:
        async def appointment(request: Request) -> Response:
            request_id = request.headers["x-request-id"]
            self.posts.append(request_id)
            body = json.loads(await request.body())
            if request_id in self.booked:
                return Response(
                    json.dumps(
                        {"resourceType": "OperationOutcome", "issue": [{"code": "conflict"}]}
                    ),
                    409,
                    headers={
                        "Content-Location": f"http://x/fhir/Appointment/{self.booked[request_id]}/_history/1"
                    },
                )
            self.booked[request_id] = "a1"
            if len(self.posts) == 1:
                await asyncio.sleep(1.5)  # booked, but the answer comes too late for the client
            return Response(json.dumps({**body, "id": "a1", "meta": {"versionId": "1"}}), 201)

        async def read(request: Request) -> Response:
            return Response(
                json.dumps(
                    {
                        "resourceType": "Appointment",
                        "id": "a1",
                        "status": "booked",
                        "start": SLOT.resource["start"],
                        "end": SLOT.resource["end"],
                        "slot": [{"reference": "Slot/s1"}],
                        "meta": {"versionId": "1"},
                    }
                ),
                200,
            )

        return Starlette(
            routes=[
                Route("/fhir/Appointment", appointment, methods=["POST"]),
                Route("/fhir/Appointment/{id}", read),
            ]
        )


@pytest.fixture
def provider() -> Iterator[tuple[Provider, str]]:
    stand_in = Provider()
    with ThreadedServer(stand_in.app()) as server:
        yield stand_in, f"{server.url}/fhir"


def test_timed_out_booking_is_retried_with_the_same_request_id(
    provider: tuple[Provider, str],
) -> None:
    stand_in, endpoint = provider
    client = ProviderClient(
        ssp_url=None, from_asid="200000000201", tokens=StaticTokens(), timeout=0.5, backoff=0.05
    )
    booked = asyncio.run(
        client.book(
            endpoint=endpoint,
            to_asid="200000000101",
            slot=SLOT,
            patient=PATIENT,
            trace_id="t",
            description="d",
        )
    )
    assert booked.id == "a1"
    assert len(stand_in.posts) == 2 and stand_in.posts[0] == stand_in.posts[1], (
        "a retry keeps its X-Request-ID"
    )
    assert len(stand_in.booked) == 1


def test_appointment_shape(provider: tuple[Provider, str]) -> None:
    from fhir.resources.STU3.appointment import Appointment

    from uec_booking.consumer.appointment import appointment_for

    body: dict[str, Any] = appointment_for(SLOT, PATIENT, description="Reason for calling")
    Appointment.model_validate(body)
    assert (
        "id" not in body
        and body["status"] == "booked"
        and body["slot"] == [{"reference": "Slot/s1"}]
    )
    patient = body["contained"][0]
    assert patient["identifier"][0]["use"] == "official" and patient["identifier"][0]["extension"]
    assert body["participant"][0]["actor"]["reference"] == "#P1"
    assert body["supportingInformation"] == [{"reference": "#D1"}]

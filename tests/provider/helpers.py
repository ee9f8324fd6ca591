"""Building requests the way consumers and the NHS test kit do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

TESTKIT = Path(__file__).resolve().parents[1] / "data" / "testkit"  # see its README

SERVICE = "2000100001"  # Leeds UTC in the sample directory
NHS_NUMBER = "9000000009"


def window(hours: int = 48) -> tuple[str, str]:
    now = datetime.now(UTC).replace(microsecond=0)
    return now.isoformat(), (now + timedelta(hours=hours)).isoformat()


def service_search(service: str = SERVICE, *more: tuple[str, str]) -> list[tuple[str, str]]:
    """A Slot search of one service over `window()`, as a view answers it."""
    lo, hi = window()
    return [
        ("start", f"ge{lo}"),
        ("start", f"le{hi}"),
        ("schedule.actor:healthcareservice", service),
        *more,
    ]


def search_free(
    client: httpx.Client, base: str, service: str = SERVICE, **extra: str
) -> list[dict[str, Any]]:
    params = service_search(service, ("status", "free"), *extra.items())
    response = client.get(f"{base}/Slot", params=params)
    assert response.status_code == 200, response.text
    return [
        e["resource"] for e in response.json().get("entry", []) if e["search"]["mode"] == "match"
    ]


def appointment(slot: dict[str, Any], nhs_number: str = NHS_NUMBER) -> dict[str, Any]:
    """The Appointment a consumer sends (DESIGN: contained Patient and DocumentReference)."""
    return {
        "resourceType": "Appointment",
        "meta": {
            "profile": [
                "https://fhir.hl7.org.uk/STU3/StructureDefinition/CareConnect-Appointment-1"
            ]
        },
        "contained": [
            {
                "resourceType": "Patient",
                "id": "P1",
                "identifier": [
                    {
                        "use": "official",
                        "system": "https://fhir.nhs.uk/Id/nhs-number",
                        "value": nhs_number,
                    }
                ],
                "name": [{"family": "Smith", "given": ["Jane"]}],
                "gender": "female",
                "birthDate": "1985-10-22",
                "telecom": [{"system": "phone", "value": "01632 960587", "rank": 1}],
            },
            {
                "resourceType": "DocumentReference",
                "id": "D1",
                "status": "current",
                "type": {
                    "coding": [
                        {
                            "system": "urn:oid:2.16.840.1.113883.2.1.3.2.4.18.17",
                            "code": "POCD_MT200001GB02",
                        }
                    ]
                },
                "indexed": "2026-11-24T09:00:00+00:00",
                "content": [{"attachment": {"contentType": "application/hl7-v3+xml"}}],
            },
        ],
        "status": "booked",
        "description": "Reason for calling",
        "start": slot["start"],
        "end": slot["end"],
        "created": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "slot": [{"reference": f"Slot/{slot['id']}"}],
        "supportingInformation": [{"reference": "#D1"}],
        "participant": [{"actor": {"reference": "#P1"}, "status": "accepted"}],
    }


def tkw_body(
    name: str,
    slot: dict[str, Any],
    *,
    appointment_id: str = "",
    created: str = "2026-11-24T09:00:00+00:00",
) -> bytes:
    """A test-kit XML body with its placeholders filled from a real slot (a cancel must repeat
    the booking's `created`: only the cancellation elements may change)."""
    text = (TESTKIT / name).read_text(encoding="utf-8")
    schedule = slot["schedule"]["reference"].split("/", 1)[1]
    for old, new in {
        "__SLOT_ID__": slot["id"],
        "__SLOT_IDENTIFIER_SYSTEM__": "https://tools.ietf.org/html/rfc4122",
        "__SLOT_IDENTIFIER_VALUE__": "5a889965-3db4-4c29-8003-676c247a763e",
        "__SCHEDULE_ID__": schedule,
        "__START__": slot["start"],
        "__END__": slot["end"],
        "__CREATED__": created,
        "__APPOINTMENT_ID__": appointment_id,
    }.items():
        text = text.replace(old, new)
    if not appointment_id:
        text = text.replace('<id value=""/>', "")
    return text.encode()


FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
FHIR_XML = {"Content-Type": "application/fhir+xml", "Accept": "application/fhir+xml"}


def later(hours: int) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


class OwnLoop:
    """Stores and apps driven from synchronous tests (hypothesis's `@given` takes no coroutine)
    on an event loop of their own, kept for the whole test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coro)

    async def aclose(self) -> None:
        """What the subclass opened, closed on its loop."""

    def close(self) -> None:
        self.run(self.aclose())
        self.loop.close()


World = TypeVar("World", bound=OwnLoop)


@contextmanager
def seeded(make: Callable[[str], World], db_url: str) -> Iterator[World]:
    """The sample directory with 3 days of slots, and `make(db_url)` on it, closed after."""
    from tests.provider.conftest import seed_db

    seed_db(db_url, days=3)
    world = make(db_url)
    try:
        yield world
    finally:
        world.close()

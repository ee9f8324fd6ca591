"""The CapabilityStatement, generated from the same search tables the handlers use."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from uec_booking import __version__
from uec_booking.fhir.interactions import Interaction
from uec_booking.fhir.urls import PROFILES
from uec_booking.provider import deps
from uec_booking.provider.deps import Exchange
from uec_booking.provider.resources.appointment import APPOINTMENT_SEARCH
from uec_booking.provider.resources.directory import READABLE_TYPES
from uec_booking.provider.resources.slot import SLOT_SEARCH

router = APIRouter()


def capability_statement(base_url: str) -> dict[str, Any]:
    resources: list[dict[str, Any]] = [
        {
            "type": "Slot",
            "profile": {"reference": PROFILES["Slot"][-1]},
            "interaction": [
                {"code": "search-type"},
                {"code": "read"},
                {
                    "code": "update",
                    "documentation": "Provider staff only (the provider-admin scope): "
                    "status busy-unavailable (reason in comment) or free",
                },
            ],
            **SLOT_SEARCH.capability(),
        },
        {
            "type": "Appointment",
            "profile": {"reference": PROFILES["Appointment"][-1]},
            "interaction": [
                {"code": "create"},
                {"code": "read"},
                {"code": "vread"},
                {"code": "update"},
                {"code": "history-instance"},
                {"code": "search-type"},
            ],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": False,
            "conditionalUpdate": False,
            **APPOINTMENT_SEARCH.capability(),
        },
    ]
    resources += [
        {
            "type": t,
            "profile": {"reference": PROFILES[t][-1]},
            "interaction": [{"code": "read"}],
        }
        for t in READABLE_TYPES
    ]
    return {
        "resourceType": "CapabilityStatement",
        "id": "uec-booking-provider",
        "version": __version__,
        "name": "UEC Appointments provider",
        "status": "active",
        "date": datetime.now(UTC).date().isoformat(),
        "publisher": "uec-booking",
        "description": "FHIR STU3 (CareConnect) Slot search and Appointment booking for the "
        "NHS UEC Appointments standard. Interactions: "
        + ", ".join(i.value for i in Interaction if i is not Interaction.READ_DIRECTORY),
        "kind": "instance",
        "software": {"name": "uec-booking", "version": __version__},
        "implementation": {"description": "uec-booking provider FHIR API", "url": base_url},
        "fhirVersion": "3.0.1",
        "acceptUnknown": "both",
        "format": ["application/fhir+json", "application/fhir+xml"],
        "profile": [{"reference": p[-1]} for p in PROFILES.values()],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": False,
                    "description": "Bearer JWT from the NHS authentication service "
                    "(RFC 6750); scopes and groups per interaction",
                },
                "resource": resources,
            }
        ],
    }


@router.get("/metadata")
async def metadata(call: Exchange = Depends(deps.exchange(Interaction.READ_METADATA))) -> Response:
    return call.respond(capability_statement(deps.base_url(call.request)))

"""The CapabilityStatement, generated from the same search tables the handlers use."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from uec_booking import __version__
from uec_booking.fhir.formats import Format
from uec_booking.fhir.http import fhir_response
from uec_booking.fhir.interactions import Interaction
from uec_booking.fhir.urls import PROFILES
from uec_booking.provider import deps
from uec_booking.provider.resources.appointment import APPOINTMENT_SEARCH
from uec_booking.provider.resources.directory import READABLE_TYPES
from uec_booking.provider.resources.slot import SLOT_SEARCH
from uec_booking.provider.search import SearchSpec

router = APIRouter()

_DOCS = {
    "schedule.actor:healthcareservice": "The HealthcareService (its DoS service id); also "
    "accepted as `service` and `schedule.actor:HealthcareService`",
    "start": "Slot/Appointment start; prefixes ge, gt, le, lt (an upper bound is required for Slot)",
}


# Paging and counting, the same for every search here (`provider/paging.py`).
_RESULT_PARAMS: list[dict[str, Any]] = [
    {
        "name": "_count",
        "type": "number",
        "documentation": "Page size; Bundle.total counts every match, link next/previous page",
    },
    {"name": "_summary", "type": "token", "documentation": "count: Bundle.total only"},
    {
        "name": "_page",
        "type": "string",
        "documentation": "The page cursor of a next/previous/first link this server gave out",
    },
]


def _search_params(spec: SearchSpec) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "type": "reference" if p.type == "reference" else str(p.type),
            **({"documentation": _DOCS[p.name]} if p.name in _DOCS else {}),
        }
        for p in spec.params
    ] + _RESULT_PARAMS


def capability_statement(base_url: str) -> dict[str, Any]:
    resources: list[dict[str, Any]] = [
        {
            "type": "Slot",
            "profile": {"reference": PROFILES["Slot"][-1]},
            "interaction": [{"code": "search-type"}, {"code": "read"}],
            "searchInclude": sorted(set(SLOT_SEARCH.includes.values())),
            "searchParam": _search_params(SLOT_SEARCH),
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
            "searchParam": _search_params(APPOINTMENT_SEARCH),
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
async def metadata(
    request: Request,
    fmt: Format = Depends(deps.response_format),
    _who: object = Depends(deps.require(Interaction.READ_METADATA)),
) -> Response:
    return fhir_response(request, capability_statement(deps.base_url(request)), fmt=fmt)

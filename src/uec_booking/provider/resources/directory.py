"""Reads of the resources a slot search describes: Schedule, Slot, Practitioner,
PractitionerRole, Location, HealthcareService, Organization."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from uec_booking.fhir.errors import NotFound
from uec_booking.fhir.formats import Format
from uec_booking.fhir.http import fhir_response
from uec_booking.fhir.interactions import Interaction
from uec_booking.provider import deps
from uec_booking.provider.representation import etag, slot_resource
from uec_booking.provider.store import directory, slots

READABLE_TYPES = (
    "Schedule",
    "Practitioner",
    "PractitionerRole",
    "Location",
    "HealthcareService",
    "Organization",
)

router = APIRouter()


def _read_headers(request: Request, resource: dict[str, object]) -> dict[str, str]:
    meta = resource.get("meta")
    version = str(meta.get("versionId", "1")) if isinstance(meta, dict) else "1"
    location = (
        f"{deps.base_url(request)}/{resource['resourceType']}/{resource['id']}/_history/{version}"
    )
    return {"ETag": etag(version), "Content-Location": location}


@router.get("/Slot/{slot_id}")
async def read_slot(
    slot_id: str,
    request: Request,
    fmt: Format = Depends(deps.response_format),
    _who: object = Depends(deps.require(Interaction.READ_DIRECTORY, "Slot")),
) -> Response:
    async with deps.store(request).read() as session:
        row = await slots.get(session, slot_id)
    if row is None:
        raise NotFound(f"No Slot with id '{slot_id}'")
    resource = slot_resource(row)
    return fhir_response(request, resource, headers=_read_headers(request, resource), fmt=fmt)


def _reader(resource_type: str):  # type: ignore[no-untyped-def]
    async def read(
        resource_id: str,
        request: Request,
        fmt: Format = Depends(deps.response_format),
        _who: object = Depends(deps.require(Interaction.READ_DIRECTORY, resource_type)),
    ) -> Response:
        async with deps.store(request).read() as session:
            resource = await directory.get(session, resource_type, resource_id)
        if resource is None:
            raise NotFound(f"No {resource_type} with id '{resource_id}'")
        return fhir_response(request, resource, headers=_read_headers(request, resource), fmt=fmt)

    read.__name__ = f"read_{resource_type.lower()}"
    return read


for _type in READABLE_TYPES:
    router.add_api_route(f"/{_type}/{{resource_id}}", _reader(_type), methods=["GET"])

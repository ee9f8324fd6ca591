"""Reads of the resources a slot search describes: Schedule, Slot, Practitioner,
PractitionerRole, Location, HealthcareService, Organization."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from uec_booking.fhir.errors import NotFound
from uec_booking.fhir.interactions import Interaction
from uec_booking.provider import deps
from uec_booking.provider.deps import Exchange
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


def _read(call: Exchange, resource: dict[str, Any]) -> Response:
    meta = resource.get("meta")
    version = str(meta.get("versionId", "1")) if isinstance(meta, dict) else "1"
    base = deps.base_url(call.request)
    location = f"{base}/{resource['resourceType']}/{resource['id']}/_history/{version}"
    return call.respond(resource, headers={"ETag": etag(version), "Content-Location": location})


@router.get("/Slot/{slot_id}")
async def read_slot(
    slot_id: str, call: Exchange = Depends(deps.exchange(Interaction.READ_DIRECTORY, "Slot"))
) -> Response:
    async with deps.store(call.request).read() as session:
        row = await slots.get(session, slot_id)
    if row is None:
        raise NotFound(f"No Slot with id '{slot_id}'")
    return _read(call, slot_resource(row))


def _reader(resource_type: str):  # type: ignore[no-untyped-def]
    reader = Depends(deps.exchange(Interaction.READ_DIRECTORY, resource_type))

    async def read(resource_id: str, call: Exchange = reader) -> Response:
        async with deps.store(call.request).read() as session:
            resource = await directory.get(session, resource_type, resource_id)
        if resource is None:
            raise NotFound(f"No {resource_type} with id '{resource_id}'")
        return _read(call, resource)

    read.__name__ = f"read_{resource_type.lower()}"
    return read


for _type in READABLE_TYPES:
    router.add_api_route(f"/{_type}/{{resource_id}}", _reader(_type), methods=["GET"])

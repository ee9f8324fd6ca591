"""Directory resources: Organization, Location, Practitioner, PractitionerRole,
HealthcareService and Schedule, stored as FHIR JSON."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from uec_booking.provider.representation import stored_resource
from uec_booking.provider.store import epochs
from uec_booking.provider.store.models import DirectoryResource

DIRECTORY_TYPES = frozenset(
    {
        "Organization",
        "Location",
        "Practitioner",
        "PractitionerRole",
        "HealthcareService",
        "Schedule",
    }
)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


async def get(session: AsyncSession, resource_type: str, resource_id: str) -> dict[str, Any] | None:
    row = await session.get(DirectoryResource, (resource_type, resource_id))
    return None if row is None else stored_resource(row.body, row.version_id, row.updated_at)


async def get_many(session: AsyncSession, keys: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """Resources for (type, id) pairs, in the order given, each once; missing ones skipped."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return []
    rows = (
        await session.scalars(
            select(DirectoryResource).where(
                tuple_(DirectoryResource.resource_type, DirectoryResource.id).in_(wanted)
            )
        )
    ).all()
    found = {(r.resource_type, r.id): r for r in rows}
    return [
        stored_resource(found[k].body, found[k].version_id, found[k].updated_at)
        for k in wanted
        if k in found
    ]


async def exists(session: AsyncSession, resource_type: str, resource_id: str) -> bool:
    return await session.get(DirectoryResource, (resource_type, resource_id)) is not None


async def schedule_ids_for_service(session: AsyncSession, service_id: str) -> list[str]:
    rows = await session.scalars(
        select(DirectoryResource.id).where(
            DirectoryResource.resource_type == "Schedule",
            DirectoryResource.healthcare_service_id == service_id,
        )
    )
    return list(rows.all())


async def upsert(session: AsyncSession, resource: dict[str, Any]) -> bool:
    """Store a directory resource; a new version only when its content changed. True if written."""
    resource_type, resource_id = resource["resourceType"], resource["id"]
    if resource_type not in DIRECTORY_TYPES:
        raise ValueError(f"{resource_type} is not a directory resource")
    content = {k: v for k, v in resource.items() if k != "meta"}
    content["meta"] = {"profile": resource.get("meta", {}).get("profile", [])}
    content = {"resourceType": resource_type, "id": resource_id, **content}
    body = orjson.dumps(content).decode()
    service_id = None
    if resource_type == "Schedule":
        for actor in resource.get("actor", []):
            ref = actor.get("reference", "")
            if ref.startswith("HealthcareService/"):
                service_id = ref.split("/", 1)[1]
    row = await session.get(DirectoryResource, (resource_type, resource_id))
    if row is None:
        session.add(
            DirectoryResource(
                resource_type=resource_type,
                id=resource_id,
                version_id=1,
                healthcare_service_id=service_id,
                updated_at=_now(),
                body=body,
            )
        )
        epochs.touch(session, [epochs.DIRECTORY])
        return True
    if orjson.loads(row.body) == content:
        return False
    row.body = body
    row.version_id += 1
    row.healthcare_service_id = service_id
    row.updated_at = _now()
    epochs.touch(session, [epochs.DIRECTORY])
    return True

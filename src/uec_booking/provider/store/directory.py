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
from uec_booking.provider.store.models import ConsumerOrganisation, DirectoryResource
from uec_booking.provider.visibility import Rule, Visibility

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


async def set_visibility(session: AsyncSession, schedule_id: str, rule: Rule | None) -> bool:
    """Restrict a Schedule's slots to the consumers `rule` admits (None: every consumer).
    True if that changed."""
    row = await session.get(DirectoryResource, ("Schedule", schedule_id))
    if row is None:
        raise ValueError(f"No Schedule {schedule_id}")
    wanted = None if rule is None else rule.to_json()
    if row.visible_to == wanted:
        return False
    row.visible_to = wanted
    epochs.touch(session, [epochs.DIRECTORY])
    return True


async def set_consumer_organisations(
    session: AsyncSession, organisations: Iterable[tuple[str, str, str | None]]
) -> int:
    """Record the consumer organisations the provider knows: (ODS code, type, name)."""
    written = 0
    for ods, kind, name in organisations:
        row = await session.get(ConsumerOrganisation, ods.upper())
        if row is None:
            session.add(ConsumerOrganisation(ods=ods.upper(), organisation_type=kind, name=name))
        elif (row.organisation_type, row.name) != (kind, name):
            row.organisation_type, row.name = kind, name
        else:
            continue
        written += 1
    if written:
        epochs.touch(session, [epochs.DIRECTORY])
    return written


async def visibility(session: AsyncSession) -> Visibility:
    """Every Schedule's visibility rule and the consumer organisations' types."""
    rules = await session.execute(
        select(DirectoryResource.id, DirectoryResource.visible_to).where(
            DirectoryResource.resource_type == "Schedule",
            DirectoryResource.visible_to.is_not(None),
        )
    )
    kinds = await session.execute(
        select(ConsumerOrganisation.ods, ConsumerOrganisation.organisation_type)
    )
    return Visibility(
        {sid: Rule.from_json(text) for sid, text in rules.all() if text},
        {ods: kind for ods, kind in kinds.all()},
    )

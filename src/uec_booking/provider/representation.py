"""Between stored rows and FHIR resources: the only place that knows both shapes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Row

from uec_booking.fhir.reference import reference
from uec_booking.fhir.urls import SLOT_IDENTIFIER_SYSTEM, profiles
from uec_booking.provider.store.models import SlotRow


def instant(moment: datetime) -> str:
    """A stored naive-UTC datetime as a FHIR instant with milliseconds and an explicit offset
    (`fs_times`: `YYYY-MM-DDThh:mm:ss.sss+zz:zz`)."""
    if moment.tzinfo is None:  # what the store holds; the cheap path, ~300 per search
        return moment.isoformat(timespec="milliseconds") + "+00:00"
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def http_date(moment: datetime) -> str:
    """A stored naive-UTC datetime as an HTTP date (`Last-Modified`)."""
    return moment.replace(tzinfo=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def etag(version_id: int | str) -> str:
    return f'W/"{version_id}"'


def slot_resource(row: SlotRow | Row[Any]) -> dict[str, Any]:
    """The FHIR Slot for a row, built from its columns (no stale JSON copy to go wrong)."""
    resource: dict[str, Any] = {
        "resourceType": "Slot",
        "id": row.id,
        "meta": {
            "versionId": str(row.version_id),
            "lastUpdated": instant(row.updated_at),
            "profile": profiles("Slot"),
        },
    }
    if row.extra:
        resource.update(orjson.loads(row.extra))
    if "identifier" not in resource:  # fs_fhir_overrides: Slot.identifier 1..1
        resource["identifier"] = [slot_identifier(row.id)]
    resource["schedule"] = reference("Schedule", row.schedule_id)
    resource["status"] = row.status
    resource["start"] = instant(row.start)
    resource["end"] = instant(row.end)
    return resource


def slot_identifier(slot_id: str) -> dict[str, str]:
    """The business identifier of a slot the provider generated: a UUID derived from its id,
    so it is the same on every read and in every worker."""
    return {
        "system": SLOT_IDENTIFIER_SYSTEM,
        "value": str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:uec-booking:slot:{slot_id}")),
    }


def stored_resource(body: str, version_id: int, updated_at: datetime) -> dict[str, Any]:
    """A stored resource JSON with its current meta.versionId/lastUpdated."""
    resource: dict[str, Any] = orjson.loads(body)
    meta = resource.setdefault("meta", {})
    meta["versionId"] = str(version_id)
    meta["lastUpdated"] = instant(updated_at)
    return resource

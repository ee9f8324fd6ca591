"""Import of a FHIR Bundle of directory resources and Slots (`seed --from-file`): checked
whole before anything is written (slots ending before they start, Schedules for unknown
services, a `--healthcare-service` naming nothing), then written in one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from uec_booking.fhir.errors import BadRequest
from uec_booking.fhir.reference import parse_reference, reference
from uec_booking.provider.search_dates import utc_naive
from uec_booking.provider.seed import SeedReport
from uec_booking.provider.store import Store, directory, slots


def _practitioner_name(resource: dict[str, Any]) -> None:
    """Accept the seed's DSTU2-style `name: {family: [..]}`; store valid STU3."""
    name = resource.get("name")
    if isinstance(name, dict):
        name = [name]
    for entry in name or []:
        if isinstance(entry.get("family"), list):
            entry["family"] = " ".join(entry["family"])
    if name is not None:
        resource["name"] = name


async def import_bundle(
    store: Store, bundle: dict[str, Any], *, healthcare_service: str | None = None
) -> SeedReport:
    """Import the directory resources and Slots of a FHIR Bundle (e.g. the seed's example).

    Every Schedule needs a HealthcareService actor; `healthcare_service` supplies it for
    Schedules that have none (the seed's example has only Location and Practitioner).
    """
    if bundle.get("resourceType") != "Bundle":
        raise BadRequest("The file must hold a FHIR Bundle")
    resources = [e.get("resource") or {} for e in bundle.get("entry", [])]
    schedules: dict[str, str] = {}
    written = 0
    new_slots: list[dict[str, Any]] = []
    async with store.write() as session:
        await _check_import(session, resources, healthcare_service)
        for resource in resources:
            kind = resource.get("resourceType")
            if kind in directory.DIRECTORY_TYPES:
                if kind == "Practitioner":
                    _practitioner_name(resource)
                if kind == "Schedule":
                    service = next(
                        (
                            parse_reference(a.get("reference", "")).id
                            for a in resource.get("actor", [])
                            if a.get("reference", "").startswith("HealthcareService/")
                        ),
                        None,
                    )
                    if service is None and healthcare_service:
                        service = healthcare_service
                        resource.setdefault("actor", []).insert(
                            0, reference("HealthcareService", healthcare_service)
                        )
                    if service is None:
                        raise BadRequest(
                            f"Schedule/{resource.get('id')} has no HealthcareService actor "
                            "(name one with --healthcare-service)"
                        )
                    schedules[resource["id"]] = service
                written += await directory.upsert(session, resource)
        for resource in resources:
            if resource.get("resourceType") != "Slot":
                continue
            sched = parse_reference(resource["schedule"]["reference"]).id
            service = schedules.get(sched)
            if service is None:
                raise BadRequest(
                    f"Slot/{resource.get('id')} names Schedule/{sched}, not in the Bundle"
                )
            extra = {
                k: v for k, v in resource.items() if k in ("identifier", "serviceType", "comment")
            }
            new_slots.append(
                {
                    "id": resource["id"],
                    "schedule_id": sched,
                    "healthcare_service_id": service,
                    "start": utc_naive(
                        datetime.fromisoformat(resource["start"].replace("Z", "+00:00"))
                    ),
                    "end": utc_naive(
                        datetime.fromisoformat(resource["end"].replace("Z", "+00:00"))
                    ),
                    "status": resource.get("status", "free"),
                    "extra": extra or None,
                }
            )
        added = await slots.insert_missing(session, new_slots)
    async with store.read() as session:
        total = await slots.count(session)
    return SeedReport(written, added, total)


def _instant(resource: dict[str, Any], name: str) -> datetime:
    value = resource.get(name)
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise BadRequest(
            f"Slot/{resource.get('id')} has {name} {value!r}, not an instant with an offset"
        )
    return moment


async def _check_import(
    session: Any, resources: list[dict[str, Any]], healthcare_service: str | None
) -> None:
    """Refuse, before anything is written, a Bundle that would store nonsense: Slots without
    an id or ending before they start, Schedules (or `--healthcare-service`) naming a
    HealthcareService that neither the Bundle nor the store has."""
    in_bundle = {r.get("id") for r in resources if r.get("resourceType") == "HealthcareService"}

    async def known(service_id: str) -> bool:
        return service_id in in_bundle or await directory.exists(
            session, "HealthcareService", service_id
        )

    if healthcare_service and not await known(healthcare_service):
        raise BadRequest(
            f"--healthcare-service {healthcare_service} names no HealthcareService in the "
            "Bundle or the store (seed or import the service first)"
        )
    for resource in resources:
        kind = resource.get("resourceType")
        if kind == "Schedule":
            for actor in resource.get("actor", []):
                ref = actor.get("reference", "")
                if ref.startswith("HealthcareService/") and not await known(
                    parse_reference(ref).id
                ):
                    raise BadRequest(
                        f"Schedule/{resource.get('id')} names {ref}, which is neither in the "
                        "Bundle nor in the store"
                    )
        elif kind == "Slot":
            if not resource.get("id") or not (resource.get("schedule") or {}).get("reference"):
                raise BadRequest("Every Slot in the Bundle needs an id and a schedule reference")
            if _instant(resource, "end") <= _instant(resource, "start"):
                raise BadRequest(
                    f"Slot/{resource['id']} ends ({resource['end']}) before it starts "
                    f"({resource['start']})"
                )

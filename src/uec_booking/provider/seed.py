"""Sample data: the directory resources of the sample services and slots generated from their
availability templates (a Bundle's import: `bundle_import`). All idempotent:
running it again adds what is missing and never touches a booked slot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from uec_booking.fhir.reference import reference
from uec_booking.fhir.urls import (
    DELIVERY_CHANNEL_EXTENSION,
    DOS_SERVICE_SYSTEM,
    ODS_ORGANIZATION_SYSTEM,
    ODS_SITE_SYSTEM,
    SDS_ROLE_PROFILE_SYSTEM,
    SDS_USER_SYSTEM,
    profiles,
)
from uec_booking.provider.search_dates import utc_naive
from uec_booking.provider.store import Store, directory, slots
from uec_booking.provider.visibility import Rule

LONDON = ZoneInfo("Europe/London")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class SeedReport:
    resources_written: int
    slots_added: int
    slots_total: int


def _meta(resource_type: str) -> dict[str, Any]:
    return {"profile": profiles(resource_type)}


def _identified(
    resource_type: str, resource_id: str, identifier: tuple[str, str], **elements: Any
) -> dict[str, Any]:
    """A directory resource with its profile and its one identifier (system, value)."""
    system, value = identifier
    return {
        "resourceType": resource_type,
        "id": resource_id,
        "meta": _meta(resource_type),
        "identifier": [{"system": system, "value": value}],
        **elements,
    }


def _work_phone(number: str) -> dict[str, str]:
    return {"system": "phone", "value": number, "use": "work"}


def schedule_id(service_id: str, practitioner_id: str) -> str:
    return f"sch-{service_id}-{practitioner_id}"


def role_id_for(service_id: str, practitioner_id: str) -> str:
    return f"role-{service_id}-{practitioner_id}"


def directory_resources(sample: dict[str, Any]) -> list[dict[str, Any]]:
    """Organization, Location, Practitioner, PractitionerRole, HealthcareService and Schedule
    resources for the sample directory's bookable services."""
    out: list[dict[str, Any]] = []
    for org in sample["organizations"]:
        out.append(
            _identified(
                "Organization",
                org["id"],
                (ODS_ORGANIZATION_SYSTEM, org["ods"]),
                active=True,
                name=org["name"],
                telecom=[_work_phone(org["phone"])],
                address=[{"postalCode": org["postcode"]}],
            )
        )
    for loc in sample["locations"]:
        address = {"line": loc["lines"], "city": loc["city"], "postalCode": loc["postcode"]}
        out.append(
            _identified(
                "Location",
                loc["id"],
                (ODS_SITE_SYSTEM, loc["ods_site"]),
                status="active",
                name=loc["name"],
                address=address,
                position={"latitude": loc["latitude"], "longitude": loc["longitude"]},
            )
        )
    practitioners = {p["id"]: p for p in sample["practitioners"]}
    # A Practitioner's SDS role profile ids are the ids of its PractitionerRoles (the NHS test
    # kit's chain SFFSPractitionerRolesReturned matches one to the other).
    role_ids: dict[str, list[str]] = {}
    for service in sample["healthcare_services"]:
        for prac_id in (service.get("availability") or {}).get("practitioners", []):
            role_ids.setdefault(prac_id, []).append(role_id_for(service["id"], prac_id))
    for prac in sample["practitioners"]:
        out.append(
            {
                "resourceType": "Practitioner",
                "id": prac["id"],
                "meta": _meta("Practitioner"),
                "identifier": [
                    {"system": SDS_USER_SYSTEM, "value": prac["sds_user_id"]},
                    *(
                        {"system": SDS_ROLE_PROFILE_SYSTEM, "value": role}
                        for role in role_ids.get(prac["id"], [])
                    ),
                ],
                "name": [
                    {"family": prac["family"], "given": prac["given"], "prefix": prac["prefix"]}
                ],
                "gender": prac["gender"],
            }
        )
    for service in sample["healthcare_services"]:
        availability = service.get("availability")
        if not availability:
            continue
        hs = _identified(
            "HealthcareService",
            service["id"],
            (DOS_SERVICE_SYSTEM, service["id"]),
            active=True,
            providedBy=reference("Organization", service["organization"]),
            type=[{"text": service["type"]}],
            name=service["name"],
            telecom=[_work_phone(service["phone"])],
        )
        if service.get("location"):
            hs["location"] = [reference("Location", service["location"])]
        out.append(hs)
        for prac_id in availability["practitioners"]:
            prac = practitioners[prac_id]
            role_id = role_id_for(service["id"], prac_id)
            out.append(
                {
                    "resourceType": "PractitionerRole",
                    "id": role_id,
                    "meta": _meta("PractitionerRole"),
                    "active": True,
                    "practitioner": reference("Practitioner", prac_id),
                    "organization": reference("Organization", service["organization"]),
                    "code": [{"text": prac["role"]}],
                    "healthcareService": [reference("HealthcareService", service["id"])],
                    **(
                        {"location": [reference("Location", service["location"])]}
                        if service.get("location")
                        else {}
                    ),
                }
            )
            # fs_fhir_overrides: HealthcareService 1..1, Practitioner 0..1, PractitionerRole
            # 0..1 and nothing else; the Location is the HealthcareService's.
            actors = [
                reference("HealthcareService", service["id"]),
                reference("Practitioner", prac_id),
                reference("PractitionerRole", role_id),
            ]
            out.append(
                {
                    "resourceType": "Schedule",
                    "id": schedule_id(service["id"], prac_id),
                    "meta": _meta("Schedule"),
                    "active": True,
                    "serviceType": [{"text": service["type"]}],
                    "actor": actors,
                    "comment": f"{service['name']}: {prac['role']} {' '.join(prac['prefix'] + [prac['family']])}",
                }
            )
    return out


def generate_slots(sample: dict[str, Any], *, first_day: date, days: int) -> list[dict[str, Any]]:
    """Slots for every bookable service's availability template, `days` days from `first_day`
    (opening hours in UK local time, stored in UTC)."""
    out: list[dict[str, Any]] = []
    for service in sample["healthcare_services"]:
        availability = service.get("availability")
        if not availability:
            continue
        open_at = time.fromisoformat(availability["open"])
        close_at = time.fromisoformat(availability["close"])
        length = timedelta(minutes=int(availability["slot_minutes"]))
        for offset in range(days):
            day = first_day + timedelta(days=offset)
            if WEEKDAYS[day.weekday()] not in availability["days"]:
                continue
            start = datetime.combine(day, open_at, LONDON)
            close = datetime.combine(day, close_at, LONDON)
            while start + length <= close:
                end = start + length
                for prac_id in availability["practitioners"]:
                    sched = schedule_id(service["id"], prac_id)
                    channel = availability.get("delivery_channel")
                    out.append(
                        {
                            "extra": (
                                {
                                    "extension": [
                                        {"url": DELIVERY_CHANNEL_EXTENSION, "valueCode": channel}
                                    ]
                                }
                                if channel
                                else None
                            ),
                            "id": f"{sched}-{start.strftime('%Y%m%d%H%M')}",
                            "schedule_id": sched,
                            "healthcare_service_id": service["id"],
                            "start": utc_naive(start),
                            "end": utc_naive(end),
                        }
                    )
                start = end
    return out


Progress = Callable[[int, int, int], None]  # (days done, days in all, slots added so far)


async def seed(
    store: Store,
    sample: dict[str, Any],
    *,
    first_day: date,
    days: int,
    on_progress: Progress | None = None,
) -> SeedReport:
    """Load the sample directory and its slots (idempotent), a day at a time in one
    transaction; `on_progress(days_done, days, slots_added)` is told after each day."""
    written = added = 0
    async with store.write() as session:
        for resource in directory_resources(sample):
            written += await directory.upsert(session, resource)
        written += await _visibility(session, sample)
        for offset in range(days):
            day = first_day + timedelta(days=offset)
            added += await slots.insert_missing(
                session, generate_slots(sample, first_day=day, days=1)
            )
            if on_progress is not None:
                on_progress(offset + 1, days, added)
    async with store.read() as session:
        total = await slots.count(session)
    return SeedReport(written, added, total)


async def _visibility(session: AsyncSession, sample: dict[str, Any]) -> int:
    """The provider's say on who sees which slots: `provider_system.consumer_organisations`
    (ODS code -> organisation type) and each service's `visible_to` (see
    `provider/visibility.py`), applied to every Schedule of the service."""
    known = sample.get("provider_system", {}).get("consumer_organisations", [])
    written = await directory.set_consumer_organisations(
        session, [(o["ods"], o["organisation_type"], o.get("name")) for o in known]
    )
    for service in sample["healthcare_services"]:
        availability = service.get("availability")
        if not availability:
            continue
        rule = Rule.from_data(service["visible_to"]) if service.get("visible_to") else None
        for prac_id in availability["practitioners"]:
            written += await directory.set_visibility(
                session, schedule_id(service["id"], prac_id), rule
            )
    return written

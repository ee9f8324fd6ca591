"""The resources a Slot search's `_include`s add: one walk, whatever the resources come from
(the store, or a worker's cached view of it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

from uec_booking.fhir.reference import parse_reference

# The Schedule actor types each `Schedule:actor:<Type>` include pulls in.
ACTOR_INCLUDES = {
    "Schedule:actor:Practitioner": "Practitioner",
    "Schedule:actor:PractitionerRole": "PractitionerRole",
    "Schedule:actor:Location": "Location",
    "Schedule:actor:HealthcareService": "HealthcareService",
}
ALL_INCLUDES = frozenset(
    {"Slot:schedule", *ACTOR_INCLUDES, "HealthcareService:providedBy", "HealthcareService:location"}
)

Fetch = Callable[[Iterable[tuple[str, str]]], Awaitable[list[dict[str, Any]]]]


class SlotLike(Protocol):
    @property
    def schedule_id(self) -> str: ...
    @property
    def healthcare_service_id(self) -> str: ...


async def includes_for(
    fetch: Fetch, slots: Sequence[SlotLike], wanted: Iterable[str]
) -> list[dict[str, Any]]:
    """Included resources, each once however many Slots refer to it. `fetch` returns the
    resources for (type, id) keys in the order given, each once, missing ones skipped."""
    wanted = set(wanted)
    if not wanted or not slots:
        return []
    out: list[dict[str, Any]] = []
    schedules = await fetch(("Schedule", s.schedule_id) for s in slots)
    if "Slot:schedule" in wanted:
        out += schedules
    actor_keys: list[tuple[str, str]] = []
    for schedule in schedules:
        for actor in schedule.get("actor", []):
            ref = parse_reference(actor.get("reference", ""))
            if ref.resource_type is None:
                continue
            for include, resource_type in ACTOR_INCLUDES.items():
                if include in wanted and ref.resource_type == resource_type:
                    actor_keys.append((resource_type, ref.id))
    out += await fetch(actor_keys)
    # Schedules name no Location actor (fs_fhir_overrides allows HealthcareService,
    # Practitioner and PractitionerRole only): `Schedule:actor:Location`, which consumers
    # still send with `:recurse`, reaches the Location through the HealthcareService actor.
    wants_location = bool(wanted & {"HealthcareService:location", "Schedule:actor:Location"})
    if "HealthcareService:providedBy" in wanted or wants_location:
        service_keys = {("HealthcareService", s.healthcare_service_id) for s in slots}
        services = await fetch(sorted(service_keys))
        already = {(r["resourceType"], r["id"]) for r in out}
        extra_keys: list[tuple[str, str]] = []
        for service in services:
            if "HealthcareService:providedBy" in wanted and service.get("providedBy"):
                ref = parse_reference(service["providedBy"].get("reference", ""))
                extra_keys.append(("Organization", ref.id))
            if wants_location:
                for loc in service.get("location", []):
                    extra_keys.append(("Location", parse_reference(loc.get("reference", "")).id))
        out += [r for r in await fetch(extra_keys) if (r["resourceType"], r["id"]) not in already]
    return out

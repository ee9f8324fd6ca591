"""Slot search as the standard's assurance defines it: a required upper time bound, free
slots of one HealthcareService (the DoS id), and the `_include`s that describe them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from uec_booking.fhir.errors import BadRequest, NotFound
from uec_booking.fhir.reference import parse_reference
from uec_booking.provider.representation import slot_resource
from uec_booking.provider.search import ParsedSearch
from uec_booking.provider.store import Store, directory, slots

# The Schedule actor types each `Schedule:actor:<Type>` include pulls in.
ACTOR_INCLUDES = {
    "Schedule:actor:Practitioner": "Practitioner",
    "Schedule:actor:PractitionerRole": "PractitionerRole",
    "Schedule:actor:Location": "Location",
    "Schedule:actor:HealthcareService": "HealthcareService",
}


@dataclass(frozen=True, slots=True)
class SlotSearchResult:
    matches: list[dict[str, Any]]
    includes: list[dict[str, Any]]


def _time_window(parsed: ParsedSearch, now: datetime) -> dict[str, datetime | None]:
    bounds = parsed.dates("start")
    window: dict[str, datetime | None] = {"ge": None, "gt": None, "le": None, "lt": None}
    for bound in bounds:
        if bound.prefix == "eq":
            window["ge"] = max(filter(None, (window["ge"], bound.low)))
            window["le"] = min(filter(None, (window["le"], bound.high)))
        elif bound.prefix in ("ge", "gt"):
            value = bound.low if bound.prefix == "ge" else bound.high
            current = window[bound.prefix]
            window[bound.prefix] = value if current is None else max(current, value)
        else:
            value = bound.high if bound.prefix == "le" else bound.low
            current = window[bound.prefix]
            window[bound.prefix] = value if current is None else min(current, value)
    uppers = [b.upper_limit() for b in bounds if b.upper_limit() is not None]
    if not uppers:
        raise BadRequest(
            "Slot search needs an upper bound on start (start=le… or start=lt…)",
            expression="start",
        )
    if min(u for u in uppers if u is not None) < now:
        raise BadRequest("The search window lies wholly in the past", expression="start")
    return window


async def search(
    store: Store, parsed: ParsedSearch, *, max_results: int, now: datetime | None = None
) -> SlotSearchResult:
    now = now or datetime.now(UTC).replace(tzinfo=None)
    window = _time_window(parsed, now)
    service_ids = parsed.tokens("schedule.actor:healthcareservice")
    limit = min(parsed.count or max_results, max_results)
    async with store.read() as session:
        rows = await slots.search(
            session,
            statuses=parsed.tokens("status"),
            start_ge=window["ge"],
            start_gt=window["gt"],
            start_le=window["le"],
            start_lt=window["lt"],
            service_ids=service_ids,
            schedule_ids=parsed.tokens("schedule"),
            limit=limit,
        )
        # An unknown HealthcareService is a 404; only an empty answer needs the extra query.
        if not rows:
            for service_id in service_ids:
                if not await directory.exists(session, "HealthcareService", service_id):
                    raise NotFound(
                        f"No HealthcareService with id '{service_id}'",
                        expression="schedule.actor:healthcareservice",
                    )
        includes = await _includes(session, rows, parsed.includes)
    return SlotSearchResult([slot_resource(r) for r in rows], includes)


async def _includes(session: Any, rows: list[Any], wanted: set[str]) -> list[dict[str, Any]]:
    """Included resources, each once however many Slots refer to it."""
    if not wanted or not rows:
        return []
    out: list[dict[str, Any]] = []
    schedules = await directory.get_many(session, (("Schedule", r.schedule_id) for r in rows))
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
    actors = await directory.get_many(session, actor_keys)
    out += actors
    if wanted & {"HealthcareService:providedBy", "HealthcareService:location"}:
        service_keys = {("HealthcareService", r.healthcare_service_id) for r in rows}
        services = await directory.get_many(session, sorted(service_keys))
        already = {(r["resourceType"], r["id"]) for r in out}
        extra_keys: list[tuple[str, str]] = []
        for service in services:
            if "HealthcareService:providedBy" in wanted and service.get("providedBy"):
                ref = parse_reference(service["providedBy"].get("reference", ""))
                extra_keys.append(("Organization", ref.id))
            if "HealthcareService:location" in wanted:
                for loc in service.get("location", []):
                    extra_keys.append(("Location", parse_reference(loc.get("reference", "")).id))
        out += [
            r
            for r in await directory.get_many(session, extra_keys)
            if (r["resourceType"], r["id"]) not in already
        ]
    return out

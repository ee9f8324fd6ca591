"""Slot: search (the standard's main read) and read by id."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from uec_booking.fhir.bundle import searchset
from uec_booking.fhir.formats import Format
from uec_booking.fhir.http import fhir_response
from uec_booking.fhir.interactions import Interaction
from uec_booking.fhir.outcome import issue, operation_outcome
from uec_booking.provider import deps, paging, slot_search
from uec_booking.provider.paging import Key
from uec_booking.provider.search import (
    ParamType,
    SearchParam,
    SearchSpec,
    include_spellings,
    parse_search,
)
from uec_booking.provider.store.appointments import Provenance
from uec_booking.provider.visibility import NOT_ALLOWED_ANY

SLOT_STATUSES = frozenset(
    {"free", "busy", "busy-unavailable", "busy-tentative", "entered-in-error"}
)

SLOT_SEARCH = SearchSpec(
    resource_type="Slot",
    params=(
        SearchParam(
            "start",
            ParamType.DATE,
            repeats=True,
            prefixes=frozenset({"eq", "ge", "gt", "le", "lt"}),
        ),
        SearchParam("status", ParamType.TOKEN, allowed=SLOT_STATUSES),
        SearchParam(
            "schedule.actor:healthcareservice",
            ParamType.REFERENCE,
            aliases=("schedule.actor:HealthcareService", "service", "schedule.actor"),
        ),
        SearchParam("schedule", ParamType.REFERENCE),
    ),
    includes=include_spellings(
        "Slot:schedule",
        "Schedule:actor:Practitioner",
        "Schedule:actor:PractitionerRole",
        "Schedule:actor:Location",
        "Schedule:actor:HealthcareService",
        "HealthcareService:providedBy",
        "HealthcareService:location",
    ),
)

router = APIRouter()


def _strict(request: Request) -> bool:
    prefer = request.headers.get("prefer", "").replace(" ", "").lower()
    return "handling=strict" in prefer.split(";") or "handling=strict" in prefer.split(",")


@router.get("/Slot")
async def search_slots(
    request: Request,
    fmt: Format = Depends(deps.response_format),
    who: Provenance = Depends(deps.require(Interaction.READ_SLOT)),
) -> Response:
    parsed = parse_search(
        SLOT_SEARCH, list(request.query_params.multi_items()), strict=_strict(request)
    )
    found = await slot_search.search(
        deps.store(request),
        parsed,
        max_results=deps.settings(request).max_search_results,
        cache=deps.slot_cache(request),
        caller=deps.caller(request, who),
    )
    outcome = None
    if found.none_allowed:  # er_overview: 200, an empty Bundle and an OperationOutcome
        outcome = operation_outcome(
            issue(severity="information", code="suppressed", diagnostics=NOT_ALLOWED_ANY)
        )
    bundle = searchset(
        base_url=deps.base_url(request),
        matches=found.matches,
        includes=found.includes,
        total=found.page.total,
        links=paging.links(deps.search_url(request, "Slot"), found.page, _same).as_fhir(),
        outcome=outcome,
    )
    return fhir_response(request, bundle, fmt=fmt)


def _same(key: Key) -> Key:
    return key

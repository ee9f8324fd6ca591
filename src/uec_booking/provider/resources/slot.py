"""Slot: search (the standard's main read) and read by id."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from uec_booking.fhir.bundle import searchset, searchset_entries, searchset_json
from uec_booking.fhir.formats import Format
from uec_booking.fhir.http import fhir_json_response
from uec_booking.fhir.interactions import Interaction
from uec_booking.fhir.outcome import issue
from uec_booking.provider import deps, paging, slot_search
from uec_booking.provider.deps import Exchange
from uec_booking.provider.paging import Key
from uec_booking.provider.search import ParsedSearch, search_outcome
from uec_booking.provider.search_params import (
    ParamType,
    SearchParam,
    SearchSpec,
    include_spellings,
)
from uec_booking.provider.slot_includes import ALL_INCLUDES
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
            "Slot start; prefixes eq, ge, gt, le, lt (an upper bound is required)",
            repeats=True,
            prefixes=frozenset({"eq", "ge", "gt", "le", "lt"}),
        ),
        SearchParam("status", ParamType.TOKEN, "The Slot's status", allowed=SLOT_STATUSES),
        SearchParam(
            "schedule.actor:healthcareservice",
            ParamType.REFERENCE,
            "The HealthcareService (its DoS service id)",
            aliases=("schedule.actor:HealthcareService", "service", "schedule.actor"),
        ),
        SearchParam("schedule", ParamType.REFERENCE, "The Slot's Schedule"),
    ),
    includes=include_spellings(*sorted(ALL_INCLUDES)),
)

router = APIRouter()


@router.get("/Slot", openapi_extra=SLOT_SEARCH.openapi())
async def search_slots(
    call: Exchange = Depends(deps.exchange(Interaction.READ_SLOT)),
    parsed: ParsedSearch = Depends(deps.search_parameters(SLOT_SEARCH)),
) -> Response:
    request = call.request
    cache = deps.slot_cache(request)
    found = await slot_search.search(
        deps.store(request),
        parsed,
        max_results=deps.settings(request).max_search_results,
        cache=cache,
        caller=deps.caller(request, call.who),
    )
    notes = []
    if found.none_allowed:  # er_overview: 200, an empty Bundle and an OperationOutcome
        notes.append(issue(severity="information", code="suppressed", diagnostics=NOT_ALLOWED_ANY))
    outcome = search_outcome(parsed, *notes)
    links = paging.links(deps.search_url(request, "Slot"), found.page, _same).as_fhir()
    if (
        call.fmt is Format.JSON
        and outcome is None
        and found.matches_json is not None
        and found.includes_json is not None
    ):
        # From a view: the JSON its resources were rendered to once, joined.
        base = deps.base_url(request)
        key = (found.page_key, base) if cache is not None and found.page_key else None
        entries = cache.pages.get(key) if cache is not None and key is not None else None
        if entries is None:
            entries = searchset_entries(
                base_url=base,
                matches=found.matches,
                matches_json=found.matches_json,
                includes=found.includes,
                includes_json=found.includes_json,
            )
            if cache is not None and key is not None:
                cache.pages.put(key, entries)
        body = searchset_json(entries_json=entries, total=found.page.total, links=links)
        return fhir_json_response(request, body)
    bundle = searchset(
        base_url=deps.base_url(request),
        matches=found.matches,
        includes=found.includes,
        total=found.page.total,
        links=links,
        outcome=outcome,
    )
    return call.respond(bundle)


def _same(key: Key) -> Key:
    return key

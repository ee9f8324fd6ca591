"""Slot: search (the standard's main read) and read by id."""

from __future__ import annotations

from collections.abc import Hashable

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from uec_booking.fhir.bundle import (
    searchset,
    searchset_entries,
    searchset_json_pieces,
    searchset_xml,
)
from uec_booking.fhir.formats import Format
from uec_booking.fhir.http import Deflated, accepts_gzip, fhir_json_response, fhir_xml_response
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
from uec_booking.provider.slot_cache import SlotCache
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
    if outcome is None and found.matches_json is not None and found.includes_json is not None:
        # From a view: its resources' fragments, rendered once, joined (and the page's entries
        # kept for the searches the same page answers).
        base = deps.base_url(request)
        key = (found.page_key, base, call.fmt) if cache is not None and found.page_key else None
        entries = cache.pages.get(key) if cache is not None and key is not None else None
        if call.fmt is Format.JSON:
            if entries is None:
                entries = searchset_entries(
                    base_url=base,
                    matches=found.matches,
                    matches_rendered=found.matches_json,
                    includes=found.includes,
                    includes_rendered=found.includes_json,
                )
                _keep_page(cache, key, entries)
            joined: bytes | Deflated = entries
            if accepts_gzip(request) and len(entries) > 1024:
                # Compressed once and kept beside them: an answer then deflates only its head.
                deflated_key = (key, "deflated") if key is not None else None
                deflated = cache.pages.get(deflated_key) if cache and deflated_key else None
                if deflated is None:
                    deflated = Deflated.of(entries)
                    _keep_page(cache, deflated_key, deflated)
                joined = deflated
            pieces = searchset_json_pieces(entries=joined, total=found.page.total, links=links)
            return fhir_json_response(request, pieces)
        if found.view is not None:
            view, kept = found.view, entries

            def render() -> bytes:  # in a worker thread: fragments not yet made cost ~1 ms each
                entries = kept
                if entries is None:
                    entries = searchset_entries(
                        base_url=base,
                        matches=found.matches,
                        matches_rendered=view.xml_of(found.matches),
                        includes=found.includes,
                        includes_rendered=view.xml_of(found.includes),
                        fmt=Format.XML,
                    )
                    _keep_page(cache, key, entries)
                return searchset_xml(entries_xml=entries, total=found.page.total, links=links)

            return fhir_xml_response(request, render)
    bundle = searchset(
        base_url=deps.base_url(request),
        matches=found.matches,
        includes=found.includes,
        total=found.page.total,
        links=links,
        outcome=outcome,
    )
    return call.respond(bundle)


def _keep_page(cache: SlotCache | None, key: Hashable | None, entries: bytes | Deflated) -> None:
    if cache is not None and key is not None:
        cache.pages.put(key, entries)


def _same(key: Key) -> Key:
    return key

"""Slot: search (the standard's main read) and read by id."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from uec_booking.fhir.bundle import searchset, searchset_entries, searchset_json
from uec_booking.fhir.formats import Format
from uec_booking.fhir.http import fhir_json_response, fhir_response, request_format
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


_AUTHORISE = deps.require(Interaction.READ_SLOT)


async def search_slots(request: Request) -> Response:
    """GET /Slot on a plain Starlette route: FastAPI's dependency resolution cost more than
    the search answered from a view. The format is negotiated before authorisation (an
    unsupported one is a 415 up front), as the dependencies did."""
    fmt = request_format(request)
    who = await _AUTHORISE(request)
    parsed = parse_search(
        SLOT_SEARCH, list(request.query_params.multi_items()), strict=_strict(request)
    )
    cache = deps.slot_cache(request)
    found = await slot_search.search(
        deps.store(request),
        parsed,
        max_results=deps.settings(request).max_search_results,
        cache=cache,
        caller=deps.caller(request, who),
    )
    links = paging.links(deps.search_url(request, "Slot"), found.page, _same).as_fhir()
    if (
        fmt is Format.JSON
        and not found.none_allowed
        and found.matches_json is not None
        and found.includes_json is not None
    ):
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
        links=links,
        outcome=outcome,
    )
    return fhir_response(request, bundle, fmt=fmt)


router.add_route("/Slot", search_slots, methods=["GET"])


def _same(key: Key) -> Key:
    return key

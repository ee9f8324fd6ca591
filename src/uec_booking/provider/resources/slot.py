"""Slot: search (the standard's main read) and read by id."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from uec_booking.fhir.bundle import (
    searchset,
    searchset_entries,
    searchset_json_pieces,
    searchset_xml,
)
from uec_booking.fhir.errors import FhirError
from uec_booking.fhir.formats import Format
from uec_booking.fhir.http import (
    GZIP_MIN_BYTES,
    Deflated,
    accepts_gzip,
    fhir_json_response,
    fhir_xml_response,
)
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
from uec_booking.provider.settings import AuthMode
from uec_booking.provider.slot_cache import ServiceSlots, SlotCache, ViewKey
from uec_booking.provider.slot_includes import ALL_INCLUDES
from uec_booking.provider.slot_search import SlotSearchResult
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
        rendered = (found.matches_json, found.includes_json)
        if call.fmt is Format.JSON:
            return _json_from_view(request, found, rendered, links, cache, key)
        if found.view is not None:
            return _xml_from_view(request, found, found.view, links, cache, key)
    bundle = searchset(
        base_url=deps.base_url(request),
        matches=found.matches,
        includes=found.includes,
        total=found.page.total,
        links=links,
        outcome=outcome,
    )
    return call.respond(bundle)


def _json_from_view(
    request: Request,
    found: SlotSearchResult,
    rendered: tuple[list[bytes], list[bytes]],  # the view's JSON of the matches and includes
    links: list[dict[str, str]],
    cache: SlotCache | None,
    key: Hashable | None,
) -> Response:
    entries = _kept(cache, key)
    if entries is None:
        entries = searchset_entries(
            base_url=deps.base_url(request),
            matches=found.matches,
            matches_rendered=rendered[0],
            includes=found.includes,
            includes_rendered=rendered[1],
        )
        _keep_page(cache, key, entries)
    _keep_answer(request, found, cache, key, links)
    return _json_answer(request, cache, key, entries, found.page.total, links)


def _keep_answer(
    request: Request,
    found: SlotSearchResult,
    cache: SlotCache | None,
    key: Hashable | None,
    links: list[dict[str, str]],
) -> None:
    view = found.view
    if cache is None or key is None or view is None or found.view_key is None:
        return
    if found.until is None:
        return
    schedules = tuple(k[1] for k in view.directory if k[0] == "Schedule")
    kept = KeptAnswer(
        found.view_key, view.epochs, schedules, key, found.page.total, links, found.until
    )
    cache.pages.put(answer_key(request.scope), kept)


def _json_answer(
    request: Request,
    cache: SlotCache | None,
    key: Hashable | None,
    entries: bytes,
    total: int,
    links: list[dict[str, str]],
) -> Response:
    joined: bytes | Deflated = entries
    if accepts_gzip(request) and len(entries) > GZIP_MIN_BYTES:
        # Compressed once and kept beside them: an answer then deflates only its head.
        deflated_key = (key, "deflated") if key is not None else None
        deflated = _kept(cache, deflated_key)
        if deflated is None:
            deflated = Deflated.of(entries)
            _keep_page(cache, deflated_key, deflated)
        joined = deflated
    pieces = searchset_json_pieces(entries=joined, total=total, links=links)
    return fhir_json_response(request, pieces)


@dataclass(frozen=True, slots=True)
class KeptAnswer:
    """A search's JSON answer from a view, given again (with a Bundle id of its own) to the
    same search while the view's epochs hold. HAPI FHIR reuses a search's results too, for a
    set time; this one is checked against the store's epochs every time it is used."""

    view_key: ViewKey
    epochs: tuple[int, ...]
    schedules: tuple[str, ...]  # the view's: whose visibility a caller is checked against
    entries_key: Hashable  # its entries in `cache.pages`
    total: int
    links: list[dict[str, str]]
    until: datetime  # the search's upper bound: past it, the search is refused


def answer_key(scope: Scope) -> Hashable:
    """What a view's answer depends on besides the caller and the store: the query, the
    negotiated format and encoding, and what the base URL is made of."""
    accept = encoding = host = None
    for name, value in scope["headers"]:
        if name == b"accept" and accept is None:
            accept = value
        elif name == b"accept-encoding" and encoding is None:
            encoding = value
        elif name == b"host" and host is None:
            host = value
    return (
        "answer",
        scope["query_string"],
        accept,
        b"gzip" in (encoding or b"").lower(),
        host,
        scope.get("scheme"),
        scope.get("server"),
        scope.get("root_path", ""),
        scope.get("app_root_path"),
    )


class KeptSlotAnswers:
    """ASGI middleware: a Slot search answered again from its `KeptAnswer` when the view
    still holds and the caller may see all it shows, without FastAPI's routing, dependencies
    and query parsing (most of a search's cost once its answer is built). Anything else, a
    refusal included, goes on to the app, which answers it in full."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == SLOT_PATH and scope["method"] == "GET":
            response = await _again(scope, receive)
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


SLOT_PATH = "/fhir/Slot"


async def _again(scope: Scope, receive: Receive) -> Response | None:
    state = scope["app"].state
    cache: SlotCache | None = getattr(state, "slot_cache", None)
    if cache is None:
        return None
    kept = cache.pages.get(answer_key(scope))
    if not isinstance(kept, KeptAnswer) or datetime.now(UTC).replace(tzinfo=None) > kept.until:
        return None
    entries = cache.pages.get(kept.entries_key)
    if entries is None:
        return None
    view = await cache.current_view(kept.view_key)
    if view is None or view.epochs != kept.epochs:
        return None
    request = Request(scope, receive)
    if state.settings.auth_mode != AuthMode.OFF:
        authorise: deps.Authoriser = state.authorise
        try:
            who = await authorise(request, Interaction.READ_SLOT, None)
        except FhirError:
            return None
        request.state.provenance = who
        if view.visibility.hidden_for(who, kept.schedules):
            return None
    cache.count_reuse()
    return _json_answer(request, cache, kept.entries_key, entries, kept.total, kept.links)


def _xml_from_view(
    request: Request,
    found: SlotSearchResult,
    view: ServiceSlots,
    links: list[dict[str, str]],
    cache: SlotCache | None,
    key: Hashable | None,
) -> Response:
    kept, base = _kept(cache, key), deps.base_url(request)

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


def _kept(cache: SlotCache | None, key: Hashable | None) -> Any:
    return cache.pages.get(key) if cache is not None and key is not None else None


def _keep_page(cache: SlotCache | None, key: Hashable | None, entries: bytes | Deflated) -> None:
    if cache is not None and key is not None:
        cache.pages.put(key, entries)


def _same(key: Key) -> Key:
    return key

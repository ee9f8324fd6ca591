"""Slot: search (the standard's main read) and read by id."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import anyio
from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from uec_booking.fhir.bundle import (
    searchset,
    searchset_entries,
    searchset_json_pieces,
    searchset_xml_pieces,
)
from uec_booking.fhir.errors import FhirError
from uec_booking.fhir.formats import Format
from uec_booking.fhir.http import (
    GZIP_MIN_BYTES,
    Deflated,
    accepts_gzip,
    serialised_response,
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
    if outcome is None and found.view is not None and found.matches_json is not None:
        base = deps.base_url(request)
        key = (found.page_key, base, call.fmt) if cache is not None and found.page_key else None
        return await _from_view(request, call.fmt, found, found.view, base, links, cache, key)
    bundle = searchset(
        base_url=deps.base_url(request),
        matches=found.matches,
        includes=found.includes,
        total=found.page.total,
        links=links,
        outcome=outcome,
    )
    return call.respond(bundle)


async def _from_view(
    request: Request,
    fmt: Format,
    found: SlotSearchResult,
    view: ServiceSlots,
    base: str,
    links: list[dict[str, str]],
    cache: SlotCache | None,
    key: Hashable | None,
) -> Response:
    """From a view: its resources' fragments, rendered once, joined; the page's entries (and
    their deflate) kept for every search the same page answers."""
    gzip_ok = accepts_gzip(request)
    entries = _kept(cache, key)
    deflated = _kept(cache, _deflated_key(key)) if gzip_ok else None
    if entries is None or (gzip_ok and deflated is None and len(entries) > GZIP_MIN_BYTES):
        work = partial(_render, found, view, base, fmt, entries, gzip_ok)
        # XML fragments not made yet cost ~1 ms each, and a big page's deflate more: off the
        # event loop (and every other request on it, /_health included).
        entries, deflated = await anyio.to_thread.run_sync(work) if fmt is Format.XML else work()
        _keep_page(cache, key, entries)
        if deflated is not None:
            _keep_page(cache, _deflated_key(key), deflated)
    _keep_answer(request, fmt, found, cache, key, links)
    return _view_answer(request, fmt, entries, deflated, found.page.total, links)


def _render(
    found: SlotSearchResult,
    view: ServiceSlots,
    base: str,
    fmt: Format,
    entries: bytes | None,
    gzip_ok: bool,
) -> tuple[bytes, Deflated | None]:
    """The page's entries (unless given) and, for a gzipped answer, their deflate."""
    if entries is None:
        if fmt is Format.JSON:
            rendered = (found.matches_json or [], found.includes_json or [])
        else:
            rendered = (view.xml_of(found.matches), view.xml_of(found.includes))
        entries = searchset_entries(
            base_url=base,
            matches=found.matches,
            matches_rendered=rendered[0],
            includes=found.includes,
            includes_rendered=rendered[1],
            fmt=fmt,
        )
    large = gzip_ok and len(entries) > GZIP_MIN_BYTES
    return entries, Deflated.of(entries) if large else None


def _view_answer(
    request: Request,
    fmt: Format,
    entries: bytes,
    deflated: Deflated | None,
    total: int,
    links: list[dict[str, str]],
) -> Response:
    # Gzipped, a kept deflate of the entries leaves only the Bundle's head to compress.
    joined: bytes | Deflated = entries
    if deflated is not None and accepts_gzip(request):
        joined = deflated
    if fmt is Format.JSON:
        json_pieces = searchset_json_pieces(entries=joined, total=total, links=links)
        return serialised_response(request, json_pieces, fmt)
    xml_pieces = searchset_xml_pieces(entries=joined, total=total, links=links)
    return serialised_response(request, xml_pieces, fmt)


def _deflated_key(key: Hashable | None) -> Hashable | None:
    return (key, "deflated") if key is not None else None


def _keep_answer(
    request: Request,
    fmt: Format,
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
        found.view_key, view.epochs, schedules, fmt, key, found.page.total, links, found.until
    )
    cache.pages.put(answer_key(request.scope), kept)


@dataclass(frozen=True, slots=True)
class KeptAnswer:
    """A search's answer from a view, given again (with a Bundle id of its own) to the
    same search while the view's epochs hold. HAPI FHIR reuses a search's results too, for a
    set time; this one is checked against the store's epochs every time it is used."""

    view_key: ViewKey
    epochs: tuple[int, ...]
    schedules: tuple[str, ...]  # the view's: whose visibility a caller is checked against
    fmt: Format
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
            try:
                response = await _again(scope, receive)
            except FhirError:  # the store down: the app answers it as it answers any search
                response = None
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
    deflated = cache.pages.get(_deflated_key(kept.entries_key))
    request = Request(scope, receive)
    if entries is None or (
        accepts_gzip(request) and deflated is None and len(entries) > GZIP_MIN_BYTES
    ):
        return None
    view = await cache.current_view(kept.view_key)
    if view is None or view.epochs != kept.epochs:
        return None
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
    return _view_answer(request, kept.fmt, entries, deflated, kept.total, kept.links)


def _kept(cache: SlotCache | None, key: Hashable | None) -> Any:
    return cache.pages.get(key) if cache is not None and key is not None else None


def _keep_page(cache: SlotCache | None, key: Hashable | None, entries: bytes | Deflated) -> None:
    if cache is not None and key is not None:
        cache.pages.put(key, entries)


def _same(key: Key) -> Key:
    return key

"""Slot search as the standard's assurance defines it: a required upper time bound, free
slots of one HealthcareService (the DoS id), and the `_include`s that describe them."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Row

from uec_booking.fhir.errors import BadRequest, NotFound
from uec_booking.provider.paging import Cursor, Key, Page, page_in, page_of
from uec_booking.provider.representation import slot_resource
from uec_booking.provider.search import ParsedSearch
from uec_booking.provider.slot_cache import (
    CachedSlot,
    ServiceSlots,
    SlotCache,
    ViewKey,
    day_range,
)
from uec_booking.provider.slot_includes import includes_for
from uec_booking.provider.store import Store, directory, slots
from uec_booking.provider.store.appointments import Provenance

# A cached view spans at most this many days; a wider search reads the tables.
MAX_VIEW_DAYS = 15


@dataclass(frozen=True, slots=True)
class SlotSearchResult:
    matches: list[dict[str, Any]]
    includes: list[dict[str, Any]]
    page: Page[Key]  # the page's (start, id) keys, every match counted
    # The caller may see none of the named HealthcareServices' slots (`provider/visibility.py`).
    none_allowed: bool = False
    # From a view: `matches` and `includes` as JSON already rendered (the Bundle joins them).
    # Not compared: the same answer whether it came from a view or from the tables.
    matches_json: list[bytes] | None = field(default=None, compare=False)
    includes_json: list[bytes] | None = field(default=None, compare=False)
    # From a view with nothing hidden: what names this page's content (the view, its epochs,
    # the slots' range, the includes), the same for every search the page answers whatever
    # its window's exact bounds; the key its rendered entries are kept by (`cache.pages`).
    page_key: Hashable | None = field(default=None, compare=False)
    # The view it came from, which renders (and keeps) its resources' XML fragments.
    view: ServiceSlots | None = field(default=None, compare=False)
    view_key: ViewKey | None = field(default=None, compare=False)
    # The search's upper bound on start: past it the same search is refused (`_time_window`).
    until: datetime | None = field(default=None, compare=False)


def _key(slot: CachedSlot | Row[Any]) -> Key:
    return (slot.start, slot.id)


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


def _until(parsed: ParsedSearch) -> datetime | None:
    uppers = [u for u in (b.upper_limit() for b in parsed.dates("start")) if u is not None]
    return min(uppers, default=None)


async def search(
    store: Store,
    parsed: ParsedSearch,
    *,
    max_results: int,
    cache: SlotCache | None = None,
    now: datetime | None = None,
    caller: Provenance | None = None,
) -> SlotSearchResult:
    """One page of the matching slots that `caller` may see (None: authentication is off,
    every slot), what the page's `_include`s name, and the count of every match."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    window = _time_window(parsed, now)
    service_ids = parsed.tokens("schedule.actor:healthcareservice")
    size = min(parsed.count or max_results, max_results)
    cursor = Cursor.decode(parsed.page) if parsed.page else None
    only_count = parsed.summary == "count"
    lows = [b for b in (window["ge"], window["gt"]) if b is not None]
    highs = [b for b in (window["le"], window["lt"]) if b is not None]
    # The standard's search (one service, a bounded window) is answered from the worker's
    # view when there is one; anything else reads the tables.
    if cache is not None and len(service_ids) == 1 and lows and not parsed.tokens("schedule"):
        lo, hi = day_range(max(lows), min(highs))
        if hi - lo <= timedelta(days=MAX_VIEW_DAYS):
            view = await cache.view(service_ids[0], lo, hi)
            if view.complete:
                statuses = parsed.tokens("status")
                schedules = [k[1] for k in view.directory if k[0] == "Schedule"]
                hidden = view.visibility.hidden_for(caller, schedules)
                run = None if len(statuses) > 1 else view.runs.get(statuses[0] if statuses else "")
                page_key: Hashable | None = None
                if run is not None and not hidden:
                    # The standard's search: one status, nothing hidden from the caller.
                    lo_i, hi_i = run.bounds(**window)
                    found = page_in(
                        run.slots, run.keys, cursor, 0 if only_count else size, lo_i, hi_i
                    )
                    first = lo_i + found.before
                    page_key = (
                        (service_ids[0], lo, hi, view.epochs, tuple(statuses)),
                        (lo_i, hi_i, first, first + len(found.items)),
                        frozenset(parsed.includes),
                    )
                else:
                    every = view.select(statuses=statuses, limit=len(view.slots), **window)
                    if hidden:
                        every = [s for s in every if s.schedule_id not in hidden]
                    found = page_of(every, _key, cursor, 0 if only_count else size)
                if not found.total and not view.service_exists:
                    raise _unknown_service(service_ids[0])
                included = cache.pages.get(page_key) if page_key is not None else None
                if included is None:
                    included = await includes_for(view.fetch, found.items, parsed.includes)
                    if page_key is not None:
                        cache.pages.put(page_key, included)
                return SlotSearchResult(
                    [s.resource for s in found.items],
                    included,
                    Page([_key(s) for s in found.items], found.total, found.before),
                    none_allowed=bool(schedules) and hidden >= set(schedules),
                    matches_json=[s.json for s in found.items],
                    includes_json=view.json_of(included),
                    page_key=page_key,
                    view=view,
                    view_key=(service_ids[0], lo, hi),
                    until=_until(parsed),
                )
    async with store.read() as session:
        hidden = (await directory.visibility(session)).hidden_for(caller)
        rows = await slots.search_page(
            session,
            cursor=cursor,
            size=0 if only_count else size,
            statuses=parsed.tokens("status"),
            start_ge=window["ge"],
            start_gt=window["gt"],
            start_le=window["le"],
            start_lt=window["lt"],
            service_ids=service_ids,
            schedule_ids=parsed.tokens("schedule"),
            hidden_schedule_ids=hidden,
        )
        # An unknown HealthcareService is a 404; only an empty answer needs the extra query.
        if not rows.total:
            for service_id in service_ids:
                if not await directory.exists(session, "HealthcareService", service_id):
                    raise _unknown_service(service_id)
        includes = await includes_for(
            partial(directory.get_many, session), rows.items, parsed.includes
        )
        none_allowed = False
        if hidden and not rows.total and service_ids:
            named: set[str] = set()
            for service_id in service_ids:
                named.update(await directory.schedule_ids_for_service(session, service_id))
            none_allowed = bool(named) and hidden >= named
    return SlotSearchResult(
        [slot_resource(r) for r in rows.items],
        includes,
        Page([_key(r) for r in rows.items], rows.total, rows.before),
        none_allowed=none_allowed,
    )


def _unknown_service(service_id: str) -> NotFound:
    return NotFound(
        f"No HealthcareService with id '{service_id}'",
        expression="schedule.actor:healthcareservice",
    )

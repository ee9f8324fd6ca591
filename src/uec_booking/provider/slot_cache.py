"""Each worker's read model of HealthcareServices' slots.

Slot search is the standard's hottest read: every consumer runs it for every patient, and
answering it from the tables costs three queries and a rebuild of ~100 resources. Here a
worker keeps, per service and range of days, every slot and every directory resource the
search's `_include`s can name. A hit costs one query: the change epochs of the service's
slots and of the directory. Every write bumps its epoch in its own transaction
(`store/epochs.py`), so a view whose epochs still match is exactly what the tables hold;
the epochs are read before the rows, so a view is never labelled newer than its data.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Collection, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from uec_booking.fhir.http import Deflated
from uec_booking.fhir.xml import resource_xml
from uec_booking.provider.representation import slot_resource
from uec_booking.provider.slot_includes import ALL_INCLUDES, includes_for
from uec_booking.provider.store import Store, directory, epochs, slots
from uec_booking.provider.visibility import Visibility

DirectoryKey = tuple[str, str]
ViewKey = tuple[str, datetime, datetime]
SlotKey = tuple[datetime, str]


@dataclass(frozen=True, slots=True)
class CachedSlot:
    id: str
    schedule_id: str
    healthcare_service_id: str
    start: datetime
    status: str
    resource: dict[str, Any]
    # The resource as JSON, rendered once: a search's Bundle is these fragments joined.
    json: bytes = b""


@dataclass(frozen=True, slots=True)
class SlotRun:
    """Slots sorted by (start, id) with their keys and starts: a time window is two
    bisections into it, its page a slice, its count a subtraction."""

    slots: list[CachedSlot]
    keys: list[SlotKey]
    starts: list[datetime]

    @classmethod
    def of(cls, slots: list[CachedSlot]) -> SlotRun:
        return cls(slots, [(s.start, s.id) for s in slots], [s.start for s in slots])

    def bounds(
        self,
        *,
        ge: datetime | None,
        gt: datetime | None,
        le: datetime | None,
        lt: datetime | None,
    ) -> tuple[int, int]:
        """The range [lo, hi) of the slots starting in the window."""
        lo, hi = 0, len(self.starts)
        if ge is not None:
            lo = max(lo, bisect_left(self.starts, ge))
        if gt is not None:
            lo = max(lo, bisect_right(self.starts, gt))
        if le is not None:
            hi = min(hi, bisect_right(self.starts, le))
        if lt is not None:
            hi = min(hi, bisect_left(self.starts, lt))
        return lo, max(lo, hi)


@dataclass(frozen=True, slots=True)
class ServiceSlots:
    """Every slot of one service starting in a range of days, by (start, id), and the
    directory resources its includes can name, as of `epochs`. Shared between requests: read
    only."""

    epochs: tuple[int, ...]
    slots: list[CachedSlot]
    starts: list[datetime]
    directory: dict[DirectoryKey, dict[str, Any]]
    service_exists: bool
    # The directory resources as JSON, rendered once (as `CachedSlot.json`).
    directory_json: dict[DirectoryKey, bytes] = field(default_factory=dict)
    # The slots of each status ("": every slot), for searches by one status or none.
    runs: dict[str, SlotRun] = field(default_factory=dict)
    # False: more slots than the cache may hold. Such a view holds none and only remembers,
    # until the epochs move, that its searches must read the tables.
    complete: bool = True
    # Who may see which Schedules' slots, as of the same directory epoch: the view is shared
    # by every consumer, each search filters it for its caller.
    visibility: Visibility = field(default_factory=Visibility)
    # Slots and directory resources as XML fragments, each rendered the first time an XML
    # search shows it (most consumers ask for JSON; the view's memory stays as it was for them).
    xml: dict[DirectoryKey, bytes] = field(default_factory=dict)

    def select(
        self,
        *,
        statuses: Collection[str],
        ge: datetime | None,
        gt: datetime | None,
        le: datetime | None,
        lt: datetime | None,
        limit: int,
    ) -> list[CachedSlot]:
        """The slots the store's search would return for the same filters."""
        lows = [b for b in (ge, gt) if b is not None]
        i = bisect_left(self.starts, max(lows)) if lows else 0
        out: list[CachedSlot] = []
        for slot in self.slots[i:]:
            if len(out) >= limit or (le is not None and slot.start > le):
                break
            if lt is not None and slot.start >= lt:
                break
            if gt is not None and slot.start <= gt:
                continue
            if statuses and slot.status not in statuses:
                continue
            out.append(slot)
        return out

    async def fetch(self, keys: Iterable[DirectoryKey]) -> list[dict[str, Any]]:
        """Directory resources in the order given, each once (as `directory.get_many`)."""
        return [self.directory[k] for k in dict.fromkeys(keys) if k in self.directory]

    def json_of(self, resources: Iterable[dict[str, Any]]) -> list[bytes]:
        """The JSON fragments of directory resources this view holds."""
        return [self.directory_json[(r["resourceType"], r["id"])] for r in resources]

    def xml_of(self, resources: Iterable[dict[str, Any]]) -> list[bytes]:
        """The XML fragments of resources this view holds (slots or directory resources),
        rendered once each. Called from worker threads: a race renders a fragment twice and
        keeps either, the same bytes."""
        out = []
        for resource in resources:
            key = (resource["resourceType"], resource["id"])
            fragment = self.xml.get(key)
            if fragment is None:
                fragment = self.xml[key] = resource_xml(resource)
            out.append(fragment)
        return out


def day_range(lo: datetime, hi: datetime) -> tuple[datetime, datetime]:
    """Whole days around [lo, hi], so that searches made through a day share one view."""
    first = lo.replace(hour=0, minute=0, second=0, microsecond=0)
    last = hi.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return first, last


class PageCache:
    """What a view's pages render to (their includes, their Bundle entries as JSON), by a
    key naming the view's epochs, so a view that moves on is never answered from here.
    Least recently used out first, bounded in entries and in bytes held."""

    def __init__(self, max_entries: int = 4096, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes_held = 0
        self._items: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable) -> Any:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: Hashable, value: Any) -> None:
        old = self._items.pop(key, None)
        self.bytes_held -= _size(old)
        self._items[key] = value
        self.bytes_held += _size(value)
        while len(self._items) > self.max_entries or self.bytes_held > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self.bytes_held -= _size(evicted)

    def __len__(self) -> int:
        return len(self._items)


def _size(value: Any) -> int:
    if isinstance(value, Deflated):
        return len(value.raw) + len(value.deflated)
    return len(value) if isinstance(value, bytes) else 0


class SlotCache:
    """Bounded in views and in slots held (least recently used out first; a range with more
    slots than the whole bound is not loaded: its searches read the tables). Concurrent misses
    of one view build it once."""

    def __init__(self, store: Store, max_views: int = 256, max_slots: int = 100_000) -> None:
        self.store = store
        self.epochs = epochs.EpochReader(store)
        self.max_views = max_views
        self.max_slots = max_slots
        self.slots_held = 0
        self._views: OrderedDict[ViewKey, ServiceSlots] = OrderedDict()
        self.pages = PageCache()
        self.answers_reused = 0  # searches answered again whole (`resources/slot.KeptAnswer`)
        self._building: dict[tuple[ViewKey, tuple[int, ...]], asyncio.Task[ServiceSlots]] = {}

    async def view(self, service_id: str, lo: datetime, hi: datetime) -> ServiceSlots:
        key = (service_id, lo, hi)
        current = await self.epochs.read([epochs.slots_of(service_id), epochs.DIRECTORY])
        found = self._views.get(key)
        if found is not None and found.epochs == current:
            self._views.move_to_end(key)
            return found
        # One build per view and epochs, in a task of its own: a request that goes away does
        # not cancel the build the others wait on.
        building = self._building.get((key, current))
        if building is None:
            building = asyncio.create_task(self._build_and_keep(key, current))
            self._building[(key, current)] = building
            building.add_done_callback(partial(self._built, (key, current)))
        return await asyncio.shield(building)

    def count_reuse(self) -> None:
        self.answers_reused += 1

    async def current_view(self, key: ViewKey) -> ServiceSlots | None:
        """The view held for `key` if its epochs are still the store's; never builds one."""
        found = self._views.get(key)
        if found is None:
            return None
        current = await self.epochs.read([epochs.slots_of(key[0]), epochs.DIRECTORY])
        return found if found.epochs == current else None

    def _built(
        self, building_key: tuple[ViewKey, tuple[int, ...]], done: asyncio.Task[Any]
    ) -> None:
        self._building.pop(building_key, None)
        if not done.cancelled():
            done.exception()  # retrieved here too: its waiters may all have gone

    async def _build_and_keep(self, key: ViewKey, current: tuple[int, ...]) -> ServiceSlots:
        service_id, lo, hi = key
        async with self.store.read() as session:
            built = await _build(session, service_id, lo, hi, current, self.max_slots)
        self._keep(key, built)
        return built

    def _keep(self, key: ViewKey, view: ServiceSlots) -> None:
        old = self._views.pop(key, None)
        self.slots_held -= len(old.slots) if old else 0
        self._views[key] = view
        self.slots_held += len(view.slots)
        while len(self._views) > self.max_views or self.slots_held > self.max_slots:
            _, evicted = self._views.popitem(last=False)
            self.slots_held -= len(evicted.slots)

    def __len__(self) -> int:
        return len(self._views)


async def _build(
    session: AsyncSession,
    service_id: str,
    lo: datetime,
    hi: datetime,
    current: tuple[int, ...],
    max_slots: int,
) -> ServiceSlots:
    rows = await slots.search(
        session,
        statuses=(),
        start_ge=lo,
        start_gt=None,
        start_le=None,
        start_lt=hi,
        service_ids=[service_id],
        limit=max_slots + 1,
    )
    if len(rows) > max_slots:
        return ServiceSlots(current, [], [], {}, service_exists=True, complete=False)
    cached = []
    for r in rows:
        resource = slot_resource(r)
        cached.append(
            CachedSlot(
                r.id,
                r.schedule_id,
                r.healthcare_service_id,
                r.start,
                r.status,
                resource,
                orjson.dumps(resource),
            )
        )
    schedule_ids = dict.fromkeys(
        [s.schedule_id for s in cached]
        + await directory.schedule_ids_for_service(session, service_id)
    )
    # One stand-in slot per Schedule: the include walk then names everything any search of
    # this range can include.
    anchors = [CachedSlot(sid, sid, service_id, lo, "", {}) for sid in schedule_ids]
    from_store = partial(directory.get_many, session)
    named = await includes_for(from_store, anchors, ALL_INCLUDES)
    # The service itself, which `HealthcareService:providedBy` reads even when not included.
    named += await from_store([("HealthcareService", service_id)])
    exists = any(r["resourceType"] == "HealthcareService" and r["id"] == service_id for r in named)
    return ServiceSlots(
        epochs=current,
        slots=cached,
        starts=[s.start for s in cached],
        directory={(r["resourceType"], r["id"]): r for r in named},
        service_exists=exists,
        directory_json={(r["resourceType"], r["id"]): orjson.dumps(r) for r in named},
        runs=_runs(cached),
        visibility=await directory.visibility(session),
    )


def _runs(cached: list[CachedSlot]) -> dict[str, SlotRun]:
    by_status: dict[str, list[CachedSlot]] = {"": cached}
    for slot in cached:
        by_status.setdefault(slot.status, []).append(slot)
    return {status: SlotRun.of(members) for status, members in by_status.items()}

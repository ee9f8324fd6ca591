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
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from uec_booking.provider.representation import slot_resource
from uec_booking.provider.slot_includes import ALL_INCLUDES, includes_for
from uec_booking.provider.store import Store, directory, epochs, slots
from uec_booking.provider.visibility import Visibility

DirectoryKey = tuple[str, str]
ViewKey = tuple[str, datetime, datetime]


@dataclass(frozen=True, slots=True)
class CachedSlot:
    id: str
    schedule_id: str
    healthcare_service_id: str
    start: datetime
    status: str
    resource: dict[str, Any]


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
    # False: more slots than the cache may hold. Such a view holds none and only remembers,
    # until the epochs move, that its searches must read the tables.
    complete: bool = True
    # Who may see which Schedules' slots, as of the same directory epoch: the view is shared
    # by every consumer, each search filters it for its caller.
    visibility: Visibility = field(default_factory=Visibility)

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


def day_range(lo: datetime, hi: datetime) -> tuple[datetime, datetime]:
    """Whole days around [lo, hi], so that searches made through a day share one view."""
    first = lo.replace(hour=0, minute=0, second=0, microsecond=0)
    last = hi.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return first, last


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
    cached = [
        CachedSlot(
            r.id, r.schedule_id, r.healthcare_service_id, r.start, r.status, slot_resource(r)
        )
        for r in rows
    ]
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
        visibility=await directory.visibility(session),
    )

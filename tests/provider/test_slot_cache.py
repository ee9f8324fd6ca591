"""The workers' slot views (provider/slot_cache.py) answer exactly what the tables hold.

Every check here compares a cached answer with the store's own, or with what another
worker (another Store, another process) has just committed: a view that lagged behind a
commit would fail them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.provider.conftest import seed_db
from tests.provider.helpers import SERVICE, OwnLoop, appointment, search_free, seeded
from uec_booking.fhir.errors import FhirError
from uec_booking.processes import start_provider, stop
from uec_booking.provider import slot_search
from uec_booking.provider.resources.slot import SLOT_SEARCH
from uec_booking.provider.search import parse_search
from uec_booking.provider.slot_cache import SlotCache
from uec_booking.provider.slot_includes import ALL_INCLUDES
from uec_booking.provider.store import Store, directory, epochs, slots
from uec_booking.provider.store.appointments import claim_slot

SERVICES = ["2000100001", "2000100002", "2000100003", "9999999999"]


class Worlds(OwnLoop):
    """Two workers on one database: `reader` keeps a cache, `writer` changes things."""

    def __init__(self, db_url: str) -> None:
        super().__init__()
        self.reader = Store(db_url)
        self.writer = Store(db_url)
        self.cache = SlotCache(self.reader)

    async def aclose(self) -> None:
        await self.reader.dispose()
        await self.writer.dispose()


@pytest.fixture
def worlds(db_url: str) -> Iterator[Worlds]:
    with seeded(Worlds, db_url) as world:
        yield world


async def _answer(
    store: Store, cache: SlotCache | None, items: list[tuple[str, str]], now: datetime
) -> Any:
    try:
        parsed = parse_search(SLOT_SEARCH, items)
        found = await slot_search.search(store, parsed, max_results=1000, cache=cache, now=now)
    except FhirError as error:
        return (type(error).__name__, error.status, error.diagnostics)
    return found


async def _change(store: Store, kind: str, pick: int, before: Any, service: str) -> None:
    """One write as another worker would make it, aimed at what the first answer showed."""
    service = service if service in SERVICES[:3] else SERVICES[pick % 3]
    shown: list[dict[str, Any]] = []
    if not isinstance(before, tuple):
        shown = before.matches + before.includes
    async with store.write() as session:
        if kind == "book":
            # Only a slot still to come can be claimed (a search window may reach into the past).
            soon = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=1)
            free = [
                r
                for r in shown
                if r["resourceType"] == "Slot"
                and r["status"] == "free"
                and _naive(r["start"]) > soon
            ]
            if free:
                slot = free[pick % len(free)]
                start, end = (_naive(slot["start"]), _naive(slot["end"]))
                assert await claim_slot(session, slot["id"], start, end)
        elif kind == "add":
            schedule = (await directory.schedule_ids_for_service(session, service))[0]
            start = datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)
            start += timedelta(hours=pick % 60)
            await slots.insert_missing(
                session,
                [
                    {
                        "id": f"added-{uuid.uuid4().hex[:12]}",
                        "schedule_id": schedule,
                        "healthcare_service_id": service,
                        "start": start,
                        "end": start + timedelta(minutes=7),
                    }
                ],
            )
        else:
            keys = [(r["resourceType"], r["id"]) for r in shown if r["resourceType"] != "Slot"]
            key = keys[pick % len(keys)] if keys else ("HealthcareService", service)
            resource = await directory.get(session, *key)
            assert resource is not None
            resource.setdefault("identifier", []).append(
                {"system": "https://example.org/test", "value": uuid.uuid4().hex}
            )
            assert await directory.upsert(session, resource)


def _naive(instant: str) -> datetime:
    return datetime.fromisoformat(instant).astimezone(UTC).replace(tzinfo=None)


search_items = st.builds(
    lambda service, lo_h, width_h, lo_op, hi_op, statuses, count, includes: [
        ("schedule.actor:healthcareservice", service),
        ("start", f"{lo_op}{{lo}}+{lo_h}"),
        ("start", f"{hi_op}{{lo}}+{lo_h + width_h}"),
        *[("status", s) for s in statuses],
        *([("_count", str(count))] if count else []),
        *[("_include", i) for i in includes],
    ],
    st.sampled_from(SERVICES),
    st.integers(-30, 80),
    st.integers(0, 120),
    st.sampled_from(["ge", "gt"]),
    st.sampled_from(["le", "lt"]),
    st.lists(st.sampled_from(["free", "busy"]), max_size=2, unique=True),
    st.integers(0, 150),
    st.lists(st.sampled_from(sorted(ALL_INCLUDES)), max_size=4, unique=True),
)


def _concrete(template: list[tuple[str, str]], now: datetime) -> list[tuple[str, str]]:
    out = []
    for key, value in template:
        if "{lo}" in value:
            op, _, hours = value.partition("{lo}+")
            moment = now.replace(minute=0, second=0) + timedelta(hours=int(hours))
            value = op + moment.replace(tzinfo=UTC).isoformat()
        out.append((key, value))
    return out


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    template=search_items,
    change=st.sampled_from(["none", "book", "book", "add", "rename"]),
    pick=st.integers(0, 10_000),
)
def test_a_cached_answer_is_the_tables_answer_after_any_write(
    worlds: Worlds, template: list[tuple[str, str]], change: str, pick: int
) -> None:
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    items = _concrete(template, now)
    before = worlds.run(_answer(worlds.reader, worlds.cache, items, now))  # builds the view
    if change != "none":
        worlds.run(_change(worlds.writer, change, pick, before, items[0][1]))
    cached = worlds.run(_answer(worlds.reader, worlds.cache, items, now))
    direct = worlds.run(_answer(worlds.reader, None, items, now))
    assert cached == direct


def test_concurrent_epoch_reads_share_queries_and_see_every_earlier_commit(
    worlds: Worlds,
) -> None:
    reader = epochs.EpochReader(worlds.reader)
    scope = epochs.slots_of(SERVICE)

    async def bump() -> int:
        async with worlds.writer.write() as session:
            await epochs.bump(session, [scope])
        async with worlds.writer.read() as session:
            (value,) = await epochs.read(session, [scope])
        return value

    async def scenario() -> tuple[int, int]:
        stop_flag = asyncio.Event()

        async def background() -> None:  # keeps a query in flight most of the time
            while not stop_flag.is_set():
                await asyncio.gather(*(reader.read([scope]) for _ in range(8)))

        noise = asyncio.create_task(background())
        stale = 0
        for _ in range(40):
            committed = await bump()
            (seen,) = await reader.read([scope])
            stale += seen < committed
        stop_flag.set()
        await noise
        before = reader.queries
        await asyncio.gather(*(reader.read([scope, epochs.DIRECTORY]) for _ in range(64)))
        return stale, reader.queries - before

    stale, queries = worlds.run(scenario())
    assert stale == 0
    assert 1 <= queries < 64


@pytest.fixture
def two_workers(pg_url: str) -> Iterator[str]:
    seed_db(pg_url, days=3)
    proc, base = start_provider(pg_url, workers=2)
    try:
        yield base
    finally:
        stop(proc)


def test_a_slot_booked_through_one_worker_is_never_offered_by_another(two_workers: str) -> None:
    """Over real sockets against `serve provider --workers 2` on PostgreSQL: each worker has
    its own views, and after each 201 no search on either worker offers the slot."""
    with httpx.Client(timeout=30) as client:
        offered_after_booking = 0
        for _ in range(12):
            for _ in range(6):  # warm both workers' views
                free = search_free(client, two_workers)
            slot = free[0]
            response = client.post(
                f"{two_workers}/Appointment",
                json=appointment(slot),
                headers={"Content-Type": "application/fhir+json"},
            )
            assert response.status_code == 201, response.text
            for _ in range(8):
                ids = {s["id"] for s in search_free(client, two_workers)}
                offered_after_booking += slot["id"] in ids
        assert offered_after_booking == 0


def test_the_views_stay_within_their_bounds_and_still_answer(worlds: Worlds) -> None:
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    lo = now.replace(tzinfo=UTC).isoformat()
    hi = (now + timedelta(days=2)).replace(tzinfo=UTC).isoformat()

    def items(service: str) -> list[tuple[str, str]]:
        return [
            ("schedule.actor:healthcareservice", service),
            ("start", f"ge{lo}"),
            ("start", f"le{hi}"),
            ("_include", "Slot:schedule"),
        ]

    sizes = {}
    for service in SERVICES[:3]:
        unbounded = SlotCache(worlds.reader)
        worlds.run(_answer(worlds.reader, unbounded, items(service), now))
        (view,) = unbounded._views.values()
        sizes[service] = len(view.slots)
    assert all(sizes.values())

    by_views = SlotCache(worlds.reader, max_views=2)
    by_slots = SlotCache(worlds.reader, max_slots=max(sizes.values()))
    too_small = SlotCache(worlds.reader, max_slots=min(sizes.values()) - 1)
    for cache in (by_views, by_slots, too_small):
        for service in SERVICES[:3] * 2:
            cached = worlds.run(_answer(worlds.reader, cache, items(service), now))
            assert cached == worlds.run(_answer(worlds.reader, None, items(service), now))
    assert len(by_views) == 2
    assert by_slots.slots_held <= max(sizes.values()) and len(by_slots) >= 1
    assert too_small.slots_held == 0  # the smallest range is too big: searched in the tables
    assert not any(view.complete for view in too_small._views.values())


def test_a_search_that_goes_away_does_not_fail_the_others_waiting_on_its_view(
    worlds: Worlds,
) -> None:
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    lo, hi = now.replace(hour=0, minute=0, second=0), now.replace(hour=0) + timedelta(days=3)

    async def scenario() -> tuple[bool, int]:
        first = asyncio.create_task(worlds.cache.view(SERVICE, lo, hi))
        while not worlds.cache._building:  # the first search is building the view
            await asyncio.sleep(0.0005)
        second = asyncio.create_task(worlds.cache.view(SERVICE, lo, hi))
        reader = worlds.cache.epochs
        # Until the second has its epochs and waits on the same build.
        while worlds.cache._building and (reader._pending or not reader._runner.done()):
            await asyncio.sleep(0.0002)
        await asyncio.sleep(0)
        first.cancel()
        view = await second
        return first.cancelled(), len(view.slots)

    cancelled, held = worlds.run(scenario())
    assert cancelled and held > 0

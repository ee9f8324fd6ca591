"""Racing for one slot: exactly one booking wins, on PostgreSQL with 4 worker processes and
on SQLite with one, through the real `uec-booking serve provider` command."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, text

from tests.provider.conftest import seed_db
from tests.provider.helpers import FHIR_JSON, appointment, search_free
from uec_booking.processes import start_provider, stop
from uec_booking.provider.store.db import sync_url


async def race(base: str, body: bytes, n: int) -> Counter[int]:
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        start = asyncio.Event()

        async def one() -> int:
            await start.wait()
            response = await client.post(f"{base}/Appointment", content=body, headers=FHIR_JSON)
            if response.status_code not in (201, 422):
                raise AssertionError(response.text)
            if response.status_code == 422:
                assert response.json()["issue"][0]["diagnostics"] == "Slot no longer available"
            return response.status_code

        tasks = [asyncio.create_task(one()) for _ in range(n)]
        await asyncio.sleep(0.2)
        start.set()
        return Counter(await asyncio.gather(*tasks))


def appointments_for(db_url: str, slot_id: str) -> int:
    engine = create_engine(sync_url(db_url))
    with engine.connect() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM appointment WHERE slot_id = :s"), {"s": slot_id}
        ).scalar_one()
    engine.dispose()
    return int(n)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'race.sqlite3'}"


@pytest.mark.parametrize(("store", "workers"), [("pg", 4), ("sqlite", 1)])
def test_fifty_concurrent_bookings_of_one_slot(
    store: str, workers: int, request: pytest.FixtureRequest
) -> None:
    db_url = request.getfixturevalue("pg_url" if store == "pg" else "sqlite_url")
    seed_db(db_url, days=2)
    proc, base = start_provider(db_url, workers)
    try:
        with httpx.Client(timeout=30) as client:
            slot = search_free(client, base)[0]
        outcomes = asyncio.run(race(base, orjson.dumps(appointment(slot)), 50))
    finally:
        log = stop(proc)
    assert outcomes == Counter({201: 1, 422: 49}), log
    assert appointments_for(db_url, slot["id"]) == 1

"""Contention: 64 clients in 4 processes race for 10 free slots. Exactly 10 bookings win,
the rest get 422, no 5xx, and every busy slot has exactly one appointment."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, text

from tests.provider.conftest import seed_db
from tests.provider.helpers import FHIR_JSON, appointment, search_free
from uec_booking.processes import ssp_in_front_of, start_provider, stop
from uec_booking.provider.store.db import sync_url

PROCESSES = 4
CLIENTS_PER_PROCESS = 16
SLOTS = 10


def _client_process(
    url: str, headers: dict[str, str], bodies: list[bytes], barrier: Any, out: Any
) -> None:
    async def run() -> list[int]:
        async with httpx.AsyncClient(
            timeout=60, limits=httpx.Limits(max_connections=len(bodies))
        ) as client:
            await asyncio.to_thread(barrier.wait)
            responses = await asyncio.gather(
                *(client.post(url, content=body, headers=headers) for body in bodies),
                return_exceptions=True,
            )
        return [r.status_code if isinstance(r, httpx.Response) else -1 for r in responses]

    out.put(asyncio.run(run()))


def race_from_processes(
    url: str, headers: dict[str, str], slots: list[dict[str, Any]]
) -> Counter[int]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    out = context.Queue()
    processes = []
    for p in range(PROCESSES):
        bodies = [
            orjson.dumps(appointment(slots[(p * CLIENTS_PER_PROCESS + c) % len(slots)]))
            for c in range(CLIENTS_PER_PROCESS)
        ]
        proc = context.Process(target=_client_process, args=(url, headers, bodies, barrier, out))
        proc.start()
        processes.append(proc)
    results: Counter[int] = Counter()
    for _ in processes:
        results.update(out.get(timeout=120))
    for proc in processes:
        proc.join(timeout=30)
    return results


def assert_one_appointment_per_busy_slot(db_url: str) -> int:
    engine = create_engine(sync_url(db_url))
    with engine.connect() as conn:
        live = conn.execute(
            text("SELECT count(*) FROM appointment WHERE status='booked'")
        ).scalar_one()
        per_slot = conn.execute(
            text(
                "SELECT s.id, count(a.id) FROM slot s LEFT JOIN appointment a "
                "ON a.slot_id = s.id AND a.status='booked' WHERE s.status='busy' GROUP BY s.id"
            )
        ).all()
    engine.dispose()
    assert all(n == 1 for _, n in per_slot), per_slot
    return int(live)


SSP_HEADERS = {
    **FHIR_JSON,
    "Ssp-TraceID": "5f0c6f6e-8d52-4b8a-9d1e-2b7d0e3c4a10",
    "Ssp-From": "200000000201",
    "Ssp-To": "200000000101",
    "Ssp-InteractionID": "urn:nhs:names:services:careconnect:fhir:rest:create:appointment",
}


@pytest.mark.parametrize(
    ("store", "workers", "via_ssp"), [("pg", 4, True), ("pg", 4, False), ("sqlite", 1, True)]
)
def test_64_clients_in_4_processes_race_for_10_slots(
    store: str, workers: int, via_ssp: bool, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    db_url = (
        request.getfixturevalue("pg_url")
        if store == "pg"
        else f"sqlite:///{tmp_path / 'c.sqlite3'}"
    )
    seed_db(db_url, days=2)
    proc, base = start_provider(db_url, workers)
    try:
        with httpx.Client() as client:
            slots = search_free(client, base)[:SLOTS]
        if via_ssp:
            with ssp_in_front_of(base) as ssp:
                results = race_from_processes(f"{ssp}/{base}/Appointment", SSP_HEADERS, slots)
        else:
            results = race_from_processes(f"{base}/Appointment", FHIR_JSON, slots)
    finally:
        stop(proc)
    print(f"\n{store} x{workers} workers{' via SSP' if via_ssp else ''}: {dict(results)}")
    assert results == Counter({201: SLOTS, 422: PROCESSES * CLIENTS_PER_PROCESS - SLOTS})
    assert assert_one_appointment_per_busy_slot(db_url) == SLOTS

"""Crash safety under a steady booking load: a worker killed with SIGKILL, PostgreSQL
restarted. Every 201 a client saw is in the store afterwards, slots and appointments agree,
and the service recovers with no manual step. Retries keep their X-Request-ID and never
book twice, across worker processes and across a provider restart."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, text

from tests.provider.conftest import seed_db
from tests.provider.helpers import FHIR_JSON, appointment
from uec_booking.processes import start_provider, stop
from uec_booking.provider.store.db import sync_url


@dataclass
class Load:
    booked: dict[str, str] = field(default_factory=dict)  # appointment id -> slot id
    statuses: dict[str, int] = field(default_factory=dict)
    transport_errors: int = 0

    def count(self, key: str) -> None:
        self.statuses[key] = self.statuses.get(key, 0) + 1


def free_slot_ids(db_url: str, n: int) -> list[dict[str, str]]:
    engine = create_engine(sync_url(db_url))
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, start, \"end\" FROM slot WHERE status='free' AND start > now() ORDER BY start LIMIT :n"
            )
            if engine.dialect.name == "postgresql"
            else text(
                "SELECT id, start, \"end\" FROM slot WHERE status='free' ORDER BY start DESC LIMIT :n"
            ),
            {"n": n},
        ).all()
    engine.dispose()
    return [
        {"id": r[0], "start": r[1].isoformat() + "+00:00", "end": r[2].isoformat() + "+00:00"}
        for r in rows
    ]


async def booking_load(
    base: str, slots: list[dict[str, str]], seconds: float, load: Load, pace: float = 0.05
) -> None:
    """8 clients booking distinct slots, each at most one request per `pace` seconds, so the
    load is still running when the fault is injected."""
    queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    for slot in slots:
        queue.put_nowait(slot)
    deadline = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline and not queue.empty():
            slot = queue.get_nowait()
            try:
                r = await client.post(
                    f"{base}/Appointment",
                    content=orjson.dumps(appointment(slot)),
                    headers=FHIR_JSON,
                )
            except httpx.TransportError:
                load.transport_errors += 1
                continue
            load.count(str(r.status_code))
            await asyncio.sleep(pace)
            if r.status_code == 201:
                load.booked[r.json()["id"]] = slot["id"]
            else:
                assert r.headers["content-type"].startswith("application/fhir+json"), r.text
                assert r.status_code in (422, 503), r.text

    async with httpx.AsyncClient(timeout=10) as client:
        await asyncio.gather(*(worker(client) for _ in range(8)))


def assert_consistent(db_url: str, load: Load) -> None:
    engine = create_engine(sync_url(db_url))
    with engine.connect() as conn:
        stored = dict(
            conn.execute(text("SELECT id, slot_id FROM appointment WHERE status='booked'")).all()
        )
        orphans = conn.execute(
            text(
                "SELECT count(*) FROM slot s WHERE s.status='busy' AND NOT EXISTS "
                "(SELECT 1 FROM appointment a WHERE a.slot_id=s.id AND a.status='booked')"
            )
        ).scalar_one()
        unbusy = conn.execute(
            text(
                "SELECT count(*) FROM appointment a JOIN slot s ON s.id=a.slot_id "
                "WHERE a.status='booked' AND s.status <> 'busy'"
            )
        ).scalar_one()
    engine.dispose()
    missing = {k: v for k, v in load.booked.items() if stored.get(k) != v}
    assert not missing, f"{len(missing)} bookings a client saw as 201 are not in the store"
    assert orphans == 0, "busy slots without an appointment"
    assert unbusy == 0, "appointments whose slot is not busy"


def workers(pid: int) -> list[int]:
    """uvicorn's worker processes under its supervisor (not multiprocessing's helpers)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [int(p) for p in path.read_text().split()] if path.exists() else []
    return [p for p in pids if b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()]


def wait_healthy_booking(base: str, slot: dict[str, str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = httpx.post(
                f"{base}/Appointment",
                content=orjson.dumps(appointment(slot)),
                headers=FHIR_JSON,
                timeout=5,
            )
            if r.status_code == 201:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the provider did not recover by itself"
        time.sleep(0.5)


def test_kill_9_a_worker_under_load(pg_url: str) -> None:
    seed_db(pg_url, days=10)
    proc, base = start_provider(pg_url, workers=2)
    load = Load()
    try:
        slots = free_slot_ids(pg_url, 1200)
        victims = workers(proc.pid)
        assert len(victims) == 2, victims

        async def run() -> None:
            task = asyncio.create_task(booking_load(base, slots[:-1], 6, load))
            await asyncio.sleep(1.5)
            assert not task.done(), "the load must still be running when the worker dies"
            os.kill(victims[0], signal.SIGKILL)
            await task

        asyncio.run(run())
        wait_healthy_booking(base, slots[-1])
    finally:
        stop(proc)
    print(f"\nkill -9 a worker: statuses={load.statuses} transport_errors={load.transport_errors}")
    assert load.statuses.get("201", 0) > 20, load.statuses
    assert "500" not in load.statuses
    assert_consistent(pg_url, load)


def _pg_restart_command() -> list[str] | None:
    if (
        os.geteuid() != 0
        or not shutil.which("pg_ctlcluster")
        or not os.path.isdir("/etc/postgresql")
    ):
        return None
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"]


def test_postgresql_restart_under_load(pg_url: str) -> None:
    command = _pg_restart_command()
    if command is None:
        pytest.skip("NEEDS root and pg_ctlcluster to restart PostgreSQL: restart test skipped")
    seed_db(pg_url, days=10)
    proc, base = start_provider(pg_url, workers=2)
    load = Load()
    try:
        slots = free_slot_ids(pg_url, 1200)

        async def run() -> None:
            task = asyncio.create_task(booking_load(base, slots[:-1], 8, load))
            await asyncio.sleep(1.5)
            assert not task.done(), "the load must still be running when PostgreSQL restarts"
            await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True)
            await task

        asyncio.run(run())
        wait_healthy_booking(base, slots[-1])
    finally:
        stop(proc)
    print(
        f"\nPostgreSQL restart: statuses={load.statuses} transport_errors={load.transport_errors}"
    )
    assert "500" not in load.statuses, load.statuses
    assert load.statuses.get("201", 0) > 20, load.statuses
    assert_consistent(pg_url, load)


def test_retry_with_same_request_id_across_workers_and_restart(pg_url: str) -> None:
    seed_db(pg_url, days=2)
    slots = free_slot_ids(pg_url, 2)
    headers = {**FHIR_JSON, "X-Request-ID": "6f1c2d1e-retry-across-processes"}
    body = orjson.dumps(appointment(slots[0]))  # a retry repeats the request as it was
    proc, base = start_provider(pg_url, workers=2)
    try:
        first = httpx.post(f"{base}/Appointment", content=body, headers=headers)
        assert first.status_code == 201
        # Fresh connections spread over both workers.
        for _ in range(6):
            again = httpx.post(f"{base}/Appointment", content=body, headers=headers)
            assert (
                again.status_code == 409
                and again.headers["content-location"] == first.headers["location"]
            )
        # The same id on another request books nothing either.
        reused = httpx.post(
            f"{base}/Appointment", content=orjson.dumps(appointment(slots[1])), headers=headers
        )
        assert reused.status_code == 422
    finally:
        stop(proc)
    proc, base = start_provider(pg_url, workers=1)
    try:
        after = httpx.post(f"{base}/Appointment", content=body, headers=headers)
        assert after.status_code == 409
    finally:
        stop(proc)
    engine = create_engine(sync_url(pg_url))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM appointment")).scalar_one() == 1
    engine.dispose()

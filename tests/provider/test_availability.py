"""Availability templates on each store: idempotent apply, shortened hours withdraw free
slots and report (never touch) a booked one, exceptions close days, the horizon rolls with a
clock passed in, and only one worker rolls it at a time on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from tests.provider.helpers import FHIR_JSON, appointment
from uec_booking.asgi_server import ThreadedServer
from uec_booking.cli import app as cli
from uec_booking.provider.app import create_app
from uec_booking.provider.availability import (
    ApplyReport,
    HorizonRoller,
    TemplateError,
    apply,
    load_template,
)
from uec_booking.provider.settings import AuthMode, ProviderSettings
from uec_booking.provider.store import Store
from uec_booking.provider.store.db import sync_url
from uec_booking.provider.store.migrate import upgrade
from uec_booking.provider.store.slot_changes import AVAILABILITY_LOCK

# Monday 7 January 2030, 06:00 UTC (GMT: local time is UTC).
NOW = datetime(2030, 1, 7, 6, 0, tzinfo=UTC)
SERVICE = "9990000001"

TEMPLATE = """
timezone: Europe/London
organization: {id: org-t, ods: X99T1, name: Test UTC Trust, phone: "0113 000 0000", postcode: LS1 1AA}
locations:
  - {id: loc-t, ods_site: X99T1-01, name: Test UTC, lines: [1 Test Street], city: Leeds,
     postcode: LS1 1AA, latitude: 53.8, longitude: -1.55}
practitioners:
  - {id: prac-a, sds_user_id: "600000009001", family: Able, given: [Ann], role: GP}
services:
  - id: "9990000001"
    name: Test UTC
    type: UTC
    phone: "0113 000 0001"
    location: loc-t
    slot_minutes: 30
    practitioners: [prac-a]
    sessions:
      - {days: [mon, tue, wed, thu, fri, sat, sun], start: 18:00, end: CLOSE}
exceptions:
  - {date: "2030-01-09", reason: Staff training}
"""


def write_template(path: Path, close: str = "22:00") -> Path:
    # Unquoted 20:30 on purpose: YAML 1.1 would read it as the number 1230.
    path.write_text(TEMPLATE.replace("CLOSE", close), encoding="utf-8")
    return path


async def run_apply(db_url: str, path: Path, *, now: datetime = NOW, days: int = 4) -> ApplyReport:
    store = Store(db_url)
    try:
        report = await apply(store, load_template(path), now=now, horizon_days=days)
    finally:
        await store.dispose()
    assert report is not None
    return report


def slot_statuses(db_url: str) -> dict[str, tuple[str, datetime]]:
    engine = create_engine(sync_url(db_url))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, status, start FROM slot")).all()
    engine.dispose()
    return {r.id: (r.status, datetime.fromisoformat(str(r.start))) for r in rows}


@pytest.fixture
def store_url(db_url: str) -> str:
    upgrade(db_url)
    return db_url


@pytest.fixture
def provider_url(store_url: str) -> Iterator[str]:
    settings = ProviderSettings(db_url=store_url, auth_mode=AuthMode.OFF)
    with ThreadedServer(create_app(settings)) as server:
        yield f"{server.url}/fhir"


def test_apply_twice_adds_nothing_the_second_time(store_url: str, tmp_path: Path) -> None:
    path = write_template(tmp_path / "t.yaml")
    first = asyncio.run(run_apply(store_url, path))
    # 7, 8, 10 January (the 9th is closed), 18:00-22:00 in 30-minute slots.
    assert (first.added, first.withdrawn) == (3 * 8, 0)
    assert (
        first.directory_written == 6
    )  # Organization, Location, Practitioner, Role, Service, Schedule
    second = asyncio.run(run_apply(store_url, path))
    assert (second.added, second.withdrawn, second.changed, second.unchanged) == (0, 0, 0, 24)
    assert second.directory_written == 0
    days = {start.date().isoformat() for _, start in slot_statuses(store_url).values()}
    assert days == {"2030-01-07", "2030-01-08", "2030-01-10"}
    engine = create_engine(sync_url(store_url))
    with engine.connect() as conn:
        trail = conn.execute(
            text("SELECT detail FROM audit_event WHERE interaction = 'admin:availability-apply'")
        ).all()
    engine.dispose()
    assert [t.detail.split(";")[0] for t in trail] == [
        "24 added, 0 withdrawn, 0 restored, 0 changed, 0 booked outside"
    ]  # the second run changed nothing: no event


def test_shortened_hours_withdraw_free_slots_and_report_a_booked_one(
    store_url: str, provider_url: str, tmp_path: Path
) -> None:
    path = write_template(tmp_path / "t.yaml")
    asyncio.run(run_apply(store_url, path))
    late_id = f"sch-{SERVICE}-prac-a-203001072100"  # 21:00-21:30 on the 7th
    with httpx.Client(timeout=30) as client:
        slot = client.get(f"{provider_url}/Slot/{late_id}").json()
        booked = client.post(
            f"{provider_url}/Appointment", json=appointment(slot), headers=FHIR_JSON
        )
        assert booked.status_code == 201, booked.text
        # Warm the slot view, so that the test shows it sees the withdrawal at once.
        params = [
            ("status", "free"),
            ("start", "ge2030-01-07T00:00:00Z"),
            ("start", "le2030-01-11T00:00:00Z"),
            ("schedule.actor:healthcareservice", SERVICE),
        ]
        before = client.get(f"{provider_url}/Slot", params=params).json()
        assert len(before["entry"]) == 3 * 8 - 1

        write_template(path, close="20:30")
        report = asyncio.run(run_apply(store_url, path))
        # After 20:30 each day: 20:30, 21:00, 21:30 → 3 a day, one of them booked.
        assert report.withdrawn == 3 * 3 - 1
        assert [s.id for s in report.booked_outside] == [late_id]
        assert report.added == 0
        statuses = slot_statuses(store_url)
        assert statuses[late_id][0] == "busy"
        after = client.get(f"{provider_url}/Slot", params=params).json()
        starts = sorted(
            e["resource"]["start"] for e in after["entry"] if e["search"]["mode"] == "match"
        )
        assert len(starts) == 3 * 5
        assert all(s[11:16] <= "20:00" for s in starts)

        # Hours back to 22:00: the withdrawn slots come back; the booked one is untouched.
        write_template(path, close="22:00")
        back = asyncio.run(run_apply(store_url, path))
        assert (back.restored, back.added, back.booked_outside) == (8, 0, [])
        assert slot_statuses(store_url)[late_id][0] == "busy"


def test_the_horizon_rolls_with_the_clock(store_url: str, tmp_path: Path) -> None:
    path = write_template(tmp_path / "t.yaml")
    clock = [NOW]

    async def run() -> tuple[ApplyReport | None, ApplyReport | None, ApplyReport | None]:
        store = Store(store_url)
        roller = HorizonRoller(store, path, horizon_days=3, clock=lambda: clock[0])
        try:
            first = await roller.roll_once()
            again = await roller.roll_once()
            clock[0] = NOW + timedelta(days=2)
            rolled = await roller.roll_once()
        finally:
            await store.dispose()
        return first, again, rolled

    first, again, rolled = asyncio.run(run())
    assert first is not None and again is not None and rolled is not None
    # 7th, 8th and the 9th (closed); then, two days on: the 9th, 10th and 11th.
    assert first.added == 16 and again.added == 0
    assert rolled.added == 16
    assert rolled.horizon_end == datetime(2030, 1, 12)
    last = max(start for _, start in slot_statuses(store_url).values())
    assert last.date().isoformat() == "2030-01-11"


def test_only_one_worker_rolls_at_a_time_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    upgrade(pg_url)
    path = write_template(tmp_path / "t.yaml")
    with psycopg.connect(pg_url, autocommit=True) as other_worker:
        other_worker.execute("SELECT pg_advisory_lock(%s)", (AVAILABILITY_LOCK,))

        async def roll() -> ApplyReport | None:
            store = Store(pg_url)
            try:
                return await HorizonRoller(store, path, clock=lambda: NOW).roll_once()
            finally:
                await store.dispose()

        assert asyncio.run(roll()) is None
        assert slot_statuses(pg_url) == {}
        other_worker.execute("SELECT pg_advisory_unlock(%s)", (AVAILABILITY_LOCK,))
    report = asyncio.run(roll())
    assert report is not None and report.added > 0


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ("start: 18:00", "start: 25:00"),
        ("practitioners: [prac-a]", "practitioners: [prac-zz]"),
        ("end: CLOSE", "end: 17:00"),
        ("reason: Staff training", "reason: Staff training, services: [nope]"),
        ("slot_minutes: 30", "slot_minutes: thirty"),
    ],
)
def test_a_bad_template_is_one_sentence_and_writes_nothing(
    tmp_path: Path, change: str, complaint: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(TEMPLATE.replace(change, complaint).replace("CLOSE", "22:00"), "utf-8")
    with pytest.raises(TemplateError):
        load_template(path)
    db = tmp_path / "never.sqlite3"
    result = CliRunner().invoke(
        cli, ["availability", "apply", str(path), "--db", f"sqlite:///{db}"]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    assert not db.exists()


def test_the_cli_prints_counts_and_the_shipped_example_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "availability.example.yaml"
    runner = CliRunner()
    assert runner.invoke(cli, ["availability", "check", str(example)]).exit_code == 0
    db = f"sqlite:///{tmp_path / 'p.sqlite3'}"
    path = write_template(tmp_path / "t.yaml")
    first = runner.invoke(cli, ["availability", "apply", str(path), "--db", db, "--horizon", "2"])
    assert first.exit_code == 0, first.output
    assert "slots added" in first.output
    second = runner.invoke(cli, ["availability", "apply", str(path), "--db", db, "--horizon", "2"])
    assert "0 slots added" in second.output


def test_serve_provider_keeps_the_template_applied(pg_url: str, tmp_path: Path) -> None:
    import time

    from uec_booking.processes import start_provider, stop

    path = write_template(tmp_path / "t.yaml")
    proc, _base = start_provider(pg_url, workers=2, env={"UEC_AVAILABILITY_FILE": str(path)})
    try:
        deadline = time.monotonic() + 30
        found: dict[str, tuple[str, datetime]] = {}
        while time.monotonic() < deadline and not found:
            found = slot_statuses(pg_url)
            time.sleep(0.2)
    finally:
        log = stop(proc)
    assert found, log
    days = {start.date() for _, start in found.values()}
    assert max(days) - min(days) >= timedelta(days=20)  # a 28-day horizon, bar closures

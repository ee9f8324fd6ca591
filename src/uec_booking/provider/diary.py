"""The provider's diary, as its staff read it: a day or a week of each HealthcareService,
in UK time, with the practitioner, the patient's name and who booked.

One long-lived `Store` per diary (opened on first use, on the event loop that serves it;
closed by `close()`). The queries live here, beside the tables, not in the console.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import func, select

from uec_booking.provider.report import counts
from uec_booking.provider.store import Store
from uec_booking.provider.store.models import (
    AppointmentRow,
    AuditEvent,
    DirectoryResource,
    SlotRow,
)

LONDON = ZoneInfo("Europe/London")
# The words a receptionist uses for the standard's Slot and Appointment statuses.
SLOT_WORDS = {
    "free": "free",
    "busy": "booked",
    "busy-unavailable": "blocked",
    "busy-tentative": "held",
}


@dataclass(frozen=True)
class DiaryAppointment:
    id: str
    status: str
    nhs_number: str | None
    patient_name: str | None
    booked_by: str | None


@dataclass(frozen=True)
class DiarySlot:
    id: str
    service_id: str
    start: datetime  # aware, UTC
    end: datetime
    status: str  # the receptionist's word
    practitioner: str | None
    appointments: tuple[DiaryAppointment, ...] = ()
    # Why a blocked slot is blocked (the Slot's `comment`, which blocking requires).
    reason: str | None = None


@dataclass(frozen=True)
class DiaryDay:
    day: date
    services: dict[str, str]  # id → name, in id order
    slots: list[DiarySlot]
    trail: Sequence[AuditEvent] = field(default_factory=list)


def uk_day_bounds(day: date, days: int = 1) -> tuple[datetime, datetime]:
    """The UTC instants (naive, as stored) where these UK days begin and end: a day is cut at
    UK midnight, which is 23:00 UTC the evening before in summer."""
    lo = datetime.combine(day, time.min, LONDON).astimezone(UTC).replace(tzinfo=None)
    hi = (
        datetime.combine(day + timedelta(days=days), time.min, LONDON)
        .astimezone(UTC)
        .replace(tzinfo=None)
    )
    return lo, hi


def _patient_name(body: str) -> str | None:
    for resource in orjson.loads(body).get("contained", []):
        if resource.get("resourceType") == "Patient":
            for name in resource.get("name", []):
                given = " ".join(name.get("given", []))
                return f"{given} {name.get('family', '')}".strip() or None
    return None


def _person_name(resource: dict[str, Any]) -> str:
    name = (resource.get("name") or [{}])[0]
    return " ".join(
        [*name.get("prefix", []), *name.get("given", []), name.get("family", "")]
    ).strip()


class Diary:
    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.db_url)
        return self._store

    async def close(self) -> None:
        if self._store is not None:
            await self._store.dispose()
            self._store = None

    async def _directory(self, session: Any, kind: str) -> dict[str, dict[str, Any]]:
        rows = await session.scalars(
            select(DirectoryResource)
            .where(DirectoryResource.resource_type == kind)
            .order_by(DirectoryResource.id)
        )
        return {r.id: orjson.loads(r.body) for r in rows.all()}

    async def day(self, day: date) -> DiaryDay:
        lo, hi = uk_day_bounds(day)
        async with self.store.read() as session:
            services = {
                k: v.get("name", k)
                for k, v in (await self._directory(session, "HealthcareService")).items()
            }
            practitioners = await self._directory(session, "Practitioner")
            schedules = await self._directory(session, "Schedule")
            slots = (
                await session.scalars(
                    select(SlotRow)
                    .where(SlotRow.start >= lo, SlotRow.start < hi)
                    .order_by(SlotRow.start)
                )
            ).all()
            appointments = (
                await session.scalars(
                    select(AppointmentRow).where(
                        AppointmentRow.start >= lo, AppointmentRow.start < hi
                    )
                )
            ).all()
            trail = (
                await session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(100))
            ).all()
        by_slot: dict[str, list[DiaryAppointment]] = {}
        for a in appointments:
            by_slot.setdefault(a.slot_id, []).append(
                DiaryAppointment(
                    a.id,
                    a.status,
                    a.nhs_number,
                    _patient_name(a.body),
                    a.consumer_client or a.consumer_asid,
                )
            )
        practitioner_of: dict[str, str] = {}
        for schedule_id, schedule in schedules.items():
            for actor in schedule.get("actor", []):
                kind, _, ident = str(actor.get("reference", "")).partition("/")
                if kind == "Practitioner" and ident in practitioners:
                    practitioner_of[schedule_id] = _person_name(practitioners[ident])
        return DiaryDay(
            day,
            services,
            [
                DiarySlot(
                    s.id,
                    s.healthcare_service_id,
                    s.start.replace(tzinfo=UTC),
                    s.end.replace(tzinfo=UTC),
                    SLOT_WORDS.get(s.status, s.status),
                    practitioner_of.get(s.schedule_id),
                    tuple(by_slot.get(s.id, [])),
                    _block_reason(s),
                )
                for s in slots
            ],
            trail,
        )

    async def week(
        self, first: date
    ) -> tuple[dict[str, str], dict[tuple[str, str], dict[str, int]]]:
        """Per service and UK day: how many slots are free, booked, blocked; how many
        appointments were cancelled."""
        lo, hi = uk_day_bounds(first, 7)
        async with self.store.read() as session:
            services = {
                k: v.get("name", k)
                for k, v in (await self._directory(session, "HealthcareService")).items()
            }
            slots = (
                await session.execute(
                    select(SlotRow.healthcare_service_id, SlotRow.start, SlotRow.status).where(
                        SlotRow.start >= lo, SlotRow.start < hi
                    )
                )
            ).all()
            cancelled = (
                await session.execute(
                    select(SlotRow.healthcare_service_id, AppointmentRow.start, func.count())
                    .join(SlotRow, SlotRow.id == AppointmentRow.slot_id)
                    .where(
                        AppointmentRow.status == "cancelled",
                        AppointmentRow.start >= lo,
                        AppointmentRow.start < hi,
                    )
                    .group_by(SlotRow.healthcare_service_id, AppointmentRow.start)
                )
            ).all()
        grid: dict[tuple[str, str], dict[str, int]] = {}

        def uk_date(moment: datetime) -> str:
            return moment.replace(tzinfo=UTC).astimezone(LONDON).date().isoformat()

        for service_id, start, status in slots:
            cell = grid.setdefault((service_id, uk_date(start)), {})
            word = SLOT_WORDS.get(status, status)
            cell[word] = cell.get(word, 0) + 1
        for service_id, start, n in cancelled:
            cell = grid.setdefault((service_id, uk_date(start)), {})
            cell["cancelled"] = cell.get("cancelled", 0) + n
        return services, grid

    async def counts(self, start: datetime, end: datetime) -> dict[str, int]:
        """The provider side of the reporting metrics over this window."""
        return await counts(self.store, start, end)


def _block_reason(slot: SlotRow) -> str | None:
    if slot.status != "busy-unavailable" or not slot.extra:
        return None
    comment = orjson.loads(slot.extra).get("comment")
    return comment if isinstance(comment, str) else None

"""Provider-side counts for the reporting metrics, from the store: bookings and
cancellations from the audit trail, capacity from the slots, and each booking's lead time
(its slot's start less the moment it was booked) in the bands of the dispositions'
timeframes (1, 2, 6, 12, 24 hours), since no booking names its disposition."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select

from uec_booking.fhir.errors import SlotUnavailable
from uec_booking.provider.search_dates import utc_naive
from uec_booking.provider.store import Store
from uec_booking.provider.store.models import AppointmentRow, AuditEvent, SlotRow

# Lead-time bands (upper bounds), the timeframes NHS Pathways dispositions name.
LEAD_TIME_BANDS: tuple[tuple[str, timedelta | None], ...] = (
    ("within 1 h", timedelta(hours=1)),
    ("1-2 h", timedelta(hours=2)),
    ("2-6 h", timedelta(hours=6)),
    ("6-12 h", timedelta(hours=12)),
    ("12-24 h", timedelta(hours=24)),
    ("over 24 h", None),
)


def lead_time_band(lead: timedelta) -> str:
    for name, upper in LEAD_TIME_BANDS:
        if upper is None or lead <= upper:
            return name
    raise AssertionError("the last band has no upper bound")


async def counts(store: Store, start: datetime, end: datetime) -> dict[str, int]:
    lo, hi = utc_naive(start), utc_naive(end)
    in_range = (AuditEvent.recorded_at >= lo, AuditEvent.recorded_at < hi)
    async with store.read() as session:

        async def audit(*conditions: ColumnElement[bool]) -> int:
            return int(
                await session.scalar(
                    select(func.count()).select_from(AuditEvent).where(*in_range, *conditions)
                )
                or 0
            )

        booked = await audit(
            AuditEvent.interaction == "create:appointment", AuditEvent.outcome == "success"
        )
        slot_gone = await audit(
            AuditEvent.interaction == "create:appointment",
            AuditEvent.detail == SlotUnavailable.DIAGNOSTICS,
        )
        errors = (
            await audit(
                AuditEvent.interaction == "create:appointment", AuditEvent.outcome == "failure"
            )
            - slot_gone
        )
        cancelled = await audit(
            AuditEvent.interaction == "update:appointment", AuditEvent.outcome == "success"
        )
        slots = int(
            await session.scalar(
                select(func.count())
                .select_from(SlotRow)
                .where(SlotRow.start >= lo, SlotRow.start < hi)
            )
            or 0
        )
        free_slots = int(
            await session.scalar(
                select(func.count())
                .select_from(SlotRow)
                .where(SlotRow.start >= lo, SlotRow.start < hi, SlotRow.status == "free")
            )
            or 0
        )
        bookings = await session.execute(
            select(AppointmentRow.start, AppointmentRow.created_at).where(
                AppointmentRow.created_at >= lo, AppointmentRow.created_at < hi
            )
        )
        bands = dict.fromkeys((name for name, _ in LEAD_TIME_BANDS), 0)
        for start, created_at in bookings.all():
            bands[lead_time_band(start - created_at)] += 1
    return {
        "booked": booked,
        "slot_gone": slot_gone,
        "errors": errors,
        "cancelled": cancelled,
        "slots": slots,
        "free_slots": free_slots,
        **{f"lead {name}": n for name, n in bands.items()},
    }

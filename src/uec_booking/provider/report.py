"""Provider-side counts for the reporting metrics, from the store: bookings and
cancellations from the audit trail, capacity from the slots."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select

from uec_booking.provider.search import utc_naive
from uec_booking.provider.store import Store
from uec_booking.provider.store.models import AuditEvent, SlotRow

SLOT_GONE = "Slot no longer available"


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
            AuditEvent.interaction == "create:appointment", AuditEvent.detail == SLOT_GONE
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
    return {
        "booked": booked,
        "slot_gone": slot_gone,
        "errors": errors,
        "cancelled": cancelled,
        "slots": slots,
    }

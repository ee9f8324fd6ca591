"""Slot writes other than booking: availability templates adding, moving and withdrawing
slots, and provider staff blocking and unblocking them. Every change is conditional on the
status it expects (a booking racing it wins or loses cleanly) and bumps the slot views'
change epochs in the same transaction (`epochs.touch`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from uec_booking.provider.store import epochs, slots
from uec_booking.provider.store.appointments import now_utc
from uec_booking.provider.store.models import SlotRow

# What a slot the template no longer covers becomes: kept (a cancelled Appointment may still
# name it, and a consumer holding its id reads why it went), never offered, never bookable.
WITHDRAWN = "entered-in-error"
BLOCKED = "busy-unavailable"
FREE = "free"

# One advisory lock key for availability runs (any 64-bit number the provider owns).
AVAILABILITY_LOCK = 0x5545_4341_5641_494C  # "UECAVAIL"


@dataclass(frozen=True, slots=True)
class SlotState:
    id: str
    healthcare_service_id: str
    schedule_id: str
    start: datetime
    end: datetime
    status: str
    version_id: int
    extra: dict[str, Any] | None


def _state(row: Any) -> SlotState:
    return SlotState(
        row.id,
        row.healthcare_service_id,
        row.schedule_id,
        row.start,
        row.end,
        row.status,
        row.version_id,
        orjson.loads(row.extra) if row.extra else None,
    )


async def lock_availability(session: AsyncSession, *, wait: bool) -> bool:
    """Take the availability lock for this transaction. PostgreSQL: an advisory transaction
    lock (one worker on any host rolls the horizon; `wait=False` skips when another holds it).
    SQLite: the write transaction is already exclusive (`BEGIN IMMEDIATE`)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    value = await session.scalar(text(f"SELECT {function}(:key)"), {"key": AVAILABILITY_LOCK})
    return wait or bool(value)


async def slots_from(session: AsyncSession, **criteria: Any) -> list[SlotState]:
    """The slots `criteria` name (the filters of `slots.slot_query`), by (start, id)."""
    query = slots.slot_query(**criteria)
    rows = (await session.execute(query.order_by(SlotRow.start, SlotRow.id))).all()
    return [_state(r) for r in rows]


async def change(
    session: AsyncSession,
    slot: SlotState,
    *,
    expect: Iterable[str],
    status: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    extra: dict[str, Any] | bool | None = False,
) -> int | None:
    """Move one slot on if, and only if, its status is still one of `expect`; returns its new
    version (None when it had changed meanwhile, e.g. booked). `extra=False` keeps it."""
    values: dict[str, Any] = {"version_id": SlotRow.version_id + 1, "updated_at": now_utc()}
    if status is not None:
        values["status"] = status
    if start is not None:
        values["start"] = start
    if end is not None:
        values["end"] = end
    if extra is not False:
        values["extra"] = orjson.dumps(extra).decode() if extra else None
    result = await session.execute(
        update(SlotRow)
        .where(SlotRow.id == slot.id, SlotRow.status.in_(list(expect)))
        .values(**values)
        .returning(SlotRow.version_id)
        .execution_options(synchronize_session=False)
    )
    version = result.scalar_one_or_none()
    if version is not None:
        epochs.touch(session, [epochs.slots_of(slot.healthcare_service_id)])
    return version

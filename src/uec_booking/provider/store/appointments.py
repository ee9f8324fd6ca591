"""Appointment persistence: booking and cancelling are each one transaction that moves the
Slot and the Appointment together, so neither can exist without the other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy import ColumnElement, and_, bindparam, or_, select, update
from sqlalchemy import insert as table_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from uec_booking.provider.paging import Cursor, Page
from uec_booking.provider.store import epochs, paging
from uec_booking.provider.store.direct import DirectPool
from uec_booking.provider.store.models import (
    AppointmentRow,
    AppointmentVersion,
    SlotRow,
    table_of,
)


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who asked (from the verified token) and under which trace."""

    client_id: str | None = None
    asid: str | None = None  # the verified ASID, else what `Ssp-From` claims (audit only)
    ods: str | None = None
    trace_id: str | None = None
    request_id: str | None = None
    # True when a verified token named the caller: only then is ownership checked.
    verified: bool = False
    system: str | None = None  # the ASID the token itself carries (never a header's)

    @property
    def consumer_key(self) -> str:
        """Whose X-Request-IDs these are: ids are unique per consumer, not globally."""
        return f"{self.ods or ''}|{self.system or self.asid or ''}|{self.client_id or ''}"


# Built once (SQLAlchemy then reuses its compiled form): the statement every booking runs.
_CLAIM = (
    update(SlotRow)
    .where(
        SlotRow.id == bindparam("b_slot"),
        SlotRow.status == "free",
        SlotRow.start == bindparam("b_start"),
        SlotRow.end == bindparam("b_end"),
    )
    .where(SlotRow.start > bindparam("b_now"))  # a slot that has started cannot be booked
    .values(status="busy", version_id=SlotRow.version_id + 1, updated_at=bindparam("b_now"))
    .returning(SlotRow.healthcare_service_id)
    .execution_options(synchronize_session=False)
)


_INSERT_APPOINTMENT = table_insert(table_of(AppointmentRow))
_INSERT_VERSION = table_insert(table_of(AppointmentVersion))


async def claim_slot(session: AsyncSession, slot_id: str, start: datetime, end: datetime) -> bool:
    """Mark the slot busy if, and only if, it is free now: the race is decided here."""
    result = await session.execute(
        _CLAIM, {"b_slot": slot_id, "b_start": start, "b_end": end, "b_now": now_utc()}
    )
    service_id = result.scalar_one_or_none()
    if service_id is None:
        return False
    epochs.touch(session, [epochs.slots_of(service_id)])
    return True


@dataclass(frozen=True, slots=True)
class NewAppointment:
    """An Appointment about to be booked, as both ways of writing it (`insert` in a session,
    `book_directly` in one statement) take it."""

    appointment_id: str
    slot_id: str
    start: datetime
    end: datetime
    nhs_number: str | None
    resource: dict[str, Any]
    who: Provenance
    at: datetime
    request_hash: str | None = None


async def insert(session: AsyncSession, new: NewAppointment) -> None:
    """The Appointment and its first version. Core inserts: the ORM's unit of work cost more
    than the statements on the booking path."""
    who, at = new.who, new.at
    body = orjson.dumps(new.resource).decode()
    await session.execute(
        _INSERT_APPOINTMENT,
        {
            "id": new.appointment_id,
            "slot_id": new.slot_id,
            "status": new.resource["status"],
            "version_id": 1,
            "nhs_number": new.nhs_number,
            "start": new.start,
            "request_id": who.request_id,
            "consumer_key": who.consumer_key if who.request_id else None,
            "request_hash": new.request_hash,
            "consumer_ods": who.ods,
            "consumer_asid": who.system or who.asid,
            "consumer_client": who.client_id,
            "trace_id": who.trace_id,
            "created_at": at,
            "updated_at": at,
            "body": body,
        },
    )
    await session.execute(
        _INSERT_VERSION,
        {"appointment_id": new.appointment_id, "version_id": 1, "recorded_at": at, "body": body},
    )


# A whole booking in one statement (PostgreSQL, through the driver: `store/direct.py`): the
# slot claimed if, and only if, it is free, not started, as the request names it, not yet
# booked under the consumer's X-Request-ID and (when visibility is checked) of a Schedule
# open to every consumer; then the Appointment, its first version, the audit event and the
# slots' change epoch, all from the claim's row, so nothing is written unless it is made.
# One round trip, one implicit transaction. Any other case claims nothing and the caller
# books through the session, which decides and explains it (`booking.py`).
BOOK_STATEMENT = """
WITH claimed AS (
    UPDATE slot SET status = 'busy', version_id = slot.version_id + 1, updated_at = $1
    WHERE slot.id = $2 AND slot.status = 'free' AND slot.start = $3 AND slot."end" = $4
      AND slot.start > $1
      AND ($5::varchar IS NULL OR NOT EXISTS (
          SELECT 1 FROM appointment a WHERE a.consumer_key = $6 AND a.request_id = $5))
      AND (NOT $7::boolean OR NOT EXISTS (
          SELECT 1 FROM directory_resource d
          WHERE d.resource_type = 'Schedule' AND d.id = slot.schedule_id
            AND d.visible_to IS NOT NULL))
    RETURNING slot.healthcare_service_id
), booked AS (
    INSERT INTO appointment (id, slot_id, status, version_id, nhs_number, start, request_id,
        consumer_key, request_hash, consumer_ods, consumer_asid, consumer_client, trace_id,
        created_at, updated_at, body)
    SELECT $8, $2, $9, 1, $10, $3, $5, $6, $11, $12, $13, $14, $15, $1, $1, $16 FROM claimed
), versioned AS (
    INSERT INTO appointment_version (appointment_id, version_id, recorded_at, body)
    SELECT $8, 1, $1, $16 FROM claimed
), audited AS (
    INSERT INTO audit_event (recorded_at, interaction, outcome, status_code, client_id, asid,
        ods, trace_id, request_id, resource_id, detail)
    SELECT $1, $17, 'success', 201, $14, $18, $12, $15, $5, $8, $19 FROM claimed
), bumped AS (
    INSERT INTO change_epoch (scope, epoch) SELECT 'slots:' || healthcare_service_id, 1
    FROM claimed ON CONFLICT (scope) DO UPDATE SET epoch = change_epoch.epoch + 1
)
SELECT count(*) FROM claimed
"""


async def book_directly(
    direct: DirectPool, new: NewAppointment, *, check_visibility: bool, interaction: str
) -> bool:
    """The booking as `BOOK_STATEMENT`; False when it claimed nothing (nothing written).
    A unique index refusing it (the same X-Request-ID or slot, concurrently) raises
    IntegrityError, as the session's statements do."""
    who = new.who
    body = orjson.dumps(new.resource).decode()
    try:
        async with direct.connection() as conn:
            claimed = await conn.fetchval(
                BOOK_STATEMENT,
                new.at,
                new.slot_id,
                new.start,
                new.end,
                who.request_id,
                who.consumer_key if who.request_id else None,
                check_visibility,
                new.appointment_id,
                new.resource["status"],
                new.nhs_number,
                new.request_hash,
                who.ods,
                who.system or who.asid,
                who.client_id,
                who.trace_id,
                body,
                interaction,
                who.asid,
                f"slot {new.slot_id}",
            )
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(BOOK_STATEMENT, None, exc) from exc
    return bool(claimed)


async def get(session: AsyncSession, appointment_id: str) -> AppointmentRow | None:
    return await session.get(AppointmentRow, appointment_id)


async def by_request_id(
    session: AsyncSession, consumer_key: str, request_id: str
) -> AppointmentRow | None:
    return await session.scalar(
        select(AppointmentRow).where(
            AppointmentRow.consumer_key == consumer_key, AppointmentRow.request_id == request_id
        )
    )


def owned_by(who: Provenance) -> ColumnElement[bool]:
    """The rows `who` booked: same organisation (ODS), same client or same system (ASID),
    each only as the verified token names it. Rows that record no booker at all (booked
    with authentication off) belong to nobody in particular."""
    mine: list[ColumnElement[bool]] = [
        and_(
            AppointmentRow.consumer_ods.is_(None),
            AppointmentRow.consumer_client.is_(None),
            AppointmentRow.consumer_asid.is_(None),
        )
    ]
    if who.ods:
        mine.append(AppointmentRow.consumer_ods == who.ods)
    if who.client_id:
        mine.append(AppointmentRow.consumer_client == who.client_id)
    if who.system:
        mine.append(AppointmentRow.consumer_asid == who.system)
    return or_(*mine)


def is_owner(row: AppointmentRow, who: Provenance) -> bool:
    """The same test as `owned_by`, for a row in hand."""
    if row.consumer_ods is None and row.consumer_client is None and row.consumer_asid is None:
        return True
    return bool(
        (who.ods and row.consumer_ods == who.ods)
        or (who.client_id and row.consumer_client == who.client_id)
        or (who.system and row.consumer_asid == who.system)
    )


async def version(
    session: AsyncSession, appointment_id: str, version_id: int
) -> AppointmentVersion | None:
    return await session.get(AppointmentVersion, (appointment_id, version_id))


async def versions(session: AsyncSession, appointment_id: str) -> list[AppointmentVersion]:
    rows = await session.scalars(
        select(AppointmentVersion)
        .where(AppointmentVersion.appointment_id == appointment_id)
        .order_by(AppointmentVersion.version_id.desc())
    )
    return list(rows.all())


async def cancel(
    session: AsyncSession,
    row: AppointmentRow,
    *,
    expected_version: int,
    resource: dict[str, Any],
    at: datetime,
) -> bool:
    """Cancel if still at `expected_version`; frees the slot. False when another change won."""
    new_version = expected_version + 1
    body = orjson.dumps(resource).decode()
    result = await session.execute(
        update(AppointmentRow)
        .where(AppointmentRow.id == row.id, AppointmentRow.version_id == expected_version)
        .values(status="cancelled", version_id=new_version, updated_at=at, body=body)
        .execution_options(synchronize_session=False)
    )
    if (result.rowcount or 0) != 1:  # type: ignore[attr-defined]
        return False
    freed = await session.execute(
        update(SlotRow)
        .where(SlotRow.id == row.slot_id, SlotRow.status == "busy")
        .values(status="free", version_id=SlotRow.version_id + 1, updated_at=at)
        .returning(SlotRow.healthcare_service_id)
        .execution_options(synchronize_session=False)
    )
    epochs.touch(session, [epochs.slots_of(s) for s in freed.scalars()])
    session.add(
        AppointmentVersion(appointment_id=row.id, version_id=new_version, recorded_at=at, body=body)
    )
    await session.flush()
    return True


async def search_page(
    session: AsyncSession,
    *,
    nhs_numbers: list[str],
    start_ge: datetime | None,
    start_le: datetime | None,
    statuses: list[str],
    cursor: Cursor | None,
    size: int,
    owner: Provenance | None = None,
) -> Page[AppointmentRow]:
    """One page of the patient's appointments by (start, id), with the number of all;
    with `owner`, only those that organisation or system booked."""
    query = paging.where_given(
        select(AppointmentRow),
        owned_by(owner) if owner is not None else None,
        AppointmentRow.nhs_number.in_(nhs_numbers) if nhs_numbers else None,
        AppointmentRow.status.in_(statuses) if statuses else None,
        AppointmentRow.start >= start_ge if start_ge is not None else None,
        AppointmentRow.start <= start_le if start_le is not None else None,
    )
    return await paging.keyset_page(
        session,
        query,
        AppointmentRow.start,
        AppointmentRow.id,
        cursor=cursor,
        size=size,
        scalars=True,
    )

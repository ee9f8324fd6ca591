"""Appointment persistence: booking and cancelling are each one transaction that moves the
Slot and the Appointment together, so neither can exist without the other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, select, update
from sqlalchemy import insert as table_insert
from sqlalchemy.ext.asyncio import AsyncSession

from uec_booking.provider.paging import Cursor, Page
from uec_booking.provider.store import epochs, paging
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
    asid: str | None = None
    ods: str | None = None
    trace_id: str | None = None
    request_id: str | None = None


# Built once (SQLAlchemy then reuses its compiled form): the statement every booking runs.
_CLAIM = (
    update(SlotRow)
    .where(
        SlotRow.id == bindparam("b_slot"),
        SlotRow.status == "free",
        SlotRow.start == bindparam("b_start"),
        SlotRow.end == bindparam("b_end"),
    )
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


async def insert(
    session: AsyncSession,
    *,
    appointment_id: str,
    slot_id: str,
    start: datetime,
    nhs_number: str | None,
    resource: dict[str, Any],
    who: Provenance,
    at: datetime,
) -> None:
    """The Appointment and its first version. Core inserts: the ORM's unit of work cost more
    than the statements on the booking path."""
    body = orjson.dumps(resource).decode()
    await session.execute(
        _INSERT_APPOINTMENT,
        {
            "id": appointment_id,
            "slot_id": slot_id,
            "status": resource["status"],
            "version_id": 1,
            "nhs_number": nhs_number,
            "start": start,
            "request_id": who.request_id,
            "consumer_asid": who.asid,
            "consumer_client": who.client_id,
            "trace_id": who.trace_id,
            "created_at": at,
            "updated_at": at,
            "body": body,
        },
    )
    await session.execute(
        _INSERT_VERSION,
        {"appointment_id": appointment_id, "version_id": 1, "recorded_at": at, "body": body},
    )


async def get(session: AsyncSession, appointment_id: str) -> AppointmentRow | None:
    return await session.get(AppointmentRow, appointment_id)


async def by_request_id(session: AsyncSession, request_id: str) -> AppointmentRow | None:
    return await session.scalar(
        select(AppointmentRow).where(AppointmentRow.request_id == request_id)
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


async def search(
    session: AsyncSession,
    *,
    nhs_numbers: list[str],
    start_ge: datetime | None,
    start_le: datetime | None,
    statuses: list[str],
    limit: int,
) -> list[AppointmentRow]:
    query = select(AppointmentRow)
    if nhs_numbers:
        query = query.where(AppointmentRow.nhs_number.in_(nhs_numbers))
    if statuses:
        query = query.where(AppointmentRow.status.in_(statuses))
    if start_ge is not None:
        query = query.where(AppointmentRow.start >= start_ge)
    if start_le is not None:
        query = query.where(AppointmentRow.start <= start_le)
    query = query.order_by(AppointmentRow.start, AppointmentRow.id).limit(limit)
    return list((await session.scalars(query)).all())


async def search_page(
    session: AsyncSession,
    *,
    nhs_numbers: list[str],
    start_ge: datetime | None,
    start_le: datetime | None,
    statuses: list[str],
    cursor: Cursor | None,
    size: int,
) -> Page[AppointmentRow]:
    """One page of the patient's appointments by (start, id), with the number of all."""
    query = select(AppointmentRow)
    if nhs_numbers:
        query = query.where(AppointmentRow.nhs_number.in_(nhs_numbers))
    if statuses:
        query = query.where(AppointmentRow.status.in_(statuses))
    if start_ge is not None:
        query = query.where(AppointmentRow.start >= start_ge)
    if start_le is not None:
        query = query.where(AppointmentRow.start <= start_le)
    return await paging.keyset_page(
        session,
        query,
        AppointmentRow.start,
        AppointmentRow.id,
        cursor=cursor,
        size=size,
        scalars=True,
    )

"""Slot queries. Every filter lands on an index, so a search costs the same with 10k or 1M
slots stored."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Row, Select, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from uec_booking.provider.paging import Cursor, Page
from uec_booking.provider.store import epochs, paging
from uec_booking.provider.store.models import SlotRow


def slot_query(
    *,
    statuses: Sequence[str] = (),
    start_ge: datetime | None = None,
    start_gt: datetime | None = None,
    start_le: datetime | None = None,
    start_lt: datetime | None = None,
    service_ids: Sequence[str] = (),
    schedule_ids: Sequence[str] = (),
    slot_ids: Sequence[str] = (),
    hidden_schedule_ids: Collection[str] = (),
) -> Select[Any]:
    """Slots as plain rows, by every filter given (the store's one slot query)."""
    hidden = sorted(hidden_schedule_ids)
    return paging.where_given(
        select(*SlotRow.__table__.columns),
        SlotRow.status.in_(statuses) if statuses else None,
        SlotRow.healthcare_service_id.in_(service_ids) if service_ids else None,
        SlotRow.schedule_id.in_(schedule_ids) if schedule_ids else None,
        SlotRow.id.in_(slot_ids) if slot_ids else None,
        SlotRow.schedule_id.not_in(hidden) if hidden else None,
        SlotRow.start >= start_ge if start_ge is not None else None,
        SlotRow.start > start_gt if start_gt is not None else None,
        SlotRow.start <= start_le if start_le is not None else None,
        SlotRow.start < start_lt if start_lt is not None else None,
    )


async def search(session: AsyncSession, *, limit: int, **criteria: Any) -> list[Row[Any]]:
    """Matching slots as plain rows (no ORM instances: a search reads ~100 of them)."""
    query = slot_query(**criteria).order_by(SlotRow.start, SlotRow.id).limit(limit)
    return list((await session.execute(query)).all())


async def search_page(
    session: AsyncSession, *, cursor: Cursor | None, size: int, **criteria: Any
) -> Page[Row[Any]]:
    """One page of matching slots by (start, id), with the number of all matches."""
    query = slot_query(**criteria)
    return await paging.keyset_page(
        session, query, SlotRow.start, SlotRow.id, cursor=cursor, size=size
    )


async def get(session: AsyncSession, slot_id: str) -> SlotRow | None:
    return await session.get(SlotRow, slot_id)


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(SlotRow)) or 0)


async def insert_missing(session: AsyncSession, slots: list[dict[str, Any]]) -> int:
    """Insert slots whose id is new; existing slots (maybe booked) are left alone."""
    if not slots:
        return 0
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        {
            "id": s["id"],
            "schedule_id": s["schedule_id"],
            "healthcare_service_id": s["healthcare_service_id"],
            "start": s["start"],
            "end": s["end"],
            "status": s.get("status", "free"),
            "version_id": 1,
            "updated_at": now,
            "extra": orjson.dumps(s["extra"]).decode() if s.get("extra") else None,
        }
        for s in slots
    ]
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    inserted = 0
    for i in range(0, len(rows), 2000):
        stmt = insert(SlotRow).values(rows[i : i + 2000]).on_conflict_do_nothing()
        result = await session.execute(stmt)
        inserted += max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
    if inserted:
        epochs.touch(session, (epochs.slots_of(r["healthcare_service_id"]) for r in rows))
    return inserted

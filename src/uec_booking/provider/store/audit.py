"""The audit trail: every booking and cancellation attempt, with who asked and how it ended."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from uec_booking.provider.store.appointments import Provenance, now_utc
from uec_booking.provider.store.models import AuditEvent, table_of

_INSERT = insert(table_of(AuditEvent))


async def record(
    session: AsyncSession,
    *,
    interaction: str,
    status_code: int,
    who: Provenance,
    resource_id: str | None = None,
    detail: str | None = None,
) -> None:
    # A Core insert: the ORM's unit of work costs more than the statement (one per booking).
    await session.execute(
        _INSERT,
        {
            "recorded_at": now_utc(),
            "interaction": interaction,
            "outcome": "success" if status_code < 400 else "failure",
            "status_code": status_code,
            "client_id": who.client_id,
            "asid": who.asid,
            "ods": who.ods,
            "trace_id": who.trace_id,
            "request_id": who.request_id,
            "resource_id": resource_id,
            "detail": detail[:2000] if detail else None,
        },
    )


async def events(
    session: AsyncSession, *, since: datetime | None = None, limit: int = 1000
) -> list[AuditEvent]:
    query = select(AuditEvent)
    if since is not None:
        query = query.where(AuditEvent.recorded_at >= since)
    query = query.order_by(AuditEvent.id).limit(limit)
    return list((await session.scalars(query)).all())


async def success(
    session: AsyncSession,
    interaction: str,
    status_code: int,
    who: Provenance,
    resource_id: str,
    detail: str,
) -> None:
    """A write that succeeded, audited in its own transaction."""
    await record(
        session,
        interaction=interaction,
        status_code=status_code,
        who=who,
        resource_id=resource_id,
        detail=detail,
    )

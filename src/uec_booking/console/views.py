"""The provider's diary and the reporting page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from uec_booking.consumer.journal import Journal
from uec_booking.reporting import Metric, consumer_metrics, provider_metrics, window_text

Page = Callable[..., Response]


async def _service_names(session: Any) -> dict[str, str]:
    """Each HealthcareService's id and name, in id order."""
    from uec_booking.provider.store.models import DirectoryResource

    rows = await session.scalars(
        select(DirectoryResource)
        .where(DirectoryResource.resource_type == "HealthcareService")
        .order_by(DirectoryResource.id)
    )
    return {r.id: orjson.loads(r.body).get("name", r.id) for r in rows.all()}


def _day(request: Request) -> date:
    try:
        return date.fromisoformat(request.query_params.get("day", ""))
    except ValueError:
        return datetime.now(UTC).date()


async def provider_view(request: Request, page: Page, db_url: str | None) -> Response:
    """A day of each HealthcareService's schedule: free, booked and cancelled, with who booked."""
    if not db_url:
        return page(
            request,
            "message.html",
            404,
            title="No provider store",
            message="This console was started without --db.",
        )
    from uec_booking.provider.store import Store
    from uec_booking.provider.store.models import (
        AppointmentRow,
        AuditEvent,
        SlotRow,
    )

    day = _day(request)
    if request.query_params.get("view") == "week":
        return await _week(request, page, db_url, day)
    lo = datetime.combine(day, datetime.min.time())
    store = Store(db_url)
    try:
        async with store.read() as session:
            names = await _service_names(session)
            slots = (
                await session.execute(
                    select(
                        SlotRow.id,
                        SlotRow.healthcare_service_id,
                        SlotRow.start,
                        SlotRow.end,
                        SlotRow.status,
                        SlotRow.schedule_id,
                    )
                    .where(SlotRow.start >= lo, SlotRow.start < lo + timedelta(days=1))
                    .order_by(SlotRow.start)
                )
            ).all()
            appointments = (
                await session.scalars(
                    select(AppointmentRow).where(
                        AppointmentRow.start >= lo, AppointmentRow.start < lo + timedelta(days=1)
                    )
                )
            ).all()
            trail = (
                await session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(100))
            ).all()
    finally:
        await store.dispose()
    by_slot: dict[str, list[Any]] = {}
    for a in appointments:
        by_slot.setdefault(a.slot_id, []).append(a)
    return page(
        request,
        "provider.html",
        day=day,
        services=names,
        slots=slots,
        by_slot=by_slot,
        trail=trail,
        prev=day - timedelta(days=1),
        next=day + timedelta(days=1),
    )


async def reports_view(
    request: Request, page: Page, journal: Journal | None, db_url: str | None
) -> Response:
    """The standard's metrics over a chosen range, both sides, with a chart."""
    start_day = _day(request) if "day" in request.query_params else datetime.now(UTC).date()
    try:
        days = max(1, min(366, int(request.query_params.get("days", "1"))))
    except ValueError:
        days = 1
    start = datetime.combine(start_day, datetime.min.time(), UTC)
    end = start + timedelta(days=days)
    consumer: list[Metric] = consumer_metrics(journal.events(start, end)) if journal else []
    provider: list[Metric] = []
    if db_url:
        from uec_booking.provider.report import counts
        from uec_booking.provider.store import Store

        store = Store(db_url)
        try:
            provider = provider_metrics(await counts(store, start, end))
        finally:
            await store.dispose()
    bars = [
        (m.id, next(iter(m.figures.values())))
        for m in consumer
        if m.figures and isinstance(next(iter(m.figures.values())), int)
    ]
    top = max([v for _, v in bars] + [1])
    return page(
        request,
        "reports.html",
        window=window_text(start, end),
        consumer=consumer,
        provider=provider,
        bars=bars,
        top=top,
        day=start_day,
        days=days,
    )


async def _week(request: Request, page: Page, db_url: str, first: date) -> Response:
    """Seven days of each HealthcareService: slots free, booked and cancelled per day."""
    from sqlalchemy import func

    from uec_booking.provider.store import Store
    from uec_booking.provider.store.models import AppointmentRow, SlotRow

    lo = datetime.combine(first, datetime.min.time())
    hi = lo + timedelta(days=7)
    store = Store(db_url)
    try:
        async with store.read() as session:
            names = await _service_names(session)
            slot_counts = (
                await session.execute(
                    select(
                        SlotRow.healthcare_service_id,
                        func.date(SlotRow.start),
                        SlotRow.status,
                        func.count(),
                    )
                    .where(SlotRow.start >= lo, SlotRow.start < hi)
                    .group_by(
                        SlotRow.healthcare_service_id, func.date(SlotRow.start), SlotRow.status
                    )
                )
            ).all()
            cancelled = (
                await session.execute(
                    select(
                        SlotRow.healthcare_service_id, func.date(AppointmentRow.start), func.count()
                    )
                    .join(SlotRow, SlotRow.id == AppointmentRow.slot_id)
                    .where(
                        AppointmentRow.status == "cancelled",
                        AppointmentRow.start >= lo,
                        AppointmentRow.start < hi,
                    )
                    .group_by(SlotRow.healthcare_service_id, func.date(AppointmentRow.start))
                )
            ).all()
    finally:
        await store.dispose()
    days = [first + timedelta(days=i) for i in range(7)]
    grid: dict[tuple[str, str], dict[str, int]] = {}
    for service_id, when, status, n in slot_counts:
        grid.setdefault((service_id, str(when)), {})[status] = n
    for service_id, when, n in cancelled:
        grid.setdefault((service_id, str(when)), {})["cancelled"] = n
    return page(
        request,
        "week.html",
        days=days,
        services=names,
        grid=grid,
        prev=first - timedelta(days=7),
        next=first + timedelta(days=7),
    )

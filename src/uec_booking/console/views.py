"""The provider's diary (provider staff) and the reports (both roles)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from uec_booking.console.pages import LONDON, message, page
from uec_booking.console.security import CALL_HANDLER, PROVIDER_STAFF, Refused, User, requires
from uec_booking.provider.diary import Diary, uk_day_bounds
from uec_booking.reporting import Metric, consumer_metrics, provider_metrics, window_text

EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)  # beyond these, no diary has slots
MAX_REPORT_DAYS = 366


def _day(request: Request, name: str = "day") -> date:
    """The `day` asked for (UK today when absent); a bad or far-off date is refused."""
    value = request.query_params.get(name, "")
    if not value:
        return datetime.now(LONDON).date()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Refused(
            400,
            "That is not a date",
            f"“{value[:40]}” is not a date. Use the form YYYY-MM-DD, like 2026-12-02.",
        ) from None
    if not EARLIEST <= day <= LATEST:
        raise Refused(
            400,
            "That date is out of range",
            f"Choose a date between {EARLIEST:%Y} and {LATEST:%Y}.",
        )
    return day


def _diary(request: Request) -> Diary | None:
    diary: Diary | None = request.app.state.diary
    return diary


@requires(PROVIDER_STAFF)
async def provider_diary(request: Request, user: User) -> Response:
    """A UK day of each HealthcareService: free, booked and blocked slots, who is booked."""
    diary = _diary(request)
    if diary is None:
        return message(
            request,
            404,
            "No provider store",
            "This console was started without the provider's store (--db).",
        )
    day = _day(request)
    if request.query_params.get("view") == "week":
        services, grid = await diary.week(day)
        return page(
            request,
            "week.html",
            days=[day + timedelta(days=i) for i in range(7)],
            services=services,
            grid=grid,
            prev=day - timedelta(days=7),
            next=day + timedelta(days=7),
        )
    return page(
        request,
        "provider.html",
        diary=await diary.day(day),
        day=day,
        prev=day - timedelta(days=1),
        next=day + timedelta(days=1),
    )


@requires(CALL_HANDLER, PROVIDER_STAFF)
async def reports(request: Request, user: User) -> Response:
    """The standard's metrics over UK days, both sides, with a chart."""
    start_day = _day(request)
    raw_days = request.query_params.get("days", "1")
    try:
        days = int(raw_days)
    except ValueError:
        raise Refused(
            400,
            "That is not a number of days",
            f"Enter a number of days from 1 to {MAX_REPORT_DAYS}.",
        ) from None
    if not 1 <= days <= MAX_REPORT_DAYS:
        raise Refused(
            400,
            "That is not a number of days",
            f"Enter a number of days from 1 to {MAX_REPORT_DAYS}.",
        )
    lo, hi = uk_day_bounds(start_day, days)
    start, end = lo.replace(tzinfo=UTC), hi.replace(tzinfo=UTC)
    journal = request.app.state.recorder.journal
    events = await run_in_threadpool(journal.events, start, end) if journal else []
    consumer: list[Metric] = consumer_metrics(events) if journal else []
    diary = _diary(request)
    provider: list[Metric] = provider_metrics(await diary.counts(start, end)) if diary else []
    # Each bar is labelled with the metric and the figure it draws (its first count).
    bars = [
        (f"{m.id} {name}", value)
        for m in consumer
        for name, value in list(m.figures.items())[:1]
        if isinstance(value, int)
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

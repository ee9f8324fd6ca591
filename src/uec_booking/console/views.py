"""The provider's diary (provider staff) and the reports (both roles).

Staff block and free slots from the diary through the provider's own slot management
(`provider.admin.set_blocked`, the one the `provider-slots` CLI uses), on the diary's store:
the diary already reads that store in-process, so its writes take the same road rather than
the admin API, which would need a provider-admin token and a client certificate for the
console and would audit the change as that client instead of the person signed in.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from uec_booking.console.pages import LONDON, page
from uec_booking.console.security import CALL_HANDLER, PROVIDER_STAFF, Refused, User, requires
from uec_booking.fhir.errors import FhirError
from uec_booking.provider.admin import set_blocked
from uec_booking.provider.diary import Diary, uk_day_bounds
from uec_booking.provider.store.appointments import Provenance
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


def _staff_diary(request: Request) -> Diary:
    """The diary, which staff pages cannot do without."""
    if _diary(request) is None:
        raise Refused(404, "No provider store", "This console was started without --db.")
    diary: Diary = request.app.state.diary
    return diary


@requires(PROVIDER_STAFF)
async def provider_diary(request: Request, user: User) -> Response:
    """A UK day of each HealthcareService: free, booked and blocked slots, who is booked."""
    diary = _staff_diary(request)
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


@requires(PROVIDER_STAFF)
async def change_slot(request: Request, user: User) -> Response:
    """Block a free slot (a reason required) or free a blocked one, then back to the day.
    Audited with the person signed in; the next slot search no longer offers a blocked slot."""
    diary = _staff_diary(request)
    day = _day(request)
    form = await request.form()
    slot_id, action = str(form.get("slot_id") or ""), str(form.get("action") or "")
    reason = str(form.get("reason") or "").strip()[:500]
    if action not in ("block", "unblock") or not slot_id:
        raise Refused(400, "That change cannot be made", "Choose Block or Unblock on a slot.")
    if action == "block" and not reason:
        raise Refused(
            400,
            "Give a reason for blocking the slot",
            "Say why the slot is blocked (for example, clinician off sick), then press Block.",
        )
    who = Provenance(client_id=f"console:{user.name} [{user.sub}]"[:128])
    try:
        report = await set_blocked(
            diary.store, blocked=action == "block", reason=reason, who=who, slot_ids=[slot_id]
        )
    except FhirError as error:
        raise Refused(error.status, "That slot cannot be changed", error.diagnostics) from None
    if report.skipped:
        raise Refused(
            409,
            "That slot is booked",
            "A booked slot cannot be blocked: cancel its appointment first.",
        )
    return RedirectResponse(f"/provider?day={day.isoformat()}#slot-{slot_id}", 303)


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

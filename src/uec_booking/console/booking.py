"""The call handler's pages: patient → services → slots → book, cancel, rebook.

Each handler is a thin step over the consumer workflow's own steps (`BookingWorkflow`):
PDS, DoS, SDS and the provider are called exactly as `run` calls them, and their events go
to the journal through the one `Recorder`. What a step learns is kept in the journey on the
server; forms carry only the journey id and the choice made.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from uec_booking.console.forms import SYMPTOM_GROUPS, read_start_form
from uec_booking.console.journeys import Journey, JourneyNotFound
from uec_booking.console.pages import LONDON, message, page
from uec_booking.console.plain import Service, outage, plain_error
from uec_booking.console.security import CALL_HANDLER, Refused, User, requires
from uec_booking.consumer import events, workflow
from uec_booking.consumer.dispositions import TIMEFRAMES, label, timeframe
from uec_booking.consumer.errors import (
    ConsumerError,
    DemographicsMismatch,
    DosError,
    DosNoServices,
    InvalidNhsNumber,
    PatientNotFound,
    SlotTaken,
)
from uec_booking.consumer.models import FreeSlot
from uec_booking.consumer.request import age_on, case_for
from uec_booking.consumer.workflow import BookingWorkflow

SLOT_WINDOW = timedelta(days=3)


def _workflow(request: Request) -> BookingWorkflow:
    workflow: BookingWorkflow = request.app.state.workflow
    return workflow


def _journey(request: Request, user: User, journey_id: str) -> Journey:
    try:
        return request.app.state.journeys.get(journey_id, user.sub)  # type: ignore[no-any-return]
    except JourneyNotFound:
        raise Refused(
            404,
            "This booking has expired",
            "The console no longer holds this call's details (it was too long ago, or the console restarted). Start again.",
        ) from None


def _failed(request: Request, service: Service, exc: Exception, back: tuple[str, str]) -> Response:
    title, text = outage(service, exc)
    return message(request, 502, title, text, detail=str(exc), back=back)


def _start_page(
    request: Request, form: dict[str, str], errors: dict[str, str], status: int, **extra: Any
) -> Response:
    return page(
        request,
        "start.html",
        status,
        form=form,
        errors=errors,
        dispositions=[(d, label(d)) for d in sorted(TIMEFRAMES)],
        symptom_groups=SYMPTOM_GROUPS,
        **extra,
    )


@requires(CALL_HANDLER)
async def start(request: Request, user: User) -> Response:
    return _start_page(request, {}, {}, 200)


@requires(CALL_HANDLER)
async def services(request: Request, user: User) -> Response:
    form, errors, booking = read_start_form(await request.form())
    if booking is None:
        return _start_page(request, form, errors, 400)
    location, home = form["location_postcode"], booking.postcode
    wf = _workflow(request)
    try:
        patient = await wf.verify_patient(booking)
    except (InvalidNhsNumber, PatientNotFound) as exc:
        return _start_page(request, form, {"nhs_number": plain_error(exc)}, 400, detail=str(exc))
    except DemographicsMismatch as exc:
        field = "postcode" if home else "family" if form["family"] else "birth_date"
        return _start_page(request, form, {field: plain_error(exc)}, 400, detail=str(exc))
    except ConsumerError as exc:
        title, text = outage(Service.PDS, exc)
        return _start_page(request, form, {}, 502, outage_title=title, outage=text, detail=str(exc))
    journey: Journey = request.app.state.journeys.start(
        owner=user.sub,
        trace_id=str(uuid.uuid4()),
        patient=patient,
        location_postcode=location,
        disposition=booking.disposition,
        symptom_group=booking.symptom_group,
    )
    happened: list[events.WorkflowEvent] = []
    case = case_for(booking, patient)
    try:
        found = await wf.find_services(case, happened.append)
    except DosNoServices:
        found = []  # DoS 102, "No services found": an answer for this case, not an outage
    except DosError as exc:
        if exc.code == 101:  # DoS v1.5: "Postcode Validation: Postcode not found"
            errors = {
                "location_postcode": f"The Directory of Services does not know {location}: check the postcode with the caller"
            }
            return _start_page(request, form, errors, 400, detail=str(exc))
        title, text = outage(Service.DOS, exc)
        return _start_page(request, form, {}, 502, outage_title=title, outage=text, detail=str(exc))
    except ConsumerError as exc:
        title, text = outage(Service.DOS, exc)
        return _start_page(request, form, {}, 502, outage_title=title, outage=text, detail=str(exc))
    for service in found:
        step = Service.DOS
        try:
            route = await wf.booking_route(service, happened.append)
        except ConsumerError as exc:
            # The service details come from DoS, the endpoint from SDS: name the one that failed.
            step = (
                Service.SDS
                if any(
                    isinstance(e, events.ServiceDetails) and e.service_id == service.id
                    for e in happened
                )
                else step
            )
            title, text = outage(step, exc)
            return _start_page(
                request, form, {}, 502, outage_title=title, outage=text, detail=str(exc)
            )
        journey.routes[service.id] = route
    await request.app.state.recorder.workflow_events(journey, happened, None)
    first = next(iter(journey.routes.values()), None)
    journey.top_service = first.service.id if first and first.bookable else None
    return page(
        request,
        "services.html",
        journey=journey,
        patient=patient,
        age=age_on(patient.birth_date, datetime.now(UTC).date()),
        disposition=label(journey.disposition),
    )


def _slots_url(journey: Journey, **params: str) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return f"/journeys/{journey.id}/slots" + (f"?{query}" if query else "")


async def _search(request: Request, journey: Journey) -> list[FreeSlot]:
    """Free slots at the journey's service now (a fresh search each time: slots go)."""
    route = journey.route
    assert route is not None
    wf = _workflow(request)
    now = datetime.now(UTC)
    happened: list[events.WorkflowEvent] = []
    free = await wf.free_slots(
        route,
        disposition=journey.disposition,
        trace_id=journey.trace_id,
        start=now,
        end=now + SLOT_WINDOW,
        on_event=happened.append,
    )
    journey.slots = {s.id: s for s in free}
    await request.app.state.recorder.workflow_events(journey, happened, route.service.id)
    return free


async def _token(request: Request, journey: Journey) -> None:
    """A token for the provider first, so an auth failure is named as the auth service's."""
    route = journey.route
    assert route is not None and route.endpoint is not None
    await _workflow(request).provider.tokens.token(audience=route.endpoint)


@requires(CALL_HANDLER)
async def choose_service(request: Request, user: User) -> Response:
    form = await request.form()
    journey = _journey(request, user, str(form.get("journey") or ""))
    service_id = str(form.get("service_id") or "")
    route = journey.routes.get(service_id)
    if route is None or not route.bookable:
        raise Refused(
            400,
            "Choose a service from the list",
            "That service was not offered for this call. Go back and choose one of the services listed.",
        )
    if journey.top_service and service_id != journey.top_service:
        await request.app.state.recorder.record(
            journey, "top_service_rejected", service_id=journey.top_service
        )
    journey.service_id, journey.replaces = service_id, None
    return RedirectResponse(_slots_url(journey), 303)


def _slot_page(
    request: Request, journey: Journey, free: list[FreeSlot], status: int = 200, **extra: Any
) -> Response:
    now = datetime.now(UTC)
    limit = now + timeframe(journey.disposition)
    days = sorted({s.start.astimezone(LONDON).date() for s in free})
    try:
        day = date.fromisoformat(request.query_params.get("day", ""))
    except ValueError:
        day = days[0] if days else now.date()
    if days and day not in days:
        day = days[0]
    practitioners = sorted({s.practitioner for s in free if s.practitioner})
    chosen_practitioner = request.query_params.get("practitioner", "")
    shown = [
        s
        for s in free
        if s.start.astimezone(LONDON).date() == day
        and (not chosen_practitioner or s.practitioner == chosen_practitioner)
    ]
    route = journey.route
    assert route is not None
    earlier = request.app.state.journeys.bookings.get(
        (journey.patient.nhs_number, route.service.id), []
    )
    return page(
        request,
        "slots.html",
        status,
        journey=journey,
        route=route,
        days=[
            (d, _slots_url(journey, day=d.isoformat(), practitioner=chosen_practitioner))
            for d in days
        ],
        day=day,
        shown=shown,
        count=len(free),
        limit=limit,
        timeframe=label(journey.disposition),
        practitioners=practitioners,
        practitioner=chosen_practitioner,
        earlier=[a for a in earlier if a != journey.replaces],
        **extra,
    )


@requires(CALL_HANDLER)
async def slots(request: Request, user: User) -> Response:
    journey = _journey(request, user, request.path_params["journey"])
    if journey.route is None:
        return RedirectResponse("/", 303)
    try:
        await _token(request, journey)
    except ConsumerError as exc:
        return _failed(request, Service.AUTH, exc, ("/", "Start again"))
    try:
        free = await _search(request, journey)
    except ConsumerError as exc:
        return _failed(request, Service.PROVIDER, exc, (_slots_url(journey), "Try again"))
    return _slot_page(request, journey, free)


@requires(CALL_HANDLER)
async def book(request: Request, user: User) -> Response:
    form = await request.form()
    journey = _journey(request, user, str(form.get("journey") or ""))
    route = journey.route
    if route is None:
        return RedirectResponse("/", 303)
    slot = journey.slots.get(str(form.get("slot_id") or ""))
    if slot is None:
        # No choice, or a slot this journey was never offered: the times are never taken
        # from the form, so a tampered field cannot book anything else.
        free = list(journey.slots.values())
        return _slot_page(request, journey, free, 400, error="Choose a slot to book")
    happened: list[events.WorkflowEvent] = []
    try:
        booked = await _workflow(request).book_slot(
            route,
            slot,
            journey.patient,
            trace_id=journey.trace_id,
            description="Booked from the UEC booking console",
            on_event=happened.append,
        )
    except SlotTaken:
        await request.app.state.recorder.workflow_events(journey, happened, route.service.id)
        try:
            free = await _search(request, journey)
        except ConsumerError as exc:
            return _failed(request, Service.PROVIDER, exc, (_slots_url(journey), "Try again"))
        return _slot_page(request, journey, free, 409, taken=True)
    except ConsumerError as exc:
        await request.app.state.recorder.workflow_events(journey, happened, route.service.id)
        return _failed(request, Service.PROVIDER, exc, (_slots_url(journey), "Try another slot"))
    await request.app.state.recorder.workflow_events(journey, happened, route.service.id)
    journey.booked[booked.id] = (route.service.id, booked)
    request.app.state.journeys.bookings.setdefault(
        (journey.patient.nhs_number, route.service.id), []
    ).append(booked.id)
    replaced = None
    if journey.replaces:
        # Rebooking: the new appointment exists before the old one is cancelled.
        old = journey.replaces
        if (failed := await _cancel_at_provider(request, journey, route, old)) is not None:
            return failed
        await request.app.state.recorder.record(
            journey, "rebooked", appointment_id=booked.id, detail=f"replaces {old}"
        )
        _forget(request, journey, old)
        replaced, journey.replaces = old, None
    return page(
        request,
        "booked.html",
        journey=journey,
        route=route,
        slot=slot,
        appointment=booked,
        replaced=replaced,
    )


def _forget(request: Request, journey: Journey, appointment_id: str) -> None:
    journey.booked.pop(appointment_id, None)
    for ids in request.app.state.journeys.bookings.values():
        if appointment_id in ids:
            ids.remove(appointment_id)


async def _cancel_at_provider(
    request: Request, journey: Journey, route: workflow.BookingRoute, appointment_id: str
) -> Response | None:
    """Cancel at the provider; the error page when it could not be done, else None."""
    try:
        await _workflow(request).provider.cancel(
            endpoint=route.endpoint or "",
            to_asid=route.asid or "",
            appointment_id=appointment_id,
            trace_id=journey.trace_id,
        )
    except ConsumerError as exc:
        return _failed(request, Service.PROVIDER, exc, ("/", "Start again"))
    return None


def _booked(journey: Journey, form: Any) -> str:
    appointment_id = str(form.get("appointment_id") or "")
    if appointment_id not in journey.booked:
        raise Refused(
            400,
            "No such appointment in this call",
            "That appointment was not booked in this call. Start again to find it.",
        )
    return appointment_id


@requires(CALL_HANDLER)
async def cancel(request: Request, user: User) -> Response:
    """Asks first: cancelling frees the slot for someone else at once."""
    form = await request.form()
    journey = _journey(request, user, str(form.get("journey") or ""))
    appointment_id = _booked(journey, form)
    service_id, appointment = journey.booked[appointment_id]
    route = journey.routes[service_id]
    if form.get("confirm") != "yes":
        return page(request, "cancel.html", journey=journey, appointment=appointment, route=route)
    if (failed := await _cancel_at_provider(request, journey, route, appointment_id)) is not None:
        return failed
    await request.app.state.recorder.record(journey, "cancelled", appointment_id=appointment_id)
    _forget(request, journey, appointment_id)
    return message(
        request,
        200,
        "Appointment cancelled",
        f"The appointment for {' '.join(journey.patient.given)} {journey.patient.family} at {route.service.name} is cancelled and its time is free again. Tell the patient.",
        error=False,
    )


@requires(CALL_HANDLER)
async def rebook(request: Request, user: User) -> Response:
    form = await request.form()
    journey = _journey(request, user, str(form.get("journey") or ""))
    appointment_id = _booked(journey, form)
    journey.service_id, journey.replaces = journey.booked[appointment_id][0], appointment_id
    try:
        free = await _search(request, journey)
    except ConsumerError as exc:
        return _failed(request, Service.PROVIDER, exc, ("/", "Start again"))
    return _slot_page(request, journey, free, rebooking=True)

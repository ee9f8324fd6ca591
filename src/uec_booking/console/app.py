"""The console's ASGI app. Pages are server-rendered (Jinja2) and work without JavaScript;
each step's state travels in the form, so any console process can serve the next step."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from itertools import groupby
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from uec_booking.console.plain import plain_error
from uec_booking.consumer.cli import build_workflow
from uec_booking.consumer.config import ConsumerConfig
from uec_booking.consumer.dispositions import TIMEFRAMES
from uec_booking.consumer.errors import (
    ConsumerError,
    DemographicsMismatch,
    InvalidNhsNumber,
    PatientNotFound,
    SlotTaken,
)
from uec_booking.consumer.journal import Journal, slots_in_time
from uec_booking.consumer.models import FreeSlot
from uec_booking.fhir.interactions import Interaction

HERE = Path(str(resources.files("uec_booking.console")))
LONDON = ZoneInfo("Europe/London")  # call handlers work in UK time


@dataclass
class Console:
    config: ConsumerConfig
    journal: Journal | None
    provider_db: str | None

    def __post_init__(self) -> None:
        self.workflow = build_workflow(self.config)


def _form_state(form: Any) -> dict[str, str]:
    keys = (
        "nhs_number",
        "postcode",
        "family",
        "birth_date",
        "disposition",
        "symptom_group",
        "trace_id",
        "service_id",
        "service_name",
        "asid",
        "endpoint",
        "top_bookable",
        "replaces",
    )
    return {k: str(form.get(k) or "") for k in keys}


async def _verify(wf: Any, state: dict[str, str]) -> Any:
    """PDS confirms the NHS number, and whatever else the caller gave."""
    return await wf.pds.verify(
        nhs_number=state["nhs_number"],
        postcode=state["postcode"] or None,
        family=state["family"] or None,
        birth_date=state["birth_date"] or None,
    )


def create_app(console: Console) -> Starlette:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["combine_state"] = lambda state, **changes: {**state, **changes}
    templates.env.filters["local"] = lambda moment, fmt="%H:%M": moment.astimezone(LONDON).strftime(
        fmt
    )
    wf = console.workflow

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("dispositions", sorted(TIMEFRAMES))
        return templates.TemplateResponse(request, name, context, status_code=status)

    def failure(request: Request, title: str, exc: Exception) -> HTMLResponse:
        """A national service failed: a sentence for the call handler, the detail one click away."""
        return page(
            request, "message.html", 502, title=title, message=plain_error(exc), detail=str(exc)
        )

    def record(state: dict[str, str], kind: str, **fields: Any) -> None:
        if console.journal is not None:
            console.journal.record(
                state["trace_id"], kind, disposition=state.get("disposition") or None, **fields
            )

    async def start(request: Request) -> HTMLResponse:
        return page(request, "start.html", form={}, errors={})

    async def services(request: Request) -> HTMLResponse:
        form = await request.form()
        state = _form_state(form)
        state["trace_id"] = state["trace_id"] or str(uuid.uuid4())
        errors: dict[str, str] = {}
        if not state["nhs_number"].replace(" ", "").isdigit():
            errors["nhs_number"] = "Enter the patient's 10-digit NHS number"
        if not state["postcode"].strip():
            errors["postcode"] = "Enter the postcode where the patient is"
        if errors:
            return page(request, "start.html", 400, form=state, errors=errors)
        try:
            patient = await _verify(wf, state)
        except (InvalidNhsNumber, PatientNotFound) as exc:
            return page(
                request,
                "start.html",
                400,
                form=state,
                errors={"nhs_number": plain_error(exc)},
                detail=str(exc),
            )
        except DemographicsMismatch as exc:
            return page(
                request,
                "start.html",
                400,
                form=state,
                errors={"postcode": plain_error(exc)},
                detail=str(exc),
            )
        except ConsumerError as exc:
            return failure(request, "Cannot check the patient", exc)
        from uec_booking.consumer.workflow import BookingRequest, age_on, case_for

        req = BookingRequest(
            nhs_number=patient.nhs_number,
            postcode=state["postcode"],
            disposition=state["disposition"] or "Dx05",
            symptom_group=int(state["symptom_group"] or 1010),
        )
        try:
            found = await wf.dos.check_capacity_summary(case_for(req, patient))
            rows: list[dict[str, Any]] = []
            for service in found:
                details = await wf.dos.service_details_by_id(service.id)
                row: dict[str, Any] = {
                    "service": service,
                    "asids": details.booking_asids,
                    "endpoint": None,
                }
                if len(details.booking_asids) == 1:
                    try:  # resolved now, so a service SDS cannot route to shows as referral-only
                        row["endpoint"] = await wf.sds.endpoint_for(
                            details.booking_asids[0], Interaction.CREATE_APPOINTMENT
                        )
                    except ConsumerError as exc:
                        row["asids"], row["why"] = [], plain_error(exc)
                rows.append(row)
        except ConsumerError as exc:
            return failure(request, "Cannot find services", exc)
        record(state, "searched", detail=f"{len(found)} services")
        top_bookable = bool(rows and len(rows[0]["asids"]) == 1)
        return page(
            request,
            "services.html",
            patient=patient,
            age=age_on(patient.birth_date, datetime.now(UTC).date()),
            rows=rows,
            state={
                **state,
                "top_bookable": "1" if top_bookable else "",
                "disposition": req.disposition,
            },
        )

    async def _slots(state: dict[str, str]) -> list[FreeSlot]:
        now = datetime.now(UTC)
        return await wf.provider.search_free_slots(
            endpoint=state["endpoint"],
            to_asid=state["asid"],
            healthcare_service_id=state["service_id"],
            start=now,
            end=now + timedelta(days=3),
            trace_id=state["trace_id"],
        )

    def _slot_page(
        request: Request,
        state: dict[str, str],
        free: list[FreeSlot],
        status: int = 200,
        **extra: Any,
    ) -> HTMLResponse:
        days = [
            (day, list(items))
            for day, items in groupby(free, key=lambda s: s.start.astimezone(LONDON).date())
        ]
        return page(request, "slots.html", status, state=state, days=days, count=len(free), **extra)

    async def slots(request: Request) -> HTMLResponse:
        state = _form_state(await request.form())
        try:
            if not state["endpoint"]:
                state["endpoint"] = await wf.sds.endpoint_for(
                    state["asid"], Interaction.CREATE_APPOINTMENT
                )
            free = await _slots(state)
        except ConsumerError as exc:
            return failure(request, "Cannot show slots", exc)
        if state["top_bookable"] and request.query_params.get("rank", "1") != "1":
            record(state, "top_service_rejected", service_id=state["service_id"])
        in_time = slots_in_time(
            [s.start for s in free], state["disposition"] or "Dx05", datetime.now(UTC)
        )
        record(
            state,
            "slots_shown",
            service_id=state["service_id"],
            slots=len(free),
            slots_in_time=in_time,
        )
        return _slot_page(request, state, free)

    async def book(request: Request) -> HTMLResponse:
        form = await request.form()
        state = _form_state(form)
        slot_id, start, end = (
            str(form.get("slot_id") or ""),
            str(form.get("start") or ""),
            str(form.get("end") or ""),
        )
        if not slot_id:
            free = await _slots(state)
            return _slot_page(request, state, free, 400, error="Choose a slot to book")
        slot = FreeSlot(
            slot_id,
            datetime.fromisoformat(start),
            datetime.fromisoformat(end),
            "",
            state["service_id"],
            None,
            None,
            {"id": slot_id, "start": start, "end": end},
        )
        try:
            patient = await _verify(wf, state)
            booked = await wf.provider.book(
                endpoint=state["endpoint"],
                to_asid=state["asid"],
                slot=slot,
                patient=patient,
                trace_id=state["trace_id"],
                description="Booked from the UEC booking console",
            )
        except SlotTaken:
            record(state, "slot_gone", service_id=state["service_id"], slot_id=slot_id)
            free = await _slots(state)
            return _slot_page(request, state, free, 409, taken=True)
        except ConsumerError as exc:
            record(state, "error", service_id=state["service_id"], detail=str(exc)[:500])
            return failure(request, "The booking did not go through", exc)
        record(
            state,
            "booked",
            service_id=state["service_id"],
            slot_id=booked.slot_id,
            appointment_id=booked.id,
        )
        replaced = None
        if state["replaces"]:
            # Rebooking: the new appointment exists before the old one is cancelled.
            try:
                await wf.provider.cancel(
                    endpoint=state["endpoint"],
                    to_asid=state["asid"],
                    appointment_id=state["replaces"],
                    trace_id=state["trace_id"],
                )
                record(
                    state,
                    "rebooked",
                    appointment_id=booked.id,
                    detail=f"replaces {state['replaces']}",
                )
                replaced = state["replaces"]
            except ConsumerError as exc:
                return failure(request, "Booked, but the old appointment is still booked", exc)
        return page(
            request,
            "booked.html",
            state={**state, "replaces": ""},
            appointment=booked,
            replaced=replaced,
        )

    async def cancel(request: Request) -> HTMLResponse:
        form = await request.form()
        state = _form_state(form)
        appointment_id = str(form.get("appointment_id") or "")
        try:
            await wf.provider.cancel(
                endpoint=state["endpoint"],
                to_asid=state["asid"],
                appointment_id=appointment_id,
                trace_id=state["trace_id"],
            )
        except ConsumerError as exc:
            return failure(request, "Could not cancel", exc)
        record(state, "cancelled", appointment_id=appointment_id)
        return page(
            request,
            "message.html",
            title="Appointment cancelled",
            message=f"Appointment {appointment_id} is cancelled and its slot is free again.",
            state=state,
        )

    async def rebook(request: Request) -> HTMLResponse:
        form = await request.form()
        state = {**_form_state(form), "replaces": str(form.get("appointment_id") or "")}
        return _slot_page(request, state, await _slots(state), rebooking=True)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    from uec_booking.console.views import provider_view, reports_view

    async def provider_page(request: Request) -> Response:
        return await provider_view(request, page, console.provider_db)

    async def reports_page(request: Request) -> Response:
        return await reports_view(request, page, console.journal, console.provider_db)

    static = StaticFiles(directory=str(HERE / "static"))
    return Starlette(
        routes=[
            Route("/", start),
            Route("/services", services, methods=["POST"]),
            Route("/slots", slots, methods=["POST"]),
            Route("/book", book, methods=["POST"]),
            Route("/cancel", cancel, methods=["POST"]),
            Route("/rebook", rebook, methods=["POST"]),
            Route("/provider", provider_page),
            Route("/reports", reports_page),
            Route("/_health", health),
            Mount("/static", static),
            Mount("/assets", StaticFiles(directory=str(HERE / "static" / "assets"))),
        ]
    )

"""Appointment: book (POST), read, version read, history, cancel (PUT), search by patient."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from uec_booking.fhir.bundle import history as history_bundle
from uec_booking.fhir.bundle import searchset
from uec_booking.fhir.interactions import Interaction
from uec_booking.fhir.urls import NHS_NUMBER_SYSTEM
from uec_booking.provider import deps, paging
from uec_booking.provider.appointment_rules import booking_request
from uec_booking.provider.booking import AppointmentService, StoredAppointment
from uec_booking.provider.deps import Exchange
from uec_booking.provider.paging import Cursor, Key
from uec_booking.provider.representation import etag, http_date
from uec_booking.provider.search import ParsedSearch, search_outcome
from uec_booking.provider.search_dates import utc_naive
from uec_booking.provider.search_params import ParamType, SearchParam, SearchSpec
from uec_booking.provider.store.appointments import Provenance

APPOINTMENT_SEARCH = SearchSpec(
    resource_type="Appointment",
    params=(
        SearchParam(
            "patient:identifier",
            ParamType.TOKEN,
            "The patient's NHS number, with or without its system "
            f"({NHS_NUMBER_SYSTEM}|9000000009); only the caller's own bookings match",
            aliases=("patient.identifier",),
            required=True,
            system=NHS_NUMBER_SYSTEM,
        ),
        SearchParam(
            "start",
            ParamType.DATE,
            "Appointment start; prefixes eq, ge, le",
            repeats=True,
            prefixes=frozenset({"eq", "ge", "le"}),
        ),
        SearchParam(
            "status",
            ParamType.TOKEN,
            "booked or cancelled",
            allowed=frozenset({"booked", "cancelled"}),
        ),
    ),
    max_count=500,
)

router = APIRouter()


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt at an Appointment interaction: the exchange, the service, and the
    interaction a refusal is audited as (`AppointmentService.attempt`)."""

    call: Exchange
    service: AppointmentService
    interaction: Interaction

    @property
    def who(self) -> Provenance:
        return self.call.who

    def audited(self) -> AbstractAsyncContextManager[None]:
        return self.service.attempt(self.interaction, self.call.who)

    def version(self, stored: StoredAppointment, *, created: bool = False) -> Response:
        """The version's representation with its ETag, Last-Modified and Content-Location
        (and Location, when it was just created)."""
        url = self.service.version_url(stored.id, stored.version_id)
        headers = {
            "ETag": etag(stored.version_id),
            "Last-Modified": http_date(stored.updated_at),
            "Content-Location": url,
            **({"Location": url} if created else {}),
        }
        return self.call.respond(stored.resource, status=201 if created else 200, headers=headers)


def _attempt(interaction: Interaction) -> Any:
    exchange = Depends(deps.exchange(interaction))

    async def dependency(
        call: Exchange = exchange,
        service: AppointmentService = Depends(deps.appointment_service),
    ) -> Attempt:
        return Attempt(call, service, interaction)

    return Depends(dependency)


# Every read of a booking is the same interaction, audited like a write.
_READ = _attempt(Interaction.READ_APPOINTMENT)


@router.post("/Appointment")
async def book(at: Attempt = _attempt(Interaction.CREATE_APPOINTMENT)) -> Response:
    async with at.audited():
        parsed = await deps.parse_body(at.call.request, "Appointment")
        wanted = booking_request(parsed.data, start=parsed.model.start, end=parsed.model.end)
        visible = deps.caller(at.call.request, at.who) is not None
        stored = await at.service.book(wanted, at.who, check_visibility=visible)
    return at.version(stored, created=True)


@router.get("/Appointment/{appointment_id}")
async def read(appointment_id: str, at: Attempt = _READ) -> Response:
    async with at.audited():
        stored = await at.service.read(appointment_id, at.who)
    return at.version(stored)


@router.get("/Appointment/{appointment_id}/_history/{version_id}")
async def vread(appointment_id: str, version_id: str, at: Attempt = _READ) -> Response:
    async with at.audited():
        stored = await at.service.vread(appointment_id, version_id, at.who)
    return at.version(stored)


@router.get("/Appointment/{appointment_id}/_history")
async def history(appointment_id: str, at: Attempt = _READ) -> Response:
    async with at.audited():
        versions = await at.service.history(appointment_id, at.who)
    base = deps.base_url(at.call.request)
    return at.call.respond(history_bundle(base_url=base, resources=[v.resource for v in versions]))


@router.put("/Appointment/{appointment_id}")
async def cancel(
    appointment_id: str, at: Attempt = _attempt(Interaction.UPDATE_APPOINTMENT)
) -> Response:
    async with at.audited():
        parsed = await deps.parse_body(at.call.request, "Appointment")
        if_match = at.call.request.headers.get("if-match")
        stored = await at.service.cancel(appointment_id, parsed.data, if_match, at.who)
    return at.version(stored)


@router.get("/Appointment", openapi_extra=APPOINTMENT_SEARCH.openapi())
async def search(
    call: Exchange = Depends(deps.exchange(Interaction.SEARCH_APPOINTMENT)),
    parsed: ParsedSearch = Depends(deps.search_parameters(APPOINTMENT_SEARCH)),
    service: AppointmentService = Depends(deps.appointment_service),
) -> Response:
    window = parsed.window("start")
    found = await service.search_page(
        call.who,
        nhs_numbers=[t.code.replace(" ", "") for t in parsed.token_values("patient:identifier")],
        start_ge=utc_naive(window.ge) if window.ge else None,
        start_le=utc_naive(window.le) if window.le else None,
        statuses=parsed.tokens("status"),
        cursor=Cursor.decode(parsed.page) if parsed.page else None,
        size=0 if parsed.summary == "count" else parsed.count or APPOINTMENT_SEARCH.max_count,
    )
    bundle = searchset(
        base_url=deps.base_url(call.request),
        matches=[s.resource for s in found.items],
        total=found.total,
        links=paging.links(deps.search_url(call.request, "Appointment"), found, _key).as_fhir(),
        outcome=search_outcome(parsed),
    )
    return call.respond(bundle)


def _key(stored: StoredAppointment) -> Key:
    return (
        utc_naive(datetime.fromisoformat(stored.resource["start"].replace("Z", "+00:00"))),
        stored.id,
    )

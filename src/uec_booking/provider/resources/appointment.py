"""Appointment: book (POST), read, version read, history, cancel (PUT), search by patient."""

from __future__ import annotations

from datetime import datetime

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
from uec_booking.provider.search import (
    ParamType,
    ParsedSearch,
    SearchParam,
    SearchSpec,
    search_outcome,
    utc_naive,
)

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

# Every read of a booking is the same interaction, audited like a write.
_Read = Depends(deps.exchange(Interaction.READ_APPOINTMENT))
_Service = Depends(deps.appointment_service)


def _version_headers(service: AppointmentService, stored: StoredAppointment) -> dict[str, str]:
    url = service.version_url(stored.id, stored.version_id)
    return {
        "ETag": etag(stored.version_id),
        "Last-Modified": http_date(stored.updated_at),
        "Content-Location": url,
    }


def _version(call: Exchange, service: AppointmentService, stored: StoredAppointment) -> Response:
    return call.respond(stored.resource, headers=_version_headers(service, stored))


@router.post("/Appointment")
async def book(
    call: Exchange = Depends(deps.exchange(Interaction.CREATE_APPOINTMENT)),
    service: AppointmentService = _Service,
) -> Response:
    async with service.attempt(Interaction.CREATE_APPOINTMENT, call.who):
        parsed = await deps.parse_body(call.request, "Appointment")
        wanted = booking_request(parsed.data, start=parsed.model.start, end=parsed.model.end)
        visible = deps.caller(call.request, call.who) is not None
        stored = await service.book(wanted, call.who, check_visibility=visible)
    headers = _version_headers(service, stored)
    headers["Location"] = headers["Content-Location"]
    return call.respond(stored.resource, status=201, headers=headers)


@router.get("/Appointment/{appointment_id}")
async def read(
    appointment_id: str, call: Exchange = _Read, service: AppointmentService = _Service
) -> Response:
    async with service.attempt(Interaction.READ_APPOINTMENT, call.who):
        stored = await service.read(appointment_id, call.who)
    return _version(call, service, stored)


@router.get("/Appointment/{appointment_id}/_history/{version_id}")
async def vread(
    appointment_id: str,
    version_id: str,
    call: Exchange = _Read,
    service: AppointmentService = _Service,
) -> Response:
    async with service.attempt(Interaction.READ_APPOINTMENT, call.who):
        stored = await service.vread(appointment_id, version_id, call.who)
    return _version(call, service, stored)


@router.get("/Appointment/{appointment_id}/_history")
async def history(
    appointment_id: str, call: Exchange = _Read, service: AppointmentService = _Service
) -> Response:
    async with service.attempt(Interaction.READ_APPOINTMENT, call.who):
        versions = await service.history(appointment_id, call.who)
    base = deps.base_url(call.request)
    return call.respond(history_bundle(base_url=base, resources=[v.resource for v in versions]))


@router.put("/Appointment/{appointment_id}")
async def cancel(
    appointment_id: str,
    call: Exchange = Depends(deps.exchange(Interaction.UPDATE_APPOINTMENT)),
    service: AppointmentService = _Service,
) -> Response:
    async with service.attempt(Interaction.UPDATE_APPOINTMENT, call.who):
        parsed = await deps.parse_body(call.request, "Appointment")
        if_match = call.request.headers.get("if-match")
        stored = await service.cancel(appointment_id, parsed.data, if_match, call.who)
    return _version(call, service, stored)


@router.get("/Appointment", openapi_extra=APPOINTMENT_SEARCH.openapi())
async def search(
    call: Exchange = Depends(deps.exchange(Interaction.SEARCH_APPOINTMENT)),
    parsed: ParsedSearch = Depends(deps.search_parameters(APPOINTMENT_SEARCH)),
    service: AppointmentService = _Service,
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

"""Appointment: book (POST), read, version read, history, cancel (PUT), search by patient."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from uec_booking.fhir.bundle import history as history_bundle
from uec_booking.fhir.bundle import searchset
from uec_booking.fhir.errors import BadRequest
from uec_booking.fhir.formats import Format
from uec_booking.fhir.http import fhir_response, request_format
from uec_booking.fhir.interactions import Interaction
from uec_booking.fhir.urls import NHS_NUMBER_SYSTEM
from uec_booking.provider import deps, paging
from uec_booking.provider.appointment_rules import booking_request
from uec_booking.provider.booking import AppointmentService, StoredAppointment
from uec_booking.provider.paging import Cursor, Key
from uec_booking.provider.representation import etag, http_date
from uec_booking.provider.search import ParamType, SearchParam, SearchSpec, parse_search, utc_naive
from uec_booking.provider.store.appointments import Provenance

APPOINTMENT_SEARCH = SearchSpec(
    resource_type="Appointment",
    params=(
        SearchParam(
            "patient:identifier",
            ParamType.TOKEN,
            aliases=("patient.identifier",),
            required=True,
        ),
        SearchParam("start", ParamType.DATE, repeats=True, prefixes=frozenset({"eq", "ge", "le"})),
        SearchParam(
            "status",
            ParamType.TOKEN,
            allowed=frozenset({"booked", "cancelled"}),
        ),
    ),
    max_count=500,
)

router = APIRouter()


def _version_headers(service: AppointmentService, stored: StoredAppointment) -> dict[str, str]:
    url = service.version_url(stored.id, stored.version_id)
    return {
        "ETag": etag(stored.version_id),
        "Last-Modified": http_date(stored.updated_at),
        "Content-Location": url,
    }


_AUTHORISE_BOOKING = deps.require(Interaction.CREATE_APPOINTMENT)


async def book(request: Request) -> Response:
    """POST /Appointment on a plain Starlette route (FastAPI's dependency resolution was a
    tenth of a booking): the format negotiated first, then the caller authorised, as the
    dependencies did."""
    fmt = request_format(request)
    who = await _AUTHORISE_BOOKING(request)
    service = await deps.appointment_service(request)
    async with service.attempt(Interaction.CREATE_APPOINTMENT, who):
        parsed = await deps.parse_body(request, "Appointment")
        wanted = booking_request(parsed.data, start=parsed.model.start, end=parsed.model.end)
        stored = await service.book(
            wanted, who, check_visibility=deps.caller(request, who) is not None
        )
    headers = _version_headers(service, stored)
    headers["Location"] = headers["Content-Location"]
    return fhir_response(request, stored.resource, status=201, headers=headers, fmt=fmt)


router.add_route("/Appointment", book, methods=["POST"])


@router.get("/Appointment/{appointment_id}")
async def read(
    appointment_id: str,
    request: Request,
    fmt: Format = Depends(deps.response_format),
    who: Provenance = Depends(deps.require(Interaction.READ_APPOINTMENT)),
    service: AppointmentService = Depends(deps.appointment_service),
) -> Response:
    async with service.attempt(Interaction.READ_APPOINTMENT, who):
        stored = await service.read(appointment_id, who)
    return fhir_response(
        request, stored.resource, headers=_version_headers(service, stored), fmt=fmt
    )


@router.get("/Appointment/{appointment_id}/_history/{version_id}")
async def vread(
    appointment_id: str,
    version_id: str,
    request: Request,
    fmt: Format = Depends(deps.response_format),
    who: Provenance = Depends(deps.require(Interaction.READ_APPOINTMENT)),
    service: AppointmentService = Depends(deps.appointment_service),
) -> Response:
    async with service.attempt(Interaction.READ_APPOINTMENT, who):
        stored = await service.vread(appointment_id, version_id, who)
    return fhir_response(
        request, stored.resource, headers=_version_headers(service, stored), fmt=fmt
    )


@router.get("/Appointment/{appointment_id}/_history")
async def history(
    appointment_id: str,
    request: Request,
    fmt: Format = Depends(deps.response_format),
    who: Provenance = Depends(deps.require(Interaction.READ_APPOINTMENT)),
    service: AppointmentService = Depends(deps.appointment_service),
) -> Response:
    async with service.attempt(Interaction.READ_APPOINTMENT, who):
        versions = await service.history(appointment_id, who)
    bundle = history_bundle(
        base_url=deps.base_url(request), resources=[v.resource for v in versions]
    )
    return fhir_response(request, bundle, fmt=fmt)


@router.put("/Appointment/{appointment_id}")
async def cancel(
    appointment_id: str,
    request: Request,
    fmt: Format = Depends(deps.response_format),
    who: Provenance = Depends(deps.require(Interaction.UPDATE_APPOINTMENT)),
    service: AppointmentService = Depends(deps.appointment_service),
) -> Response:
    async with service.attempt(Interaction.UPDATE_APPOINTMENT, who):
        parsed = await deps.parse_body(request, "Appointment")
        if_match = request.headers.get("if-match")
        stored = await service.cancel(appointment_id, parsed.data, if_match, who)
    return fhir_response(
        request, stored.resource, headers=_version_headers(service, stored), fmt=fmt
    )


@router.get("/Appointment")
async def search(
    request: Request,
    fmt: Format = Depends(deps.response_format),
    who: Provenance = Depends(deps.require(Interaction.SEARCH_APPOINTMENT)),
    service: AppointmentService = Depends(deps.appointment_service),
) -> Response:
    parsed = parse_search(APPOINTMENT_SEARCH, list(request.query_params.multi_items()))
    numbers = []
    for token in parsed.tokens("patient:identifier"):
        system, sep, value = token.rpartition("|")
        if sep and system != NHS_NUMBER_SYSTEM:
            raise BadRequest(
                f"Patients are found by NHS number ({NHS_NUMBER_SYSTEM}), not '{system}'",
                spine_code="INVALID_IDENTIFIER_SYSTEM",
                expression="patient:identifier",
            )
        numbers.append(value.replace(" ", ""))
    ge = [b.low for b in parsed.dates("start") if b.prefix in ("ge", "eq")]
    le = [b.high for b in parsed.dates("start") if b.prefix in ("le", "eq")]
    found = await service.search_page(
        who,
        nhs_numbers=numbers,
        start_ge=utc_naive(max(ge)) if ge else None,
        start_le=utc_naive(min(le)) if le else None,
        statuses=parsed.tokens("status"),
        cursor=Cursor.decode(parsed.page) if parsed.page else None,
        size=0 if parsed.summary == "count" else parsed.count or APPOINTMENT_SEARCH.max_count,
    )
    bundle = searchset(
        base_url=deps.base_url(request),
        matches=[s.resource for s in found.items],
        total=found.total,
        links=paging.links(deps.search_url(request, "Appointment"), found, _key).as_fhir(),
    )
    return fhir_response(request, bundle, fmt=fmt)


def _key(stored: StoredAppointment) -> Key:
    return (
        utc_naive(datetime.fromisoformat(stored.resource["start"].replace("Z", "+00:00"))),
        stored.id,
    )

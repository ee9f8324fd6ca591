"""Read and cancel cases: the test kit's EB_CancelAppointment chains (book, read, then PUT
with `status: cancelled` and the ETag as If-Match) and the assurance scripts' P31."""

from __future__ import annotations

from typing import Any

import orjson

from uec_booking.check import bodies
from uec_booking.check.cases_write import CANCEL, ERRORS, integrity
from uec_booking.check.model import CaseResult
from uec_booking.check.registry import (
    TOKEN_CHECKS,
    WORKBOOK,
    Ctx,
    booking_case,
    case,
    outcome,
    post,
    resource_type,
    status,
)
from uec_booking.check.wire import JSON, XML, Response
from uec_booking.fhir.interactions import Interaction


async def read(ctx: Ctx, result: CaseResult, appointment_id: str, accept: str = JSON) -> Response:
    """Read an Appointment (`appointment_id` may name a version: `<id>/_history/<vid>`)."""
    return await ctx.wire.send(
        result,
        "GET",
        f"/Appointment/{appointment_id}",
        interaction=Interaction.READ_APPOINTMENT,
        headers={"Accept": accept},
    )


async def put(
    ctx: Ctx,
    result: CaseResult,
    appointment_id: str,
    body: dict[str, Any],
    *,
    if_match: str | None,
    token: str | bool | None = True,
) -> Response:
    headers = {"Accept": JSON, "Content-Type": JSON}
    if if_match is not None:
        headers["If-Match"] = if_match
    resp = await ctx.wire.send(
        result,
        "PUT",
        f"/Appointment/{appointment_id}",
        interaction=Interaction.UPDATE_APPOINTMENT,
        token=token,
        headers=headers,
        body=orjson.dumps(body),
    )
    if resp.status == 200:
        ctx.booked.pop(appointment_id, None)
    return resp


async def book_and_read(
    ctx: Ctx, result: CaseResult, slot: dict[str, Any]
) -> tuple[str, dict[str, Any], str] | None:
    """The chain's first three steps: search (done by the run), book, read."""
    resp = await post(ctx, result, bodies.book(slot))
    if not status(result, resp, 201):
        return None
    created = resp.resource() or {}
    appointment_id = str(created.get("id"))
    got = await read(ctx, result, appointment_id)
    status(result, got, 200)
    stored = resource_type(result, got, "Appointment")
    etag = got.header("etag")
    result.expect(
        "ETag on read", 'W/"<versionId>"', etag or "absent", bool(etag and etag.startswith('W/"'))
    )
    if stored is None or etag is None:
        return None
    return appointment_id, stored, etag


@case("ReadNonExistentAppointment", "Read an unknown Appointment → 404", CANCEL + "; " + ERRORS)
async def read_unknown(ctx: Ctx, result: CaseResult) -> None:
    resp = await read(ctx, result, "95e58add-0b10-4a8c-817c-2729eb0cab75", accept=XML)
    outcome(result, resp, 404)


@booking_case("UEC-READ-HEADERS", 'Read: ETag W/"<versionId>" and Content-Location', ERRORS)
async def read_headers(ctx: Ctx, result: CaseResult, slot: dict[str, Any]) -> None:
    chain = await book_and_read(ctx, result, slot)
    if chain is None:
        return
    appointment_id, stored, etag = chain
    version = (stored.get("meta") or {}).get("versionId")
    result.expect("ETag names meta.versionId", f'W/"{version}"', etag, etag == f'W/"{version}"')
    location = result.exchanges[-1].response_headers.get("content-location")
    result.expect(
        "Content-Location",
        f"…/Appointment/{appointment_id}…",
        location or "absent",
        bool(location and f"/Appointment/{appointment_id}" in location),
    )


@booking_case(
    "CancelAppointment_HappyPath",
    "Cancel with If-Match: 200, Last-Modified, new ETag, slot free again (P31)",
    CANCEL + "; " + WORKBOOK + "CConnect-ApptTest_19 (P31)",
)
async def cancel_happy(ctx: Ctx, result: CaseResult, slot: dict[str, Any]) -> None:
    chain = await book_and_read(ctx, result, slot)
    if chain is None:
        return
    appointment_id, stored, etag = chain
    resp = await put(ctx, result, appointment_id, bodies.cancel(stored), if_match=etag)
    status(result, resp, 200)
    res = resource_type(result, resp, "Appointment")
    integrity(result, resp)
    result.expect(
        "Last-Modified",
        "present",
        resp.header("last-modified") or "absent",
        resp.header("last-modified") is not None,
    )
    new_etag = resp.header("etag")
    result.expect(
        "ETag with the new versionId",
        f"not {etag}",
        new_etag or "absent",
        bool(new_etag) and new_etag != etag,
    )
    if res is not None:
        result.expect(
            "status cancelled", "cancelled", res.get("status"), res.get("status") == "cancelled"
        )
    slot_id = next(
        (r.get("id") for r in stored.get("contained") or [] if r.get("resourceType") == "Slot"),
        None,
    )
    slot_id = slot_id or (stored.get("slot") or [{}])[0].get("reference", "").split("/")[-1]
    got = await ctx.wire.send(
        result,
        "GET",
        f"/Slot/{slot_id}",
        interaction=Interaction.READ_SLOT,
        headers={"Accept": JSON},
    )
    slot = got.resource() or {}
    result.expect(
        "the Slot is free again", "free", slot.get("status"), slot.get("status") == "free"
    )
    # The earlier version is kept (P31: "MUST store previous versions").
    version = (stored.get("meta") or {}).get("versionId")
    old = await read(ctx, result, f"{appointment_id}/_history/{version}")
    kept = (old.resource() or {}).get("status")
    result.expect(
        "the booked version is kept (_history)",
        "booked",
        f"HTTP {old.status} {kept}",
        kept == "booked",
    )


def _refused_cancel(
    case_id: str,
    title: str,
    expected: int,
    *,
    change: Any = bodies.cancel,
    if_match: str | None = "etag",
    token: bool = True,
) -> None:
    requires = () if token else (TOKEN_CHECKS.because("--auth none"),)

    @booking_case(case_id, title, CANCEL + "; " + ERRORS, requires=requires)
    async def run(ctx: Ctx, result: CaseResult, slot: dict[str, Any]) -> None:
        chain = await book_and_read(ctx, result, slot)
        if chain is None:
            return
        appointment_id, stored, etag = chain
        match = etag if if_match == "etag" else if_match
        resp = await put(
            ctx,
            result,
            appointment_id,
            change(stored),
            if_match=match,
            token=True if token else None,
        )
        outcome(result, resp, expected)


_refused_cancel(
    "CancelAppointment_DifferencesDetected",
    "Cancel that changes the patient's surname → 422",
    422,
    change=bodies.change_surname,
)
_refused_cancel(
    "CancelAppointment_VersionConflict",
    "Cancel with an If-Match naming another version → 409",
    409,
    if_match='W/"999ff9ff-999f-9999-99fffff9999ff99ff"',
)
_refused_cancel(
    "CancelAppointment_VersionConflictNumeric",
    'Cancel with If-Match W/"999" (an old-style version) → 409',
    409,
    if_match='W/"999"',
)
_refused_cancel(
    "CancelAppointment_If-MatchHeaderMissing", "Cancel without If-Match → 412", 412, if_match=None
)
_refused_cancel(
    "CancelAppointment_Forbidden",
    "Cancel without a token → 401 (kit 403; RFC 6750 decides)",
    401,
    token=False,
)


async def cleanup(ctx: Ctx, result: CaseResult) -> None:
    """Cancel whatever this run booked and did not cancel itself."""
    for appointment_id in list(ctx.booked):
        got = await read(ctx, result, appointment_id)
        stored, etag = got.resource(), got.header("etag")
        if got.status != 200 or stored is None or stored.get("status") == "cancelled":
            ctx.booked.pop(appointment_id, None)
            continue
        resp = await put(ctx, result, appointment_id, bodies.cancel(stored), if_match=etag)
        result.expect(
            f"cancelled {appointment_id}", "HTTP 200", f"HTTP {resp.status}", resp.status == 200
        )

"""Book and cancel cases: the test kit's EB_BookAppointment and EB_CancelAppointment chains,
the assurance scripts' P24-P31 and the double booking the standard rules out. Every case
books only into a Slot this run found free; whatever it books is cancelled in the end."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from uec_booking.check import bodies
from uec_booking.check.model import CaseResult
from uec_booking.check.registry import (
    KIT,
    PAGES,
    TOKEN_CHECKS,
    WORKBOOK,
    Ctx,
    booking_case,
    case,
    gzipped,
    outcome,
    post,
    resource_type,
    status,
)
from uec_booking.check.wire import XML, Response

BOOK = KIT + "EB_BookAppointment.tstp"
CANCEL = KIT + "EB_CancelAppointment.tstp"
ERRORS = PAGES + "error/er_errorhandling.md"


def integrity(result: CaseResult, resp: Response) -> None:
    """IntegrityCorrelationIDHeaderIsPresent and IntegrityHeadersMatch (fs_xti)."""
    sent = result.exchanges[-1].headers.get("X-Request-ID")
    got = resp.header("x-correlation-id")
    result.expect("X-Correlation-ID present", "present", got or "absent", got is not None)
    result.expect("X-Correlation-ID matches X-Request-ID", sent or "", got, got == sent)


def booked(ctx: Ctx, result: CaseResult, resp: Response) -> dict[str, Any] | None:
    """The kit's happy-path chain on a 201."""
    status(result, resp, 201)
    res = resource_type(result, resp, "Appointment")
    integrity(result, resp)
    location = resp.header("location")
    result.expect("Location is returned", "present", location or "absent", location is not None)
    base = re.escape(ctx.target.base_url)
    well_formed = bool(
        location and re.match(rf"^{base}/Appointment/[^/]+(/_history/[^/]+)?$", location)
    )
    result.expect(
        "Location is well formed (absolute, <base>/Appointment/<id>)",
        f"{ctx.target.base_url}/Appointment/<id>…",
        location,
        well_formed,
    )
    if res is not None:
        result.expect(
            "Appointment is booked", "booked", res.get("status"), res.get("status") == "booked"
        )
        result.expect(
            "Appointment has an id (P26, P27)", "id", res.get("id") or "none", bool(res.get("id"))
        )
    return res


def _book_case(case_id: str, title: str, make: Any, *, gzip: bool = False) -> None:
    @booking_case(case_id, title, BOOK + "; " + WORKBOOK + "CConnect-ApptTest_15/_16 (P25, P26)")
    async def run(ctx: Ctx, result: CaseResult, slot: dict[str, Any]) -> None:
        headers = {"Accept-Encoding": "gzip"} if gzip else {}
        resp = await post(ctx, result, make(slot), headers=headers, gzip_body=gzip)
        booked(ctx, result, resp)
        if gzip:
            gzipped(result, resp)


_book_case(
    "BookAppointment_HappyPath", "Book a free Slot (kit body: contained Slot #id)", bodies.book
)
_book_case(
    "BookAppointment_NoNHSNumber",
    "Book for a patient without an NHS number",
    lambda s: bodies.book(s, pat=bodies.patient(nhs_number=None, contact=False)),
)
_book_case(
    "BookAppointment_TelecomAndContact",
    "Book with patient telecom and a contact (UECABS-146)",
    lambda s: bodies.book(s, pat=bodies.patient()),
)
_book_case(
    "BookAppointment_Contact",
    "Book with a contact, no patient telecom (UECABS-146)",
    lambda s: bodies.book(
        s,
        pat={
            **bodies.patient(),
            "contact": [
                {
                    **bodies.patient()["contact"][0],
                    "telecom": [{"system": "phone", "value": "01632 960001", "rank": 1}],
                }
            ],
            "telecom": [],
        },
    ),
)
_book_case(
    "BookAppointment_HappyPathWithGzip",
    "Book with gzip both ways (UECABS-153)",
    bodies.book,
    gzip=True,
)


@booking_case(
    "BookAppointment_UnknownElements",
    "Unknown elements in the body are ignored (acceptUnknown: both)",
    PAGES + "fs_fhir_overrides.md; CapabilityStatement.acceptUnknown",
)
async def unknown_elements(ctx: Ctx, result: CaseResult, slot: dict[str, Any]) -> None:
    body = bodies.book(slot)
    body["uecCheckUnknownElement"] = {"value": "ignored"}
    booked(ctx, result, await post(ctx, result, body))


@booking_case(
    "BookAppointment_SlotAlreadyBooked",
    "Book a Slot already booked → 422 'Slot no longer available' (P29)",
    BOOK + "; " + WORKBOOK + "CConnect-ApptTest_18 (P29)",
)
async def already_booked(ctx: Ctx, result: CaseResult, slot: dict[str, Any]) -> None:
    first = await post(ctx, result, bodies.book(slot))
    status(result, first, 201)
    second = await post(ctx, result, bodies.book(slot))
    res = outcome(result, second, 422)
    if res is not None:
        issues = res.get("issue") or []
        one = issues[0] if len(issues) == 1 else {}
        result.expect("exactly one issue", "1", len(issues), len(issues) == 1)
        result.expect(
            "severity error, code processing",
            "error/processing",
            f"{one.get('severity')}/{one.get('code')}",
            one.get("severity") == "error" and one.get("code") == "processing",
        )
        result.expect(
            "diagnostics",
            "Slot no longer available",
            one.get("diagnostics"),
            one.get("diagnostics") == "Slot no longer available",
        )


@booking_case(
    "BookAppointment_ConcurrentDoubleBooking",
    "Two concurrent bookings of one Slot: exactly one 201, one 422",
    WORKBOOK + "CConnect-ApptTest_14 (P24 atomic), _15 (P25); DESIGN storage",
)
async def concurrent(ctx: Ctx, result: CaseResult, slot: dict[str, Any]) -> None:
    answers = await asyncio.gather(*(post(ctx, result, bodies.book(slot)) for _ in range(2)))
    codes = sorted(r.status for r in answers)
    result.expect(
        "one booking wins, the other is refused", "[201, 422]", codes, codes == [201, 422]
    )


@booking_case(
    "BookAppointment_HappyPathWithResentRequestID",
    "Resend a booked X-Request-ID → 409, nothing booked twice",
    BOOK + "; " + PAGES + "fs_xti.md",
)
async def resent_request_id(ctx: Ctx, result: CaseResult, slot: dict[str, Any]) -> None:
    other = ctx.claim_slot()
    request_id = str(uuid.uuid4())
    body = bodies.book(slot)
    status(result, await post(ctx, result, body, request_id=request_id), 201)
    # The kit resends the same request: the original outcome, 409, nothing booked twice.
    again = await post(ctx, result, body, request_id=request_id)
    outcome(result, again, 409)
    if other is not None:
        # The same X-Request-ID on another request (fs_xti: unique per request) must not
        # book either: refused as a duplicate (409) or as a reused id (422).
        reused = await post(ctx, result, bodies.book(other), request_id=request_id)
        result.expect(
            "the same X-Request-ID on another request books nothing",
            "409 or 422",
            reused.status,
            reused.status in (409, 422),
        )
        ctx.release_unless_booked(other, reused)


@booking_case(
    "BookAppointment_FailedValidation",
    "Invalid NHS number → 422 INVALID_NHS_NUMBER",
    BOOK + "; " + PAGES + "fs_fhir_overrides.md",
)
async def failed_validation(ctx: Ctx, result: CaseResult, slot: dict[str, Any]) -> None:
    resp = await post(
        ctx, result, bodies.book(slot, pat=bodies.patient(nhs_number=bodies.INVALID_NHS_NUMBER))
    )
    res = outcome(result, resp, 422)
    codes = [
        c.get("code")
        for i in (res or {}).get("issue") or []
        for c in (i.get("details") or {}).get("coding") or []
    ]
    result.expect(
        "Spine code INVALID_NHS_NUMBER", "INVALID_NHS_NUMBER", codes, "INVALID_NHS_NUMBER" in codes
    )
    ctx.release_unless_booked(slot, resp)


@case("BookAppointment_Invalid", "Malformed XML body → 400", BOOK + "; " + ERRORS, books=True)
async def invalid(ctx: Ctx, result: CaseResult) -> None:
    resp = await post(
        ctx,
        result,
        b"<Appointment xmlns='http://hl7.org/fhir'><status value='booked'>",
        headers={"Content-Type": XML, "Accept": XML},
    )
    outcome(result, resp, 400)


@booking_case(
    "BookAppointment_UnsupportedMediaType",
    "Content-Type application/xml → 415",
    BOOK + "; " + ERRORS,
)
async def unsupported_media(ctx: Ctx, result: CaseResult, slot: dict[str, Any]) -> None:
    from uec_booking.fhir.formats import Format, dumps

    resp = await post(
        ctx,
        result,
        dumps(bodies.book(slot), Format.XML),
        headers={"Content-Type": "application/xml"},
    )
    outcome(result, resp, 415)
    ctx.release_unless_booked(slot, resp)


def _rank_case(case_id: str, title: str, make: Any) -> None:
    # The kit says 400; DESIGN files rank rules under business rules (422): either is a refusal.
    @booking_case(case_id, title, BOOK + "; " + PAGES + "fs_patientcontact.md")
    async def run(ctx: Ctx, result: CaseResult, slot: dict[str, Any]) -> None:
        resp = await post(ctx, result, make(slot))
        outcome(result, resp, 400, 422)
        ctx.release_unless_booked(slot, resp)


_rank_case(
    "BookAppointment_TwoRank1",
    "Two telecoms of rank 1 (patient and contact) → refused",
    bodies.two_rank1,
)
_rank_case("BookAppointment_NoRank1", "No telecom of rank 1 → refused", bodies.no_rank1)


@booking_case(
    "BookAppointment_Forbidden",
    "Book without a token → 401 (kit 403; RFC 6750 decides)",
    BOOK + "; " + PAGES + "fs_authentication.md",
    requires=(TOKEN_CHECKS.because("--auth none"),),
)
async def book_forbidden(ctx: Ctx, result: CaseResult, slot: dict[str, Any]) -> None:
    resp = await post(ctx, result, bodies.book(slot), token=None)
    outcome(result, resp, 401)
    ctx.release_unless_booked(slot, resp)


@booking_case(
    "UEC-CREATE-HEADERS",
    "Create answers 201 with Location, Content-Location and ETag",
    ERRORS,
)
async def create_headers(ctx: Ctx, result: CaseResult, slot: dict[str, Any]) -> None:
    resp = await post(ctx, result, bodies.book(slot))
    status(result, resp, 201)
    for name in ("Location", "Content-Location", "ETag"):
        value = resp.header(name)
        result.expect(f"{name} header", "present", value or "absent", value is not None)

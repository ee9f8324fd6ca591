"""EB_BookAppointment.tstp: the kit's booking schedules. `BookAppointment_ServerError` (500)
and `BookAppointment_BadGateway` (502) are the kit simulator's sentinels (a slot number that
makes the simulator fail on purpose): a real provider has no such input, so they are not
ported. `_FailedValidation`, `_Invalid` and `_Forbidden` are sentinels too; they are ported
with our own data that really is invalid (see each test)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from lxml import etree

from tests.provider.testkit.kit import (
    JSON_ACCEPT,
    JSON_CONTENT,
    XML_ACCEPT,
    XML_CONTENT,
    Kit,
    appointment_booked,
    as_json,
    as_xml,
    first_slot,
    gzipped,
    integrity,
    integrity_headers,
    location_is_well_formed,
    remove_appt_id,
    remove_appt_id_and_change_rank,
    remove_appt_id_and_contact,
    remove_appt_id_and_contact_and_nhs_no,
    remove_appt_id_and_telecom,
    remove_appt_id_and_two_rank2,
    response_is,
    response_was_gzip,
    template,
)

Transform = Callable[[etree._Element], etree._Element]


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _body(kit: Kit, transform: Transform) -> bytes:
    """SFFSWithValidParameters_3_days_N, ResponseIsBundleExtractingN, then the book template
    filled from the extracted slot and transformed, as `application/fhir+json`."""
    slot = first_slot(kit.search_3_days())
    return as_json(transform(template(slot, created=_now())))


def _booked(kit: Kit, body: bytes, *extra: dict[str, str]) -> httpx.Response:
    """BookAppointment*: 201, then ResponseIsAppointmentExtracting5, the integrity headers,
    LocationIsReturned, AppointmentIsBooked, AppointmentHasId, LocationIsWellFormed."""
    ids = integrity()
    response = kit.book(body, JSON_CONTENT, JSON_ACCEPT, ids, *extra)
    assert response.status_code == 201, response.text[:300]
    appointment_booked(response)
    integrity_headers(ids["X-Request-ID"], response)
    location_is_well_formed(response)
    return response


def _refused(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text[:300]
    response_is(response, "OperationOutcome")  # ResponseIsOperationOutcome


def test_book_appointment_happy_path(kit: Kit) -> None:
    _booked(kit, _body(kit, remove_appt_id))


def test_book_appointment_no_nhs_number(kit: Kit) -> None:
    _booked(kit, _body(kit, remove_appt_id_and_contact_and_nhs_no))


def test_book_appointment_slot_already_booked(kit: Kit) -> None:
    body = _body(kit, remove_appt_id_and_contact)
    _booked(kit, body)  # BookAppointment_SlotAlreadyBookedInitialBooking
    again = kit.book(body, JSON_CONTENT, JSON_ACCEPT, integrity())
    _refused(again, 422)
    assert again.json()["issue"][0]["diagnostics"] == "Slot no longer available"


def test_book_appointment_failed_validation(kit: Kit) -> None:
    """The kit's slot 7 makes its simulator answer 422; here a body that breaks a business
    rule does: start and end other than the slot's."""
    slot = first_slot(kit.search_3_days())
    root = remove_appt_id_and_contact(template(slot, created=_now()))
    for node in root.xpath("/f:Appointment/f:end", namespaces={"f": "http://hl7.org/fhir"}):
        node.set("value", "2099-01-01T10:00:00+00:00")
    _refused(kit.book(as_json(root), JSON_CONTENT, JSON_ACCEPT, integrity()), 422)


def test_book_appointment_invalid(kit: Kit) -> None:
    """The kit's slot 8 makes its simulator answer 400 to XML; here malformed XML does."""
    slot = first_slot(kit.search_3_days())
    body = as_xml(remove_appt_id_and_contact(template(slot, created=_now())))
    _refused(kit.book(body[:-40], XML_CONTENT, XML_ACCEPT, integrity()), 400)


def test_book_appointment_forbidden(kit: Kit) -> None:
    """No JWT: the kit wants 403; RFC 6750 (which DESIGN follows) says 401 invalid_token."""
    slot = first_slot(kit.search_3_days())
    body = as_xml(remove_appt_id_and_contact(template(slot, created=_now())))
    response = kit.book(body, XML_CONTENT, XML_ACCEPT, integrity(), token=None)
    _refused(response, 401)


def test_book_appointment_unsupported_media_type(kit: Kit) -> None:
    slot = first_slot(kit.search_3_days())
    body = as_xml(remove_appt_id_and_contact(template(slot, created=_now())))
    response = kit.book(body, {"Content-Type": "application/xml"}, JSON_ACCEPT, integrity())
    _refused(response, 415)


def test_book_appointment_telecom_and_contact(kit: Kit) -> None:
    _booked(kit, _body(kit, remove_appt_id))


def test_book_appointment_contact(kit: Kit) -> None:
    _booked(kit, _body(kit, remove_appt_id_and_telecom))


def test_book_appointment_two_rank1(kit: Kit) -> None:
    """Rank 1 in Patient.telecom and Patient.contact.telecom. The kit wants 400; the standard
    (fs_patientcontact) makes it a business-rule violation, 422 (issue 14 item 9, DESIGN)."""
    _refused(
        kit.book(
            _body(kit, remove_appt_id_and_change_rank), JSON_CONTENT, JSON_ACCEPT, integrity()
        ),
        422,
    )


def test_book_appointment_no_rank1(kit: Kit) -> None:
    """No rank 1 at all. The kit wants 400; a business-rule violation, 422, as above."""
    _refused(
        kit.book(_body(kit, remove_appt_id_and_two_rank2), JSON_CONTENT, JSON_ACCEPT, integrity()),
        422,
    )


def test_book_appointment_happy_path_with_gzip(kit: Kit) -> None:
    body = gzipped(_body(kit, remove_appt_id))
    response = _booked(kit, body, {"Content-Encoding": "gzip", "Accept-Encoding": "gzip"})
    response_was_gzip(response)


def test_book_appointment_happy_path_with_resent_request_id(kit: Kit) -> None:
    body = _body(kit, remove_appt_id)
    first = _booked(kit, body)
    resent = {"X-Request-ID": first.headers["x-correlation-id"], "Content-Encoding": "gzip"}
    _refused(kit.book(gzipped(body), JSON_CONTENT, JSON_ACCEPT, resent), 409)

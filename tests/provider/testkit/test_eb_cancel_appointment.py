"""EB_CancelAppointment.tstp: read and cancel. `CancelAppointment_ServerError`,
`_BadGateway` and `_GatewayTimeout` are the kit simulator's sentinels (slots 16, 18, 19 make
the simulator answer 400, 500 and 504 on purpose): a real provider has no such input, so they
are not ported."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from lxml import etree

from tests.provider.testkit.kit import (
    JSON_ACCEPT,
    JSON_CONTENT,
    XML_ACCEPT,
    Kit,
    appointment_booked,
    as_json,
    cancel_appointment,
    change_patient_surname,
    first_slot,
    integrity,
    integrity_headers,
    remove_appt_id,
    remove_appt_id_and_contact,
    response_is,
    template,
)

Transform = Callable[[etree._Element], etree._Element]


def _book_and_read(kit: Kit, transform: Transform) -> tuple[dict, httpx.Response, bytes]:
    """SFFSWithValidParameters_3_days_N ... BookAppointment_N, ResponseIsAppointmentExtractingN,
    the integrity headers, ReadAppointmentN. Returns the slot, the booking and its body."""
    slot = first_slot(kit.search_3_days())
    created = datetime.now(UTC).replace(microsecond=0).isoformat()
    ids = integrity()
    booked = kit.book(
        as_json(transform(template(slot, created=created))), JSON_CONTENT, JSON_ACCEPT, ids
    )
    assert booked.status_code == 201, booked.text[:300]
    appointment = appointment_booked(booked)
    integrity_headers(ids["X-Request-ID"], booked)
    read = kit.read(appointment["id"], JSON_ACCEPT)
    assert read.status_code == 200, read.text[:300]
    response_is(read, "Appointment")
    # The kit's cancel template: the book template with the appointment's id (and contact).
    full = template(slot, appointment_id=appointment["id"], created=created)
    return slot, booked, etree.tostring(full)


def _cancel(
    kit: Kit,
    booked: httpx.Response,
    body: bytes,
    *extra: dict[str, str],
    token: str | None = "book_cancel",
) -> httpx.Response:
    appointment_id = booked.json()["id"]
    return kit.cancel(
        appointment_id,
        body,
        {"Location": booked.headers["location"]},
        JSON_CONTENT,
        JSON_ACCEPT,
        *extra,
        token=token,
    )


def _transformed(body: bytes, transform: Transform) -> bytes:
    return as_json(transform(etree.fromstring(body)))


def _refused(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text[:300]
    response_is(response, "OperationOutcome")


def test_read_non_existent_appointment(kit: Kit) -> None:
    response = kit.read("95e58add-0b10-4a8c-817c-2729eb0cab75", XML_ACCEPT)
    _refused(response, 404)


def test_cancel_appointment_happy_path(kit: Kit) -> None:
    _, booked, body = _book_and_read(kit, remove_appt_id)
    ids = integrity()
    response = _cancel(
        kit,
        booked,
        _transformed(body, cancel_appointment),
        {"If-Match": booked.headers["etag"]},
        ids,
    )
    assert response.status_code == 200, response.text[:300]
    assert response_is(response, "Appointment")["status"] == "cancelled"
    integrity_headers(ids["X-Request-ID"], response)
    assert response.headers["last-modified"]  # LastModifiedHeaderIsPresent
    assert response.headers["etag"]  # ETagHeaderIsPresent


def test_cancel_appointment_differences_detected(kit: Kit) -> None:
    _, booked, body = _book_and_read(kit, remove_appt_id_and_contact)
    response = _cancel(
        kit,
        booked,
        _transformed(body, change_patient_surname),
        {"If-Match": booked.headers["etag"]},
        integrity(),
    )
    _refused(response, 422)


def test_cancel_appointment_version_conflict(kit: Kit) -> None:
    _, booked, body = _book_and_read(kit, remove_appt_id_and_contact)
    response = _cancel(
        kit,
        booked,
        _transformed(body, cancel_appointment),
        {"If-Match": 'W/"999ff9ff-999f-9999-99fffff9999ff99ff"'},
        integrity(),
    )
    _refused(response, 409)


def test_cancel_appointment_if_match_header_missing(kit: Kit) -> None:
    _, booked, body = _book_and_read(kit, remove_appt_id_and_contact)
    response = _cancel(kit, booked, _transformed(body, cancel_appointment), integrity())
    _refused(response, 412)


def test_cancel_appointment_forbidden(kit: Kit) -> None:
    """No JWT: the kit wants 403; RFC 6750 (which DESIGN follows) says 401 invalid_token."""
    _, booked, body = _book_and_read(kit, remove_appt_id_and_contact)
    response = _cancel(
        kit,
        booked,
        _transformed(body, cancel_appointment),
        {"If-Match": booked.headers["etag"]},
        integrity(),
        token=None,
    )
    _refused(response, 401)

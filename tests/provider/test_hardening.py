"""What an attack on the sandbox found (issue 13) and the test kit's transport checks (issue 14),
each over real HTTP on both stores: a 4xx with an OperationOutcome, never a 5xx."""

from __future__ import annotations

import http.client
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
import pytest
from fhir.resources.STU3.appointment import Appointment
from lxml import etree
from sqlalchemy import create_engine, text, update

from tests.provider.conftest import Provider
from tests.provider.helpers import FHIR_JSON, FHIR_XML, appointment, later, search_free, tkw_body
from tests.provider.test_errors import count_appointments, outcome, spine_code
from uec_booking.provider.store.db import sync_url
from uec_booking.provider.store.models import SlotRow


def _book(provider: Provider, body: dict[str, Any]) -> Any:
    return provider.client.post(
        f"{provider.url}/Appointment", content=orjson.dumps(body), headers=FHIR_JSON
    )


@pytest.mark.parametrize(
    "bound",
    [
        "ge0001-01-01T00:00:00+14:00",
        "le9999-12-31T23:59:59-14:00",
        "lt9999-12-31",
        "ge0001-01-01",
        "le9999",
        "ge2026-11-24T10:00:60Z",  # a leap second: no such instant here
        "ge2026-11-24T24:00:00Z",
    ],
)
def test_extreme_dates_are_400_not_500(provider: Provider, bound: str) -> None:
    response = provider.client.get(
        f"{provider.url}/Slot", params=[("start", f"le{later(5)}"), ("start", bound)]
    )
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        outcome(response, 400)
    search = provider.client.get(
        f"{provider.url}/Appointment",
        params=[("patient:identifier", "9000000009"), ("start", bound)],
    )
    assert search.status_code in (200, 400), search.text


def test_client_errors_keep_the_connection_open(provider: Provider) -> None:
    """A 500 closed the keep-alive connection; a client's mistake answered 4xx leaves it open:
    every request below goes over one socket, and the last, a plain search, is answered."""
    where = urlsplit(provider.url)
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
    deep = '<valueString value="x"/>'
    for depth in range(200):
        deep = f'<extension url="http://example.org/e{depth}">{deep}</extension>'
    xml = f'<Appointment xmlns="http://hl7.org/fhir">{deep}<status value="booked"/></Appointment>'
    window = urlencode([("start", f"le{later(5)}"), ("start", "ge0001-01-01T00:00:00+14:00")])
    hostile: list[tuple[str, str, str | None, dict[str, str]]] = [
        ("GET", f"{where.path}/Slot?{window}", None, {}),
        ("POST", f"{where.path}/Appointment", xml, {"Content-Type": "application/fhir+xml"}),
        ("GET", f"{where.path}/Appointment/x/_history/18446744073709551616", None, {}),
        ("POST", f"{where.path}/Appointment", "{", {"Content-Type": "application/fhir+json"}),
    ]
    try:
        connection.connect()
        socket = connection.sock
        for method, path, body, headers in hostile:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            answer.read()
            assert 400 <= answer.status < 500, (path[:60], answer.status)
            assert answer.getheader("connection", "").lower() != "close", path[:60]
        connection.request("GET", f"{where.path}/Slot?{urlencode([('start', f'le{later(5)}')])}")
        last = connection.getresponse()
        last.read()
        assert last.status == 200 and connection.sock is socket
    finally:
        connection.close()


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-11-24T10:00:60Z"]
)
def test_extreme_instants_in_a_booking_are_4xx(provider: Provider, moment: str) -> None:
    slot = search_free(provider.client, provider.url)[0]
    body = dict(appointment(slot), start=moment)
    response = _book(provider, body)
    assert 400 <= response.status_code < 500, response.text
    outcome(response, response.status_code)


def test_deeply_nested_xml_extensions_are_4xx(provider: Provider) -> None:
    slot = search_free(provider.client, provider.url)[0]
    ext = '<valueString value="x"/>'
    for depth in range(200):
        ext = f'<extension url="http://example.org/e{depth}">{ext}</extension>'
    body = tkw_body("book_appt.xml", slot).replace(b"<status ", f"{ext}<status ".encode(), 1)
    response = provider.client.post(f"{provider.url}/Appointment", content=body, headers=FHIR_XML)
    assert response.status_code < 500, response.text


def test_control_characters_never_break_xml(provider: Provider) -> None:
    bad = {"resourceType": "Appointment", "status": "boo\u0001ked\u001b"}
    response = provider.client.post(
        f"{provider.url}/Appointment?_format=xml", content=orjson.dumps(bad), headers=FHIR_JSON
    )
    body = outcome(response, 400)  # parses as XML
    assert "\u0001" not in str(body)
    # FHIR strings carry no control characters: refused when sent, so none is ever stored.
    slot = search_free(provider.client, provider.url)[0]
    sent = _book(provider, dict(appointment(slot), description="a\u0001b"))
    outcome(sent, 400)
    assert count_appointments(provider.db_url) == 0


def test_a_stored_control_character_still_reads_as_xml(provider: Provider) -> None:
    slot = search_free(provider.client, provider.url)[0]
    booked = _book(provider, appointment(slot))
    assert booked.status_code == 201
    appt_id = booked.json()["id"]
    # As if written before input was checked: the XML read must still work.
    engine = create_engine(sync_url(provider.db_url))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE appointment SET body = replace(body, 'Reason for calling', :d)"),
            {"d": "Reason\\u0001 for calling"},  # as orjson writes it
        )
    engine.dispose()
    read = provider.client.get(f"{provider.url}/Appointment/{appt_id}", headers=FHIR_XML)
    assert read.status_code == 200, read.text
    etree.fromstring(read.content)


def test_huge_if_match_and_history_versions(provider: Provider) -> None:
    slot = search_free(provider.client, provider.url)[0]
    booked = _book(provider, appointment(slot))
    appt = booked.json()
    url = f"{provider.url}/Appointment/{appt['id']}"
    cancelled = orjson.dumps(dict(appt, status="cancelled"))
    for tag in ("9" * 5000, f'W/"{"9" * 5000}"', 'W/"999ff9ff-1c2d-4e5f-8a9b-0c1d2e3f4a5b"'):
        response = provider.client.put(
            url, content=cancelled, headers={**FHIR_JSON, "If-Match": tag}
        )
        outcome(response, 409)  # names a version that is not the current one
    outcome(provider.client.put(url, content=cancelled, headers=FHIR_JSON), 412)
    for version in ("9" * 30, "18446744073709551616", "9223372036854775808"):
        outcome(provider.client.get(f"{url}/_history/{version}"), 404)


@pytest.mark.parametrize("bad_id", ["abc%00def", "%00", "a" * 200])
def test_data_errors_are_4xx_not_503(provider: Provider, bad_id: str) -> None:
    for resource in ("Appointment", "Slot", "Schedule", "Location"):
        response = provider.client.get(f"{provider.url}/{resource}/{bad_id}")
        assert response.status_code in (400, 404), (resource, response.text)
    response = provider.client.get(
        f"{provider.url}/Slot",
        params=[("start", f"le{later(5)}"), ("schedule", "a\x00b")],
    )
    assert response.status_code in (200, 400, 404), response.text
    response = provider.client.get(
        f"{provider.url}/Appointment",
        params=[("patient:identifier", "90000\x0000009")],
    )
    assert response.status_code in (200, 400), response.text


def test_slots_that_have_started_cannot_be_booked(provider: Provider) -> None:
    slot = search_free(provider.client, provider.url)[0]
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    engine = create_engine(sync_url(provider.db_url))
    with engine.begin() as conn:  # typed, so the store's own datetime format is written
        conn.execute(
            update(SlotRow)
            .where(SlotRow.id == slot["id"])
            .values(
                start=started.replace(tzinfo=None),
                end=(started + timedelta(minutes=15)).replace(tzinfo=None),
            )
        )
    engine.dispose()
    body = dict(
        appointment(slot),
        start=started.isoformat(),
        end=(started + timedelta(minutes=15)).isoformat(),
    )
    response = _book(provider, body)
    assert outcome(response, 422)["issue"][0]["diagnostics"] == "Slot no longer available"
    assert count_appointments(provider.db_url) == 0


def test_content_type_has_no_space(provider: Provider) -> None:
    json_ = provider.client.get(f"{provider.url}/metadata")
    assert json_.headers["content-type"] == "application/fhir+json;charset=utf-8"
    xml = provider.client.get(
        f"{provider.url}/metadata", headers={"Accept": "application/fhir+xml"}
    )
    assert xml.headers["content-type"] == "application/fhir+xml;charset=utf-8"
    error = provider.client.get(f"{provider.url}/Nothing/here")
    assert error.headers["content-type"] == "application/fhir+json;charset=utf-8"


@pytest.mark.parametrize("media", ["application/json", "application/xml", "text/xml"])
def test_bodies_only_as_fhir_media_types(provider: Provider, media: str) -> None:
    slot = search_free(provider.client, provider.url)[0]
    body = orjson.dumps(appointment(slot)) if "json" in media else tkw_body("book_appt.xml", slot)
    response = provider.client.post(
        f"{provider.url}/Appointment", content=body, headers={"Content-Type": media}
    )
    assert spine_code(outcome(response, 415)) == "UNSUPPORTED_MEDIA_TYPE"
    assert count_appointments(provider.db_url) == 0
    # `_format` keeps its short forms for responses.
    short = provider.client.get(f"{provider.url}/metadata", params={"_format": media})
    assert short.status_code == 200


def test_unknown_elements_are_ignored(provider: Provider) -> None:
    first, second = search_free(provider.client, provider.url)[:2]
    body = appointment(first)
    body["madeUpElement"] = {"x": 1}
    body["contained"][0]["favouriteColour"] = "blue"
    body["participant"][0]["unheardOf"] = True
    booked = _book(provider, body)
    assert booked.status_code == 201, booked.text
    assert "madeUpElement" not in booked.text
    xml = tkw_body("book_appt.xml", second).replace(
        b"<status ", b'<madeUpElement value="1"/><status ', 1
    )
    response = provider.client.post(f"{provider.url}/Appointment", content=xml, headers=FHIR_XML)
    assert response.status_code == 201, response.text


def test_an_xml_consumer_cancels_a_json_booking(provider: Provider) -> None:
    slot = search_free(provider.client, provider.url)[0]
    body = appointment(slot)
    body["created"] = "2026-11-24T09:00:00.123+01:00"
    body["contained"][1]["indexed"] = "2026-11-24T09:00:00.5Z"
    booked = _book(provider, body)
    assert booked.status_code == 201, booked.text
    read = provider.client.get(
        f"{provider.url}/Appointment/{booked.json()['id']}",
        headers={"Accept": "application/fhir+xml"},
    )
    xml = read.content.replace(b'<status value="booked"/>', b'<status value="cancelled"/>')
    put = provider.client.put(
        f"{provider.url}/Appointment/{booked.json()['id']}",
        content=xml,
        headers={**FHIR_XML, "If-Match": booked.headers["etag"]},
    )
    assert put.status_code == 200, put.text
    assert Appointment.model_validate_xml(put.content).status == "cancelled"


def test_rank_1_is_unique_across_telecom_and_contact_telecom(provider: Provider) -> None:
    slot = search_free(provider.client, provider.url)[0]
    body = appointment(slot)
    body["contained"][0]["contact"] = [
        {
            "name": {"family": "Smith", "given": ["John"]},
            "telecom": [{"system": "phone", "value": "01632 960111", "rank": 1}],
        }
    ]
    outcome(_book(provider, body), 422)
    body["contained"][0]["contact"][0]["telecom"][0]["rank"] = 2
    assert _book(provider, body).status_code == 201


def test_a_dtd_anywhere_is_refused(provider: Provider) -> None:
    slot = search_free(provider.client, provider.url)[0]
    xml = tkw_body("book_appt.xml", slot)
    padding = b"<!--" + b" " * 8000 + b"-->"
    for body in (
        b'<?xml version="1.0"?>' + padding + b"<!DOCTYPE Appointment [<!ELEMENT a ANY>]>" + xml,
        b" " * 5000 + b'<!DOCTYPE Appointment SYSTEM "file:///etc/passwd">' + xml,
    ):
        # Well-formed XML: refused for its DTD, not for anything else.
        etree.fromstring(body, parser=etree.XMLParser(load_dtd=False, no_network=True))
        response = provider.client.post(
            f"{provider.url}/Appointment", content=body, headers=FHIR_XML
        )
        assert "DTD" in outcome(response, 400)["issue"][0]["diagnostics"]
    assert count_appointments(provider.db_url) == 0


@pytest.mark.parametrize(
    ("element", "value"),
    [
        (
            "text",
            {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
        ),
        ("extension", [{"url": "http://example.org/other", "valueString": "x"}]),
        ("modifierExtension", [{"url": "http://example.org/mod", "valueBoolean": True}]),
        ("language", "fr"),
        ("comment", "changed on cancel"),
    ],
)
def test_a_cancel_changes_only_the_cancellation_elements(
    provider: Provider, element: str, value: Any
) -> None:
    slot = search_free(provider.client, provider.url)[0]
    booked = _book(provider, appointment(slot))
    appt = booked.json()
    url = f"{provider.url}/Appointment/{appt['id']}"
    headers = {**FHIR_JSON, "If-Match": booked.headers["etag"]}
    changed = dict(appt, status="cancelled", **{element: value})
    outcome(provider.client.put(url, content=orjson.dumps(changed), headers=headers), 422)
    reason = {
        "url": "https://fhir.hl7.org.uk/STU3/StructureDefinition/"
        "Extension-CareConnect-AppointmentCancellationReason-1",
        "valueString": "Patient improved",
    }
    ok = dict(appt, status="cancelled", extension=[reason])
    put = provider.client.put(url, content=orjson.dumps(ok), headers=headers)
    assert put.status_code == 200, put.text
    assert put.json()["extension"] == [reason]

"""Every error path answers an OperationOutcome with the right status, and writes nothing."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fhir.resources.STU3.operationoutcome import OperationOutcome
from sqlalchemy import create_engine, text

from tests.provider.conftest import Provider
from tests.provider.helpers import (
    FHIR_JSON,
    FHIR_XML,
    SERVICE,
    appointment,
    later,
    search_free,
    service_search,
)
from uec_booking.provider.app import create_app
from uec_booking.provider.resources.appointment import APPOINTMENT_SEARCH
from uec_booking.provider.resources.slot import SLOT_SEARCH
from uec_booking.provider.settings import AuthMode, ProviderSettings
from uec_booking.provider.store.db import sync_url


def outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    if "xml" in response.headers["content-type"]:
        body = orjson.loads(OperationOutcome.model_validate_xml(response.content).model_dump_json())
    else:
        body = response.json()
    assert body["resourceType"] == "OperationOutcome" and body["id"]
    assert body["issue"] and body["issue"][0]["severity"] == "error"
    return body


def spine_code(body: dict[str, Any]) -> str | None:
    coding = body["issue"][0].get("details", {}).get("coding", [{}])
    return coding[0].get("code")


def count_appointments(db_url: str) -> int:
    engine = create_engine(sync_url(db_url))
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM appointment")).scalar_one()
    engine.dispose()
    return int(n)


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        (
            [("status", "free"), ("start", "ge2026-01-01")],
            400,
            "INVALID_PARAMETER",
        ),  # no upper bound
        ([("start", "le2001-01-01")], 400, "INVALID_PARAMETER"),  # wholly in the past
        ([("start", f"le{later(5)}"), ("start", "genot-a-date")], 400, "INVALID_PARAMETER"),
        ([("start", f"le{later(5)}"), ("status", "sleepy")], 400, "INVALID_PARAMETER"),
        ([("start", f"le{later(5)}"), ("start", "sa2030-01-01")], 400, "INVALID_PARAMETER"),
        ([("start", f"le{later(5)}"), ("_count", "lots")], 400, "INVALID_PARAMETER"),
        (
            [("start", f"le{later(5)}"), ("schedule.actor:healthcareservice", "999")],
            404,
            "NO_RECORD_FOUND",
        ),
        ([("start", f"le{later(5)}"), ("_format", "text/csv")], 415, "UNSUPPORTED_MEDIA_TYPE"),
    ],
)
def test_slot_search_errors(
    provider: Provider, params: list[tuple[str, str]], status: int, code: str
) -> None:
    body = outcome(provider.client.get(f"{provider.url}/Slot", params=params), status)
    assert spine_code(body) == code


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("Slot", [("start", f"le{later(24)}"), ("status", "free")]),
        ("Appointment", [("patient:identifier", "9000000009")]),
    ],
)
def test_unknown_parameters_reported_unless_strict(
    provider: Provider, path: str, params: list[tuple[str, str]]
) -> None:
    """Every search: an unknown parameter is ignored and said so in the Bundle's outcome
    entry; under `Prefer: handling=strict` it is refused."""
    url = f"{provider.url}/{path}"
    plain = provider.client.get(url, params=params)
    assert plain.status_code == 200
    assert all(e["search"]["mode"] != "outcome" for e in plain.json().get("entry", []))
    unknown = [*params, ("colour", "blue")]
    lenient = provider.client.get(url, params=unknown)
    assert lenient.status_code == 200, lenient.text
    notes = [e["resource"] for e in lenient.json()["entry"] if e["search"]["mode"] == "outcome"]
    assert [i["expression"] for n in notes for i in n["issue"]] == [["colour"]]
    for prefer in ("handling=strict", "return=representation; handling=strict"):
        strict = provider.client.get(url, params=unknown, headers={"Prefer": prefer})
        assert "colour" in outcome(strict, 400)["issue"][0]["diagnostics"]
    lenient_asked = provider.client.get(url, params=unknown, headers={"Prefer": "handling=lenient"})
    assert lenient_asked.status_code == 200


def test_search_parameters_are_documented_in_openapi(db_url: str) -> None:
    """The OpenAPI description reads the same declarations the parser does."""
    app = create_app(ProviderSettings(db_url=db_url, auth_mode=AuthMode.OFF))
    paths = app.openapi()["paths"]
    for path, spec in (("/fhir/Slot", SLOT_SEARCH), ("/fhir/Appointment", APPOINTMENT_SEARCH)):
        described = {p["name"]: p for p in paths[path]["get"]["parameters"]}
        for param in spec.params:
            assert described[param.name]["description"].startswith(param.documentation)
            assert described[param.name]["required"] is param.required
    assert "Slot:schedule" in str(paths["/fhir/Slot"]["get"]["parameters"])


def test_no_slots_is_an_empty_bundle(provider: Provider) -> None:
    response = provider.client.get(
        f"{provider.url}/Slot",
        params=[("start", "ge2099-01-01"), ("start", "le2099-01-02"), ("status", "free")],
    )
    assert response.status_code == 200
    assert response.json()["total"] == 0 and "entry" not in response.json()  # no empty arrays


def test_unsupported_accept_is_415(provider: Provider) -> None:
    outcome(provider.client.get(f"{provider.url}/metadata", headers={"Accept": "text/plain"}), 415)


def _post(provider: Provider, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return provider.client.post(
        f"{provider.url}/Appointment", content=body, headers=headers or FHIR_JSON
    )


def test_booking_input_errors_write_nothing(provider: Provider) -> None:
    slot = search_free(provider.client, provider.url)[0]
    good = appointment(slot)
    cases: list[tuple[bytes, dict[str, str] | None, int, str | None]] = [
        (b"{not json", None, 400, "BAD_REQUEST"),
        (b"[]", None, 400, "BAD_REQUEST"),
        (orjson.dumps({**good, "resourceType": "Patient"}), None, 400, "INVALID_PARAMETER"),
        (orjson.dumps({**good, "status": "bogus"}), None, 400, "INVALID_RESOURCE"),
        (orjson.dumps(good), {"Content-Type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        (orjson.dumps(good), {"Content-Type": "application/fhir+json; charset=latin-1"}, 415, None),
        (orjson.dumps({**good, "status": "proposed"}), None, 422, "INVALID_RESOURCE"),
        (orjson.dumps({**good, "slot": []}), None, 422, "INVALID_RESOURCE"),
        (
            orjson.dumps({**good, "slot": [{"reference": "Slot/nope"}]}),
            None,
            422,
            "REFERENCE_NOT_FOUND",
        ),
        (orjson.dumps({**good, "end": later(500)}), None, 422, "INVALID_RESOURCE"),
        (
            orjson.dumps(
                {**good, "participant": [{"actor": {"reference": "#D1"}, "status": "accepted"}]}
            ),
            None,
            422,
            None,
        ),
        (
            orjson.dumps({**good, "supportingInformation": [{"reference": "#missing"}]}),
            None,
            422,
            "REFERENCE_NOT_FOUND",
        ),
        (orjson.dumps(appointment(slot, nhs_number="9000000001")), None, 422, "INVALID_NHS_NUMBER"),
        (
            b"<Appointment xmlns='http://hl7.org/fhir'><status value='booked'",
            FHIR_XML,
            400,
            "BAD_REQUEST",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxxxxxxxx"><!ENTITY y "&x;&x;&x;&x;">]>'
            b"<Appointment xmlns='http://hl7.org/fhir'><status value='&y;'/></Appointment>",
            FHIR_XML,
            400,
            "BAD_REQUEST",
        ),
        (b"x" * (2 << 20), None, 413, None),
        (b"", None, 400, "BAD_REQUEST"),
    ]
    for body, headers, status, code in cases:
        result = outcome(_post(provider, body, headers), status)
        if code:
            assert spine_code(result) == code, (status, result)
    assert count_appointments(provider.db_url) == 0
    assert provider.client.get(f"{provider.url}/Slot/{slot['id']}").json()["status"] == "free"


def test_gzip_both_ways_and_request_ids(provider: Provider) -> None:
    slot = search_free(provider.client, provider.url)[0]
    response = provider.client.post(
        f"{provider.url}/Appointment",
        content=gzip.compress(orjson.dumps(appointment(slot))),
        headers={**FHIR_JSON, "Content-Encoding": "gzip", "X-Request-ID": "abc-123"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["x-correlation-id"] == "abc-123"
    assert response.headers["x-request-id"] and response.headers["x-request-id"] != "abc-123"
    assert response.headers["cache-control"] == "no-store"
    bundle = provider.client.get(
        f"{provider.url}/Slot",
        params=[("start", f"le{later(48)}"), ("status", "free")],
        headers={"Accept-Encoding": "gzip"},
    )
    assert bundle.headers["content-encoding"] == "gzip" and bundle.json()["entry"]


def test_a_gzipped_search_from_a_view_is_its_plain_search(provider: Provider) -> None:
    """A view's page keeps its entries compressed beside them; a gzipped answer deflates only
    its head around them. Decoded, it is the same search, the first time and when kept."""
    params = service_search(SERVICE, ("_include", "Slot:schedule"))
    plain = provider.client.get(
        f"{provider.url}/Slot", params=params, headers={"Accept-Encoding": "identity"}
    )
    assert "content-encoding" not in plain.headers
    expected = plain.json()
    expected.pop("id")
    for _ in range(2):  # compressed, then the kept compression
        zipped = provider.client.get(
            f"{provider.url}/Slot", params=params, headers={"Accept-Encoding": "gzip"}
        )
        assert zipped.headers["content-encoding"] == "gzip"
        assert int(zipped.headers["content-length"]) < len(plain.content) / 3
        got = zipped.json()
        assert got.pop("id") != plain.json()["id"]  # each answer its own Bundle id
        assert got == expected


def test_repeated_request_id_is_409_and_books_once(provider: Provider) -> None:
    slots = search_free(provider.client, provider.url)
    headers = {**FHIR_JSON, "X-Request-ID": "retry-me-1"}
    body = orjson.dumps(appointment(slots[0]))
    first = _post(provider, body, headers)
    assert first.status_code == 201
    # The same request again (a client retry): the original outcome, naming the booking.
    dup = outcome(_post(provider, body, headers), 409)
    assert spine_code(dup) == "DUPLICATE_REJECTED"
    again = _post(provider, body, headers)
    assert again.headers["content-location"] == first.headers["location"]
    # The same id on another request (another slot): refused, saying why.
    other = outcome(_post(provider, orjson.dumps(appointment(slots[1])), headers), 422)
    assert spine_code(other) == "DUPLICATE_REJECTED"
    assert count_appointments(provider.db_url) == 1
    assert provider.client.get(f"{provider.url}/Slot/{slots[1]['id']}").json()["status"] == "free"


def test_cancel_errors(provider: Provider) -> None:
    c, base = provider.client, provider.url
    slot = search_free(c, base)[0]
    booked = _post(provider, orjson.dumps(appointment(slot)))
    appt = booked.json()
    url = f"{base}/Appointment/{appt['id']}"
    cancelled = orjson.dumps(dict(appt, status="cancelled"))
    outcome(c.put(url, content=cancelled, headers=FHIR_JSON), 412)
    outcome(c.put(url, content=cancelled, headers={**FHIR_JSON, "If-Match": 'W/"7"'}), 409)
    moved = orjson.dumps(dict(appt, status="cancelled", description="changed"))
    outcome(c.put(url, content=moved, headers={**FHIR_JSON, "If-Match": 'W/"1"'}), 422)
    other_id = orjson.dumps(dict(appt, status="cancelled", id="someone-else"))
    outcome(c.put(url, content=other_id, headers={**FHIR_JSON, "If-Match": 'W/"1"'}), 400)
    outcome(
        c.put(url, content=orjson.dumps(dict(appt)), headers={**FHIR_JSON, "If-Match": 'W/"1"'}),
        422,
    )
    outcome(
        c.put(
            f"{base}/Appointment/nope",
            content=orjson.dumps(dict(appt, id="nope", status="cancelled")),
            headers={**FHIR_JSON, "If-Match": 'W/"1"'},
        ),
        404,
    )
    assert c.get(f"{base}/Slot/{slot['id']}").json()["status"] == "busy"
    ok = c.put(url, content=cancelled, headers={**FHIR_JSON, "If-Match": 'W/"1"'})
    assert ok.status_code == 200
    outcome(c.put(url, content=cancelled, headers={**FHIR_JSON, "If-Match": 'W/"1"'}), 409)


def test_reads_and_routes(provider: Provider) -> None:
    c, base = provider.client, provider.url
    assert spine_code(outcome(c.get(f"{base}/Appointment/nope"), 404)) == "NO_RECORD_FOUND"
    outcome(c.get(f"{base}/Slot/nope"), 404)
    outcome(c.get(f"{base}/Patient/1"), 404)
    outcome(c.delete(f"{base}/Appointment/x"), 405)
    outcome(c.get(f"{base}/Appointment"), 400)  # the patient is required
    outcome(c.get(f"{base}/Appointment", params={"patient:identifier": "urn:x|1"}), 400)


def test_header_values_are_bounded(provider: Provider) -> None:
    slot = search_free(provider.client, provider.url)[0]
    body = orjson.dumps(appointment(slot))
    outcome(_post(provider, body, {**FHIR_JSON, "X-Request-ID": "r" * 129}), 400)
    long_trace = {**FHIR_JSON, "Ssp-TraceID": "t" * 5000, "Ssp-From": "9" * 500}
    assert _post(provider, body, long_trace).status_code == 201


def test_unexpected_errors_are_operation_outcomes(tmp_path: Path) -> None:
    from uec_booking.asgi_server import ThreadedServer
    from uec_booking.provider.app import create_app
    from uec_booking.provider.settings import AuthMode, ProviderSettings

    app = create_app(
        ProviderSettings(db_url=f"sqlite:///{tmp_path / 'x.sqlite3'}", auth_mode=AuthMode.OFF)
    )

    @app.get("/fhir/_boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    with ThreadedServer(app) as server:
        response = httpx.get(f"{server.url}/fhir/_boom")
    assert response.status_code == 500
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == "exception"
    assert "a bug" not in response.text, "no internals leak into the answer"

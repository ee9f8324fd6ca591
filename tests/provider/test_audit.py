"""Every booking and cancellation attempt is in the audit trail, readable with `uec-booking audit`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, select

from tests.provider.conftest import Provider
from tests.provider.helpers import FHIR_JSON, appointment, search_free
from tests.provider.test_ownership import DIRECTORY, FIRST, TwoConsumers, _serve
from uec_booking.consumer.auth import ClientCredentialsTokens
from uec_booking.provider.settings import AppointmentAccess
from uec_booking.provider.store.db import sync_url
from uec_booking.provider.store.models import AuditEvent


def test_bookings_cancellations_and_failures_are_audited(provider: Provider) -> None:
    c, base = provider.client, provider.url
    slot = search_free(c, base)[0]
    spine = {"Ssp-TraceID": "0b5f1a8e-6d43-4c1e-9d8a-1f2e3d4c5b6a", "Ssp-From": "200000000201"}
    booked = c.post(
        f"{base}/Appointment",
        content=orjson.dumps(appointment(slot)),
        headers={**FHIR_JSON, **spine, "X-Request-ID": "audit-1"},
    )
    assert booked.status_code == 201
    taken = c.post(
        f"{base}/Appointment",
        content=orjson.dumps(appointment(slot)),
        headers={**FHIR_JSON, **spine},
    )
    assert taken.status_code == 422
    appt = booked.json()
    cancel = c.put(
        f"{base}/Appointment/{appt['id']}",
        content=orjson.dumps(dict(appt, status="cancelled")),
        headers={**FHIR_JSON, **spine, "If-Match": booked.headers["etag"]},
    )
    assert cancel.status_code == 200

    result = subprocess.run(
        [sys.executable, "-m", "uec_booking", "audit", "--db", provider.db_url, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["interaction"], e["status"], e["outcome"]) for e in events] == [
        ("create:appointment", 201, "success"),
        ("create:appointment", 422, "failure"),
        ("update:appointment", 200, "success"),
    ]
    assert {e["trace_id"] for e in events} == {spine["Ssp-TraceID"]}
    assert {e["asid"] for e in events} == {"200000000201"}
    assert events[0]["resource_id"] == events[2]["resource_id"] == appt["id"]
    assert events[0]["request_id"] == "audit-1"
    assert events[1]["detail"] == "Slot no longer available"


def _audit_rows(db_url: str) -> list[tuple[Any, ...]]:
    engine = create_engine(sync_url(db_url))
    with engine.connect() as conn:
        found = conn.execute(
            select(
                AuditEvent.interaction,
                AuditEvent.status_code,
                AuditEvent.outcome,
                AuditEvent.asid,
                AuditEvent.ods,
                AuditEvent.client_id,
                AuditEvent.trace_id,
            ).order_by(AuditEvent.id)
        ).all()
    engine.dispose()
    return [tuple(r) for r in found]


def test_refused_bookings_are_audited(provider: Provider) -> None:
    c, base = provider.client, provider.url
    slot = search_free(c, base)[0]
    spine = {"Ssp-TraceID": "7d1c0f3e-1111-4c1e-9d8a-1f2e3d4c5b6a", "Ssp-From": "200000000201"}
    no_slot = appointment(slot)
    no_slot.pop("slot")
    for body, status in (
        (orjson.dumps(appointment(slot, nhs_number="9000000001")), 422),  # invalid NHS number
        (orjson.dumps(dict(appointment(slot), status="proposed")), 422),
        (orjson.dumps(no_slot), 422),
        (b'{"resourceType": "Appointment", "status": ', 400),  # malformed
    ):
        response = c.post(f"{base}/Appointment", content=body, headers={**FHIR_JSON, **spine})
        assert response.status_code == status, response.text
    rows = _audit_rows(provider.db_url)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("create:appointment", 422, "failure"),
        ("create:appointment", 422, "failure"),
        ("create:appointment", 422, "failure"),
        ("create:appointment", 400, "failure"),
    ]
    assert {(r[3], r[6]) for r in rows} == {(spine["Ssp-From"], spine["Ssp-TraceID"])}


@pytest.fixture
def two(db_url: str) -> Iterator[TwoConsumers]:
    yield from _serve(db_url, AppointmentAccess.ORGANISATION)


def test_refused_tokens_and_malformed_requests_are_audited_with_the_consumer(
    two: TwoConsumers,
) -> None:
    dashboard = DIRECTORY["consumer_systems"][1]
    source = ClientCredentialsTokens(
        token_url=f"{two.auth_url}/oauth2/token",
        client_id=dashboard["client_id"],
        client_secret=dashboard["client_secret"],
    )
    dashboard_token = asyncio.run(source.token(audience=two.base))
    url = f"{two.base}/Appointment"
    spine = {"Ssp-From": FIRST["asid"], "Ssp-TraceID": "trace-refused"}
    assert httpx.post(url, content=b"{}", headers={**FHIR_JSON, **spine}).status_code == 401
    forbidden = httpx.post(
        url,
        content=b"{}",
        headers={**FHIR_JSON, **spine, "Authorization": f"Bearer {dashboard_token}"},
    )
    assert forbidden.status_code == 403
    malformed = httpx.post(url, content=b"{not json", headers=two.headers(FIRST, **spine))
    assert malformed.status_code == 400
    rows = _audit_rows(two.db_url)
    assert [(r[0], r[1]) for r in rows] == [
        ("create:appointment", 401),
        ("create:appointment", 403),
        ("create:appointment", 400),
    ]
    # The malformed request is a consumer-side error recorded with the consumer's identity.
    assert rows[2][3:6] == (FIRST["asid"], FIRST["ods"], FIRST["client_id"])
    assert all(r[6] == "trace-refused" for r in rows)

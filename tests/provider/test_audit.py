"""Every booking and cancellation attempt is in the audit trail, readable with `uec-booking audit`."""

from __future__ import annotations

import json
import subprocess
import sys

import orjson

from tests.provider.conftest import Provider
from tests.provider.helpers import FHIR_JSON, appointment, search_free


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

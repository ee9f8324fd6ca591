"""The request bodies the test kit sends, in JSON: its `book_appt.xml` template (a contained
Slot referenced as `#<id>`, contained Patient and DocumentReference) and the variants its
pre-transforms make (`remove_appt_id_and_contact`, `…_and_nhs_no`, `…_and_telecom`,
`…_and_change_rank`, `…_and_two_rank2`, `cancel_appointment`, `change_patient_surname`)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from uec_booking.fhir.nhs_number import verified_nhs_number
from uec_booking.fhir.urls import (
    CARECONNECT_APPOINTMENT,
    CARECONNECT_PATIENT,
    IUC_REPORT_TYPE,
)

TEST_NHS_NUMBER = "9000000009"  # a published PDS sandbox test number
INVALID_NHS_NUMBER = "9000000001"  # wrong check digit


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def patient(*, nhs_number: str | None = TEST_NHS_NUMBER, contact: bool = True) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": "pat1",
        "meta": {"profile": [CARECONNECT_PATIENT]},
        "name": [{"use": "official", "family": "Checker", "given": ["Assurance"]}],
        "telecom": [{"system": "phone", "value": "01632 960000", "use": "mobile", "rank": 1}],
        "gender": "female",
        "birthDate": "1985-10-22",
        "address": [
            {"use": "home", "line": ["1 Park Row"], "city": "Leeds", "postalCode": "LS1 6AE"}
        ],
    }
    if nhs_number is not None:
        resource["identifier"] = [verified_nhs_number(nhs_number)]
    if contact:
        resource["contact"] = [
            {
                "relationship": [
                    {"coding": [{"system": "http://hl7.org/fhir/v2/0131", "code": "N"}]}
                ],
                "name": {"use": "official", "family": "Checker", "given": ["Next"]},
                "telecom": [{"system": "phone", "value": "01632 960001", "use": "home", "rank": 2}],
            }
        ]
    return resource


def book(slot: dict[str, Any], *, pat: dict[str, Any] | None = None) -> dict[str, Any]:
    """The kit's booking body for a Slot found free (its resource as the provider sent it)."""
    contained_slot: dict[str, Any] = {
        k: slot[k]
        for k in ("resourceType", "id", "identifier", "schedule", "start", "end")
        if k in slot
    }
    contained_slot["status"] = "busy"
    return {
        "resourceType": "Appointment",
        "meta": {"profile": [CARECONNECT_APPOINTMENT]},
        "language": "en-GB",
        "contained": [
            {
                "resourceType": "DocumentReference",
                "id": "report1",
                "status": "current",
                "type": IUC_REPORT_TYPE,
                "indexed": _now(),
                "content": [
                    {"attachment": {"contentType": "application/hl7-v3+xml", "language": "en"}}
                ],
            },
            contained_slot,
            pat or patient(contact=False),  # remove_appt_id_and_contact.xslt
        ],
        "status": "booked",
        "description": "uec-booking check: assurance booking",
        "supportingInformation": [{"reference": "#report1"}],
        "start": slot["start"],
        "end": slot["end"],
        "slot": [{"reference": f"#{slot['id']}"}],
        "created": _now(),
        "participant": [
            {
                "actor": {"reference": "#pat1", "display": "Assurance Checker"},
                "status": "accepted",
            }
        ],
    }


def with_patient(body: dict[str, Any], pat: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(body)
    out["contained"] = [r for r in out["contained"] if r["resourceType"] != "Patient"] + [pat]
    return out


def two_rank1(slot: dict[str, Any]) -> dict[str, Any]:
    """remove_appt_id_and_change_rank.xslt: the contact's telecom is rank 1 too."""
    pat = patient()
    pat["contact"][0]["telecom"][0]["rank"] = 1
    return book(slot, pat=pat)


def no_rank1(slot: dict[str, Any]) -> dict[str, Any]:
    """remove_appt_id_and_two_rank2.xslt: no telecom of rank 1."""
    pat = patient()
    pat["telecom"][0]["rank"] = 2
    return book(slot, pat=pat)


def cancel(stored: dict[str, Any]) -> dict[str, Any]:
    """cancel_appointment.xslt: the stored Appointment with status cancelled."""
    out = copy.deepcopy(stored)
    out["status"] = "cancelled"
    return out


def change_surname(stored: dict[str, Any]) -> dict[str, Any]:
    """change_patient_surname.xslt: a cancel that also changes the patient (not allowed)."""
    out = cancel(stored)
    for resource in out.get("contained", []):
        if resource.get("resourceType") == "Patient":
            resource["name"][0]["family"] = "Changed"
    return out

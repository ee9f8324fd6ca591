"""The Appointment a consumer sends, as the standard's profile overrides fix it: no id,
CareConnect profile, one slot, a contained PDS-verified Patient (the single participant) and
a contained DocumentReference (the single supportingInformation)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from uec_booking.consumer.models import FreeSlot, VerifiedPatient
from uec_booking.fhir.nhs_number import verified_nhs_number
from uec_booking.fhir.urls import (
    CARECONNECT_APPOINTMENT,
    CARECONNECT_PATIENT,
    IUC_REPORT_TYPE,
)


def appointment_for(
    slot: FreeSlot, patient: VerifiedPatient, *, description: str
) -> dict[str, Any]:
    """The Appointment the standard has a consumer send: no id, CareConnect profile, one slot,
    a contained PDS-verified Patient and a contained DocumentReference."""
    name: dict[str, Any] = {"use": "official", "family": patient.family, "given": patient.given}
    if patient.prefix:
        name["prefix"] = patient.prefix
    contained_patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": "P1",
        "meta": {"profile": [CARECONNECT_PATIENT]},
        "identifier": [verified_nhs_number(patient.nhs_number)],
        "name": [name],
        "gender": patient.gender,
        "birthDate": patient.birth_date,
    }
    if patient.phone:
        contained_patient["telecom"] = [
            {"system": "phone", "value": patient.phone, "use": "home", "rank": 1}
        ]
    if patient.postcode or patient.address_lines:
        address: dict[str, Any] = {"use": "home", "line": patient.address_lines}
        if patient.city:
            address["city"] = patient.city
        if patient.postcode:
            address["postalCode"] = patient.postcode
        contained_patient["address"] = [address]
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    return {
        "resourceType": "Appointment",
        "meta": {"profile": [CARECONNECT_APPOINTMENT]},
        "contained": [
            contained_patient,
            {
                "resourceType": "DocumentReference",
                "id": "D1",
                "status": "current",
                "type": IUC_REPORT_TYPE,
                "indexed": now,
                "content": [
                    {"attachment": {"contentType": "application/hl7-v3+xml", "language": "en"}}
                ],
            },
        ],
        "status": "booked",
        "description": description,
        "start": slot.resource["start"],
        "end": slot.resource["end"],
        "created": now,
        "slot": [{"reference": f"Slot/{slot.id}"}],
        "supportingInformation": [{"reference": "#D1"}],
        "participant": [
            {
                "actor": {
                    "reference": "#P1",
                    "display": " ".join([*patient.given, patient.family]),
                },
                "status": "accepted",
            }
        ],
    }

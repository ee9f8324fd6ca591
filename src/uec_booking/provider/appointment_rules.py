"""The standard's rules for the Appointment a consumer sends, and for a cancellation.

Structural problems (not FHIR at all) are 400s raised by the parser; everything here is a
profile or business rule, so it is a 422 with a precise OperationOutcome.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from uec_booking.fhir.errors import BadRequest, FhirError, Unprocessable
from uec_booking.fhir.nhs_number import is_valid, normalise
from uec_booking.fhir.reference import parse_reference
from uec_booking.fhir.urls import NHS_NUMBER_SYSTEM
from uec_booking.provider.search_dates import utc_naive

APPOINTMENT_STATUSES = frozenset(
    {
        "proposed",
        "pending",
        "booked",
        "arrived",
        "fulfilled",
        "cancelled",
        "noshow",
        "entered-in-error",
    }
)

# The elements a cancellation may change (the test kit's rule, DESIGN "Conflicts"): the
# status, meta, and the cancellation reason extension; anything else differing is refused.
CANCELLATION_ELEMENTS = frozenset({"status", "meta", "id"})
CANCELLATION_REASON_EXTENSIONS = frozenset(
    {
        "https://fhir.hl7.org.uk/STU3/StructureDefinition/"
        "Extension-CareConnect-AppointmentCancellationReason-1",
        "https://fhir.nhs.uk/STU3/StructureDefinition/"
        "Extension-GPConnect-AppointmentCancellationReason-1",
    }
)


@dataclass(frozen=True, slots=True)
class RequestedAppointment:
    slot_id: str
    start: datetime  # naive UTC
    end: datetime
    nhs_number: str | None
    resource: dict[str, Any]


def check_status_code(resource: dict[str, Any]) -> None:
    """An Appointment.status outside the STU3 value set is not valid FHIR at all: 400."""
    status = resource.get("status")
    if status not in APPOINTMENT_STATUSES:
        raise BadRequest(
            f"{status!r} is not an Appointment.status code",
            spine_code="INVALID_RESOURCE",
            expression="Appointment.status",
        )


def _contained(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("id", ""): c for c in resource.get("contained", []) or []}


def _resolve_contained(resource: dict[str, Any]) -> None:
    """Every `#id` reference must name a contained resource (FHIR ref-1)."""
    contained = _contained(resource)

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str) and ref.startswith("#") and ref[1:] not in contained:
                raise Unprocessable(
                    f"Reference '{ref}' at {path} does not name a contained resource",
                    spine_code="REFERENCE_NOT_FOUND",
                    expression=path,
                )
            for key, value in node.items():
                if key != "contained":
                    walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(resource, "Appointment")


def _nhs_numbers(identifiers: list[dict[str, Any]] | None) -> list[str]:
    return [
        str(i.get("value", "")) for i in identifiers or [] if i.get("system") == NHS_NUMBER_SYSTEM
    ]


def patient_nhs_number(resource: dict[str, Any]) -> str | None:
    """The NHS number of the Appointment's patient participant (contained or by identifier).

    Raises Unprocessable (INVALID_NHS_NUMBER) for a malformed one, or when two disagree.
    """
    contained = _contained(resource)
    found: list[str] = []
    for participant in resource.get("participant", []) or []:
        actor = participant.get("actor") or {}
        ref = actor.get("reference", "")
        target = contained.get(ref[1:]) if ref.startswith("#") else None
        if target is not None and target.get("resourceType") == "Patient":
            found += _nhs_numbers(target.get("identifier"))
        if ref.startswith("#") and target is not None and target.get("resourceType") != "Patient":
            continue
        if ref.startswith("Patient/") or (target is not None) or actor.get("identifier"):
            ident = actor.get("identifier")
            found += _nhs_numbers([ident] if isinstance(ident, dict) else ident)
    numbers = {normalise(n) for n in found}
    for number in numbers:
        if not is_valid(number):
            raise Unprocessable(
                f"'{number}' is not a valid NHS number",
                spine_code="INVALID_NHS_NUMBER",
                expression="Appointment.participant.actor",
            )
    if len(numbers) > 1:
        raise Unprocessable(
            "The Appointment names more than one NHS number for its patient",
            spine_code="INVALID_NHS_NUMBER",
        )
    return numbers.pop() if numbers else None


def _has_patient(resource: dict[str, Any]) -> bool:
    contained = _contained(resource)
    for participant in resource.get("participant", []) or []:
        actor = participant.get("actor") or {}
        ref = actor.get("reference", "")
        if ref.startswith("#") and contained.get(ref[1:], {}).get("resourceType") == "Patient":
            return True
        if ref.startswith("Patient/") or (
            not ref and _nhs_numbers([actor.get("identifier") or {}])
        ):
            return True
    return False


def _ranks(telecoms: Any) -> list[Any]:
    return [t.get("rank") for t in telecoms or [] if isinstance(t, dict) and "rank" in t]


def _check_contact_ranks(resource: dict[str, Any]) -> None:
    """fs_patientcontact: rank 1 names the one preferred way to reach the patient, across
    the patient's own telecom and their contacts' together."""
    for contained in resource.get("contained", []) or []:
        if contained.get("resourceType") != "Patient":
            continue
        ranks = _ranks(contained.get("telecom"))
        for contact in contained.get("contact", []) or []:
            if isinstance(contact, dict):
                ranks += _ranks(contact.get("telecom"))
        if ranks and ranks.count(1) != 1:
            raise Unprocessable(
                "The patient's contact points (Patient.telecom and Patient.contact.telecom "
                f"together) must have exactly one of rank 1, not {ranks.count(1)}",
                expression="Patient.telecom.rank",
            )


def slot_id_of(resource: dict[str, Any]) -> str:
    """The provider's slot id: from `Slot/<id>` or from the contained Slot `#<id>` names."""
    slots = resource.get("slot") or []
    if len(slots) != 1:
        raise Unprocessable(
            f"An Appointment must reference exactly one Slot (it references {len(slots)})",
            expression="Appointment.slot",
        )
    ref = parse_reference(str(slots[0].get("reference", "")))
    if not ref.id:
        raise Unprocessable("Appointment.slot has no reference", expression="Appointment.slot")
    if ref.contained:
        target = _contained(resource).get(ref.id)
        if target is None or target.get("resourceType") != "Slot":
            raise Unprocessable(
                f"'#{ref.id}' does not name a contained Slot", expression="Appointment.slot"
            )
        return str(target["id"])
    if ref.resource_type not in (None, "Slot"):
        raise Unprocessable(
            f"Appointment.slot must reference a Slot, not {ref.resource_type}",
            expression="Appointment.slot",
        )
    return ref.id


def booking_request(
    resource: dict[str, Any], *, start: datetime | None, end: datetime | None
) -> RequestedAppointment:
    """Check a new Appointment against the standard; the RequestedAppointment it makes."""
    check_status_code(resource)
    if resource.get("status") != "booked":
        raise Unprocessable(
            f"A new Appointment must have status 'booked', not {resource.get('status')!r}",
            expression="Appointment.status",
        )
    if start is None or end is None:
        raise Unprocessable(
            "Appointment.start and Appointment.end are required", expression="Appointment.start"
        )
    for name, moment in (("start", start), ("end", end)):
        if not isinstance(moment, datetime):  # a leap second (10:00:60Z) stays text
            raise BadRequest(
                f"Appointment.{name} {str(moment)[:40]!r} is not an instant this server keeps",
                expression=f"Appointment.{name}",
            )
    _resolve_contained(resource)
    slot_id = slot_id_of(resource)
    if not resource.get("participant") or not _has_patient(resource):
        raise Unprocessable(
            "The Appointment needs a participant whose actor is the Patient",
            expression="Appointment.participant",
        )
    nhs_number = patient_nhs_number(resource)
    _check_contact_ranks(resource)
    return RequestedAppointment(
        slot_id=slot_id,
        start=utc_naive(start),
        end=utc_naive(end),
        nhs_number=nhs_number,
        resource=resource,
    )


def cancellation(stored: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    """The cancelled Appointment: `incoming` may change only the cancellation elements."""
    check_status_code(incoming)
    if incoming.get("status") != "cancelled":
        raise Unprocessable(
            "Only cancellation is supported: status must be 'cancelled'",
            expression="Appointment.status",
        )
    if stored.get("status") == "cancelled":
        raise Unprocessable("The Appointment is already cancelled", expression="Appointment.status")
    changed = sorted(
        key
        for key in (set(stored) | set(incoming)) - CANCELLATION_ELEMENTS
        if _meaning(key, stored.get(key)) != _meaning(key, incoming.get(key))
    )
    if changed:
        raise Unprocessable(
            "A cancellation may change only the status and the cancellation reason; "
            f"these differ from the booked Appointment: {', '.join(changed)}",
            expression=f"Appointment.{changed[0]}",
        )
    cancelled = dict(stored)
    reasons = [e for e in incoming.get("extension") or [] if _is_reason(e)]
    kept = [e for e in stored.get("extension") or [] if not _is_reason(e)]
    if kept or reasons:
        cancelled["extension"] = kept + reasons
    cancelled["status"] = "cancelled"
    return cancelled


def _is_reason(extension: Any) -> bool:
    return isinstance(extension, dict) and extension.get("url") in CANCELLATION_REASON_EXTENSIONS


_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")


def _meaning(key: str, value: Any) -> Any:
    """A value as what it means, not how it was written: instants as the moment they name
    (whatever the offset or precision: JSON and XML consumers write them differently),
    numbers as numbers, and the cancellation reason extensions left out."""
    if key == "extension" and isinstance(value, list):
        value = [e for e in value if not _is_reason(e)] or None
    return _canonical(value)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_canonical(v) for v in value] or None
    if isinstance(value, str) and _INSTANT.match(value):
        try:
            return utc_naive(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except (ValueError, FhirError):
            return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value

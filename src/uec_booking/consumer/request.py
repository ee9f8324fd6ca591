"""What a booking journey is asked and what it answers: the call handler's `BookingRequest`,
the DoS case made from it and the PDS-verified patient, and the `BookingResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from uec_booking.consumer.dos import case_age
from uec_booking.consumer.models import (
    BookedAppointment,
    DosCase,
    DosService,
    FreeSlot,
    VerifiedPatient,
)

GENDER_FOR_DOS = {"male": "M", "female": "F"}


@dataclass(frozen=True)
class BookingRequest:
    """What the call handler knows: the patient, the call's outcome, and optionally the
    service and slot they chose.

        request = BookingRequest(nhs_number="9000000009", postcode="LS1 6AE",
                                 location_postcode="WF1 2EB",
                                 disposition="Dx05", symptom_group=1010)

    `postcode` is the patient's registered (home) postcode, checked against PDS;
    `location_postcode` is where the patient is now, which DoS searches from (a patient
    away from home is the common 111 case). Without it DoS searches from `postcode`, or
    from the address PDS holds.
    """

    nhs_number: str
    postcode: str | None = None
    location_postcode: str | None = None
    family: str | None = None
    birth_date: str | None = None
    disposition: str = "Dx05"
    symptom_group: int = 1010
    symptom_discriminators: tuple[int, ...] = (4003,)  # DoS needs one; the sandbox DoS knows 4003
    search_distance: int | None = None  # km; None: DoS's own distance for the postcode
    earliest: datetime | None = None
    latest: datetime | None = None
    description: str = "Booked by NHS 111"
    # A slot the call handler picked from an earlier list: tried first; it may have gone.
    preferred_slot: FreeSlot | None = None
    # One Ssp-TraceID for the whole journey (a new one when not given).
    trace_id: str | None = None
    # Book only at this DoS service (it must be among DoS's answers), and only this slot.
    service_id: str | None = None
    slot_id: str | None = None


@dataclass
class BookingResult:
    """How the journey ended: the appointment booked (and where), or the error, and the
    services that take referrals without booking."""

    trace_id: str
    appointment: BookedAppointment | None = None
    service: DosService | None = None
    slot: FreeSlot | None = None
    provider_url: str | None = None
    provider_asid: str | None = None
    referral_only: list[DosService] = field(default_factory=list)
    error: str | None = None


def age_on(birth_date: str, today: date) -> int:
    born = date.fromisoformat(birth_date)
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def case_for(request: BookingRequest, patient: VerifiedPatient) -> DosCase:
    """The DoS Case for a verified patient and the call's clinical outcome."""
    age, age_format = case_age(date.fromisoformat(patient.birth_date), datetime.now(UTC).date())
    return DosCase(
        postcode=request.location_postcode or request.postcode or patient.postcode or "",
        age=age,
        age_format=age_format,
        gender=GENDER_FOR_DOS.get(patient.gender, "I"),
        disposition=request.disposition,
        symptom_group=request.symptom_group,
        symptom_discriminators=list(request.symptom_discriminators),
        search_distance=request.search_distance,
    )

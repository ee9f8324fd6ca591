"""Typed values the consumer's clients return and the workflow passes between steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class VerifiedPatient:
    """A patient whose NHS number and demographics PDS has confirmed."""

    nhs_number: str
    family: str
    given: list[str]
    prefix: list[str]
    gender: str  # FHIR administrative gender: male | female | other | unknown
    birth_date: str  # YYYY-MM-DD
    address_lines: list[str]
    city: str | None
    postcode: str | None
    phone: str | None
    resource: dict[str, Any] = field(repr=False)  # the PDS (R4) Patient as received


@dataclass(frozen=True, slots=True)
class DosCase:
    """The `c` Case of a CheckCapacitySummary request (the patient's presenting need), in the
    published v1.5 fields (`ccs_field_def_v1_5.md`)."""

    postcode: str
    age: int  # in `age_format` units: Days 0-31, Months 1-23, Years 2-129, AgeGroup 1-4
    gender: str  # DoS: "M" | "F" | "I"
    disposition: str | int  # an NHS Pathways Dx code ("Dx05") or the DoS disposition id (1005)
    symptom_group: int
    symptom_discriminators: list[int] = field(default_factory=list)  # at least one
    search_distance: int | None = None  # km (1-99); None: DoS's own distance for the postcode
    age_format: str = "Years"
    force_search_distance: bool = False  # use search_distance over DoS's postcode table
    search_date_time: datetime | None = None  # scenario testing only: search "as if" then
    case_ref: str | None = None
    surgery: str | None = None  # ODS code of the patient's GP surgery ("UNK" if not known)


@dataclass(frozen=True, slots=True)
class DosEndpoint:
    transport: str
    format: str
    interaction: str
    address: str
    order: int | None = None
    business_scenario: str | None = None
    compression: str | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class DosService:
    """One service in CheckCapacitySummary's ordered answer (`serviceCareSummaryDestination`)."""

    id: str
    name: str
    service_type: str
    postcode: str | None
    distance_miles: float | None  # published in miles, though the search distance is km
    requirebooking: bool  # the `requirebooking` service attribute is TRUE
    capacity: str | None = None  # High | Low | None
    ods_code: str | None = None
    address: str | None = None
    contact_details: str | None = None
    endpoints: list[DosEndpoint] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DosServiceDetails:
    """ServiceDetailsById: the endpoints of one service. The v1.5 answer carries only `id`,
    `odsCode` and `serviceEndpoints`; `name` is a label, `phone` stays None from v1.5."""

    id: str
    name: str
    phone: str | None
    endpoints: list[DosEndpoint]
    ods_code: str | None = None

    @property
    def booking_asids(self) -> list[str]:
        """ASIDs of FHIR scheduling endpoints (`transport=http`, `format=FHIR`,
        `interaction=Scheduling`, `address=ASID:<asid>`), compared case-insensitively."""
        asids = []
        for ep in self.endpoints:
            if (
                ep.transport.lower() == "http"
                and ep.format.lower() == "fhir"
                and ep.interaction.lower() == "scheduling"
                and ep.address.upper().startswith("ASID:")
            ):
                asids.append(ep.address.split(":", 1)[1].strip())
        return asids


@dataclass(frozen=True, slots=True)
class FreeSlot:
    """A free Slot from a search, with what the search's includes say about it."""

    id: str
    start: datetime
    end: datetime
    schedule_id: str
    healthcare_service_id: str | None
    practitioner: str | None
    location: str | None
    resource: dict[str, Any] = field(repr=False)
    delivery_channel: str | None = None  # In-person | Telephone | Video, when the provider says


@dataclass(frozen=True, slots=True)
class BookedAppointment:
    id: str
    version_id: str | None
    slot_id: str
    start: datetime
    end: datetime
    location_url: str | None
    resource: dict[str, Any] = field(repr=False)

"""What the booking workflow reports as it goes, so a CLI or a web page can show progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class WorkflowEvent:
    def describe(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class PatientVerified(WorkflowEvent):
    nhs_number: str
    name: str

    def describe(self) -> str:
        return f"PDS verified {self.name}, NHS number {self.nhs_number}"


@dataclass(frozen=True)
class ServicesFound(WorkflowEvent):
    services: tuple[tuple[str, str, float | None, bool], ...]  # id, name, miles, requirebooking

    def describe(self) -> str:
        return f"DoS CheckCapacitySummary: {len(self.services)} services, nearest {self.services[0][1] if self.services else '-'}"


@dataclass(frozen=True)
class ServiceDetails(WorkflowEvent):
    service_id: str
    name: str
    booking_asids: tuple[str, ...]

    def describe(self) -> str:
        return f"DoS ServiceDetailsById {self.service_id} ({self.name}): booking ASIDs {list(self.booking_asids) or 'none'}"


@dataclass(frozen=True)
class NoBookingEndpoint(WorkflowEvent):
    service_id: str
    name: str
    reason: str
    referral_allowed: bool

    def describe(self) -> str:
        path = "refer without booking" if self.referral_allowed else "booking only: not offered"
        return f"No booking endpoint for {self.name}: {self.reason} ({path})"


@dataclass(frozen=True)
class EndpointResolved(WorkflowEvent):
    asid: str
    endpoint: str

    def describe(self) -> str:
        return f"SDS: ASID {self.asid} -> {self.endpoint}"


@dataclass(frozen=True)
class TokenObtained(WorkflowEvent):
    audience: str
    mode: str

    def describe(self) -> str:
        return f"Access token ({self.mode}) for {self.audience}"


@dataclass(frozen=True)
class SlotsFound(WorkflowEvent):
    service_id: str
    count: int
    first: datetime | None
    in_time: int = 0  # how many start within the disposition's timeframe

    def describe(self) -> str:
        first = f", first at {self.first:%a %d %b %H:%M %Z}" if self.first else ""
        return f"Slot search via SSP: {self.count} free slots{first}"


@dataclass(frozen=True)
class SlotTaken(WorkflowEvent):
    slot_id: str

    def describe(self) -> str:
        return f"Slot {self.slot_id} was taken meanwhile (422): trying the next free slot"


@dataclass(frozen=True)
class Booked(WorkflowEvent):
    appointment_id: str
    slot_id: str
    start: datetime

    def describe(self) -> str:
        return f"Booked: Appointment/{self.appointment_id} in slot {self.slot_id} at {self.start:%a %d %b %H:%M %Z}"


@dataclass(frozen=True)
class StepFailed(WorkflowEvent):
    step: str
    error: str

    def describe(self) -> str:
        return f"{self.step} failed: {self.error}"

"""What the booking workflow reports as it goes, so a CLI or a web page can show progress.

An event is named for what happened (`PatientVerified`, `SlotGone`), never for an error: the
errors are `consumer.errors`. Each says itself in one sentence, its `said` template filled
from the event's fields (and properties, for the parts that depend on a value)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

UK_TIME = "%a %d %b %H:%M %Z"


@dataclass(frozen=True)
class WorkflowEvent:
    said: ClassVar[str] = "{event.kind}"

    @property
    def kind(self) -> str:
        return type(self).__name__

    def describe(self) -> str:
        return self.said.format(event=self)


@dataclass(frozen=True)
class PatientVerified(WorkflowEvent):
    said = "PDS verified {event.name}, NHS number {event.nhs_number}"
    nhs_number: str
    name: str


@dataclass(frozen=True)
class ServicesFound(WorkflowEvent):
    said = "DoS CheckCapacitySummary: {event.count} services, nearest {event.nearest}"
    services: tuple[tuple[str, str, float | None, bool], ...]  # id, name, miles, requirebooking

    @property
    def count(self) -> int:
        return len(self.services)

    @property
    def nearest(self) -> str:
        return self.services[0][1] if self.services else "-"


@dataclass(frozen=True)
class ServiceDetails(WorkflowEvent):
    said = "DoS ServiceDetailsById {event.service_id} ({event.name}): booking ASIDs {event.asids}"
    service_id: str
    name: str
    booking_asids: tuple[str, ...]

    @property
    def asids(self) -> str:
        return str(list(self.booking_asids)) if self.booking_asids else "none"


@dataclass(frozen=True)
class ServiceNotBookable(WorkflowEvent):
    """The service has no usable booking endpoint (`errors.NoBookingEndpoint` says why)."""

    said = "No booking endpoint for {event.name}: {event.reason} ({event.path})"
    service_id: str
    name: str
    reason: str
    referral_allowed: bool

    @property
    def path(self) -> str:
        return "refer without booking" if self.referral_allowed else "booking only: not offered"


@dataclass(frozen=True)
class EndpointResolved(WorkflowEvent):
    said = "SDS: ASID {event.asid} -> {event.endpoint}"
    asid: str
    endpoint: str


@dataclass(frozen=True)
class TokenObtained(WorkflowEvent):
    said = "Access token ({event.mode}) for {event.audience}"
    audience: str
    mode: str


@dataclass(frozen=True)
class SlotsFound(WorkflowEvent):
    said = "Slot search via SSP: {event.count} free slots{event.first_at}"
    service_id: str
    count: int
    first: datetime | None
    in_time: int = 0  # how many start within the disposition's timeframe

    @property
    def first_at(self) -> str:
        return f", first at {self.first:{UK_TIME}}" if self.first else ""


@dataclass(frozen=True)
class SlotGone(WorkflowEvent):
    """The slot went between search and booking (`errors.SlotTaken`, the provider's 422)."""

    said = "Slot {event.slot_id} was taken meanwhile (422): trying the next free slot"
    slot_id: str


@dataclass(frozen=True)
class Booked(WorkflowEvent):
    said = (
        "Booked: Appointment/{event.appointment_id} in slot {event.slot_id} at {event.start:"
        + UK_TIME
        + "}"
    )
    appointment_id: str
    slot_id: str
    start: datetime


@dataclass(frozen=True)
class StepFailed(WorkflowEvent):
    said = "{event.step} failed: {event.error}"
    step: str
    error: str

"""Journey state held on the server: what PDS, DoS and SDS said and which slots were offered.

A form carries only the journey's id and the call handler's choice (a service id, a slot id);
the endpoint, ASID, patient and slot times come from here, so a tampered field can choose
only among what this journey was offered. A journey belongs to the person who started it.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from uec_booking.consumer.models import BookedAppointment, FreeSlot, VerifiedPatient
from uec_booking.consumer.workflow import BookingRoute

JOURNEY_LIFETIME_S = 4 * 3600
MAX_JOURNEYS = 10_000


@dataclass
class Journey:
    id: str
    owner: str  # the signed-in person's `sub`
    trace_id: str
    patient: VerifiedPatient
    location_postcode: str  # where the patient is now: drives the DoS search
    disposition: str
    symptom_group: int
    routes: dict[str, BookingRoute] = field(default_factory=dict)  # by DoS service id, in order
    top_service: str | None = None
    service_id: str | None = None  # the service whose slots are shown
    slots: dict[str, FreeSlot] = field(default_factory=dict)
    booked: dict[str, tuple[str, BookedAppointment]] = field(default_factory=dict)  # by id
    replaces: str | None = None  # rebooking: the appointment to cancel once the new one is made
    created: float = field(default_factory=time.monotonic)

    @property
    def route(self) -> BookingRoute | None:
        return self.routes.get(self.service_id or "")


class JourneyNotFound(Exception):
    """No such journey for this person (expired, never existed, or someone else's)."""


class JourneyStore:
    """In memory, per console process: a deployment behind a load balancer pins sessions."""

    def __init__(self) -> None:
        self._journeys: OrderedDict[str, Journey] = OrderedDict()
        # (NHS number, service id) → appointment ids booked from this console: warns twice.
        self.bookings: dict[tuple[str, str], list[str]] = {}

    def start(self, **fields: object) -> Journey:
        self._expire()
        journey = Journey(id=secrets.token_urlsafe(16), **fields)  # type: ignore[arg-type]
        self._journeys[journey.id] = journey
        while len(self._journeys) > MAX_JOURNEYS:
            self._journeys.popitem(last=False)
        return journey

    def get(self, journey_id: str, owner: str) -> Journey:
        self._expire()
        journey = self._journeys.get(journey_id)
        if journey is None or journey.owner != owner:
            raise JourneyNotFound(journey_id)
        return journey

    def _expire(self) -> None:
        cutoff = time.monotonic() - JOURNEY_LIFETIME_S
        while self._journeys:
            first = next(iter(self._journeys.values()))
            if first.created >= cutoff:
                break
            self._journeys.popitem(last=False)

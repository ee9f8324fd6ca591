"""The sentence each workflow event says of itself (what `book` prints as it goes)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from uec_booking.consumer import errors, events

AT = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("event", "sentence"),
    [
        (
            events.PatientVerified("9000000009", "Jane Smith"),
            "PDS verified Jane Smith, NHS number 9000000009",
        ),
        (
            events.ServicesFound((("1", "Leeds UTC", 0.4, True), ("2", "Bradford", None, False))),
            "DoS CheckCapacitySummary: 2 services, nearest Leeds UTC",
        ),
        (events.ServicesFound(()), "DoS CheckCapacitySummary: 0 services, nearest -"),
        (
            events.ServiceDetails("1", "Leeds UTC", ("200000000101",)),
            "DoS ServiceDetailsById 1 (Leeds UTC): booking ASIDs ['200000000101']",
        ),
        (
            events.ServiceDetails("1", "Leeds UTC", ()),
            "DoS ServiceDetailsById 1 (Leeds UTC): booking ASIDs none",
        ),
        (
            events.ServiceNotBookable("2", "Bradford", "DoS lists no booking ASID", True),
            "No booking endpoint for Bradford: DoS lists no booking ASID (refer without booking)",
        ),
        (
            events.ServiceNotBookable("2", "Bradford", "SDS: no nhsMHS", False),
            "No booking endpoint for Bradford: SDS: no nhsMHS (booking only: not offered)",
        ),
        (
            events.EndpointResolved("200000000101", "https://p.example/fhir"),
            "SDS: ASID 200000000101 -> https://p.example/fhir",
        ),
        (
            events.TokenObtained("https://p.example/fhir", "interim"),
            "Access token (interim) for https://p.example/fhir",
        ),
        (
            events.SlotsFound("1", 3, AT, 2),
            "Slot search via SSP: 3 free slots, first at Tue 04 Mar 09:30 UTC",
        ),
        (events.SlotsFound("1", 0, None), "Slot search via SSP: 0 free slots"),
        (
            events.SlotGone("slot-7"),
            "Slot slot-7 was taken meanwhile (422): trying the next free slot",
        ),
        (
            events.Booked("appt-1", "slot-7", AT),
            "Booked: Appointment/appt-1 in slot slot-7 at Tue 04 Mar 09:30 UTC",
        ),
        (
            events.StepFailed("Service search (DoS)", "timed out"),
            "Service search (DoS) failed: timed out",
        ),
    ],
)
def test_event_says_what_happened(event: events.WorkflowEvent, sentence: str) -> None:
    assert event.describe() == sentence


def test_a_field_holding_braces_is_said_as_it_is() -> None:
    # The template is filled once: text from a service (a DoS name, an error) is not a template.
    said = events.StepFailed("Booking at {event.step}", "answered {0}").describe()
    assert said == "Booking at {event.step} failed: answered {0}"


def test_no_event_shares_a_name_with_an_error() -> None:
    def classes(module: object, base: type) -> set[str]:
        return {
            name
            for name, value in vars(module).items()
            if isinstance(value, type) and issubclass(value, base)
        }

    named = classes(events, events.WorkflowEvent)
    assert {"SlotGone", "ServiceNotBookable", "StepFailed"} <= named
    assert named.isdisjoint(classes(errors, Exception))

from fhir.resources.STU3.bundle import Bundle
from fhir.resources.STU3.operationoutcome import OperationOutcome

from uec_booking.fhir.bundle import searchset
from uec_booking.fhir.errors import Forbidden, SlotUnavailable, Unauthorized
from uec_booking.fhir.outcome import outcome_for
from uec_booking.fhir.reference import parse_reference, reference


def test_slot_unavailable_outcome_is_exactly_the_standards() -> None:
    body = outcome_for(SlotUnavailable())
    OperationOutcome.model_validate(body)
    assert body["id"]
    assert body["issue"] == [
        {"severity": "error", "code": "processing", "diagnostics": "Slot no longer available"}
    ]
    assert SlotUnavailable.status == 422


def test_outcome_carries_spine_code() -> None:
    body = outcome_for(Unauthorized("token expired"))
    coding = body["issue"][0]["details"]["coding"][0]
    assert coding["system"] == "https://fhir.nhs.uk/STU3/ValueSet/Spine-ErrorOrWarningCode-1"
    assert coding["code"] == "ACCESS_DENIED"


def test_rfc6750_challenges() -> None:
    assert Unauthorized("x").headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    challenge = Forbidden('no "scope"', scope="slot/*.read").headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="slot/*.read"' in challenge
    assert '""' not in challenge  # quotes in descriptions are not allowed to break the header


def test_searchset_modes_and_full_urls() -> None:
    slot = {
        "resourceType": "Slot",
        "id": "s1",
        "schedule": {"reference": "Schedule/a"},
        "status": "free",
        "start": "2026-01-01T10:00:00+00:00",
        "end": "2026-01-01T10:10:00+00:00",
    }
    schedule = {"resourceType": "Schedule", "id": "a", "actor": [{"reference": "Practitioner/p"}]}
    bundle = searchset(base_url="http://h/fhir", matches=[slot], includes=[schedule])
    Bundle.model_validate(bundle)
    assert bundle["type"] == "searchset" and bundle["total"] == 1
    assert [(e["fullUrl"], e["search"]["mode"]) for e in bundle["entry"]] == [
        ("http://h/fhir/Slot/s1", "match"),
        ("http://h/fhir/Schedule/a", "include"),
    ]


def test_references() -> None:
    assert reference("Slot", "1") == {"reference": "Slot/1"}
    assert parse_reference("#slot005") == (None, "slot005", True)
    assert parse_reference("http://x/fhir/Slot/9/_history/2") == ("Slot", "9", False)
    assert parse_reference("Slot/9") == ("Slot", "9", False)

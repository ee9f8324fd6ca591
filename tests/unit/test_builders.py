import orjson
from fhir.resources.STU3.bundle import Bundle
from fhir.resources.STU3.operationoutcome import OperationOutcome
from lxml import etree

from uec_booking.fhir.bundle import searchset, searchset_entries, searchset_json, searchset_xml
from uec_booking.fhir.errors import Forbidden, SlotUnavailable, Unauthorized
from uec_booking.fhir.formats import Format
from uec_booking.fhir.outcome import outcome_for
from uec_booking.fhir.reference import parse_reference, reference
from uec_booking.fhir.xml import resource_xml, to_xml


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


def test_searchset_from_rendered_entries_is_the_same_json() -> None:
    """The bytes a view's search joins are exactly what serialising the Bundle gives."""
    slots = [
        {
            "resourceType": "Slot",
            "id": f"s{i}",
            "schedule": {"reference": "Schedule/sch1"},
            "status": "free",
            "start": "2026-01-01T09:00:00Z",
            "end": "2026-01-01T09:10:00Z",
        }
        for i in range(3)
    ]
    schedule = {
        "resourceType": "Schedule",
        "id": "sch1",
        "actor": [{"reference": 'HealthcareService/hs"1'}],
        "comment": "é \u2028 <x>",
    }
    links = [
        {"relation": "self", "url": "http://h/fhir/Slot?a=1&b=%3A"},
        {"relation": "next", "url": "http://h/fhir/Slot?a=1&_page=x"},
    ]
    base = "http://h/fhir"
    entries = searchset_entries(
        base_url=base,
        matches=slots,
        matches_rendered=[orjson.dumps(s) for s in slots],
        includes=[schedule],
        includes_rendered=[orjson.dumps(schedule)],
    )
    rendered = orjson.loads(searchset_json(entries_json=entries, total=7, links=links))
    expected = searchset(base_url=base, matches=slots, includes=[schedule], total=7, links=links)
    assert rendered.pop("id") != expected.pop("id")  # each response its own Bundle id
    assert rendered == expected
    assert list(rendered) == list(expected)  # element order too
    Bundle.model_validate(orjson.loads(searchset_json(entries_json=entries, total=7)))
    empty = orjson.loads(searchset_json(entries_json=b"", total=0, links=links))
    assert "entry" not in empty and empty["total"] == 0
    xml_entries = searchset_entries(
        base_url=base,
        matches=slots,
        matches_rendered=[resource_xml(s) for s in slots],
        includes=[schedule],
        includes_rendered=[resource_xml(schedule)],
        fmt=Format.XML,
    )
    joined = etree.fromstring(searchset_xml(entries_xml=xml_entries, total=7, links=links))
    whole = etree.fromstring(to_xml(expected))
    joined.remove(joined.find("{http://hl7.org/fhir}id"))  # `expected` has had its id taken
    # Canonical XML: the fragments' repeated xmlns are no difference.
    assert etree.tostring(joined, method="c14n") == etree.tostring(whole, method="c14n")
    assert Bundle.model_validate_xml(etree.tostring(joined)).total == 7
    empty_xml = etree.fromstring(searchset_xml(entries_xml=b"", total=0, links=links))
    assert empty_xml.find("{http://hl7.org/fhir}entry") is None

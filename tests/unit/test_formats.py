import pytest

from uec_booking.fhir.errors import BadRequest, UnsupportedMediaType
from uec_booking.fhir.formats import Format, body_format, negotiate, parse_resource


@pytest.mark.parametrize(
    ("accept", "fmt", "expected"),
    [
        (None, None, Format.JSON),
        ("application/fhir+xml", None, Format.XML),
        ("application/fhir+xml", "json", Format.JSON),
        ("text/html, */*;q=0.1", None, Format.JSON),
        ("application/xml+fhir;q=0.9", None, Format.XML),
        (None, "application/fhir+xml", Format.XML),
    ],
)
def test_negotiate(accept: str | None, fmt: str | None, expected: Format) -> None:
    assert negotiate(accept, fmt) is expected


def test_unsupported() -> None:
    with pytest.raises(UnsupportedMediaType):
        negotiate("text/plain", None)
    with pytest.raises(UnsupportedMediaType):
        negotiate(None, "yaml")
    with pytest.raises(UnsupportedMediaType):
        body_format(None)
    with pytest.raises(UnsupportedMediaType):
        body_format("application/fhir+json; charset=iso-8859-1")


def test_parse_refuses_entities_and_wrong_types() -> None:
    with pytest.raises(BadRequest):
        parse_resource(
            b'<!DOCTYPE x [<!ENTITY a "b">]><Slot xmlns="http://hl7.org/fhir"/>', Format.XML, "Slot"
        )
    with pytest.raises(BadRequest):
        parse_resource(b'{"resourceType": "Patient"}', Format.JSON, "Slot")
    with pytest.raises(BadRequest):
        parse_resource(b"[" * 100000 + b"]" * 100000, Format.JSON, "Slot")

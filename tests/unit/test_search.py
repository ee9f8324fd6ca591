import contextlib
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from uec_booking.fhir.errors import BadRequest
from uec_booking.provider.resources.slot import SLOT_SEARCH
from uec_booking.provider.search import parse_date_bound, parse_search

ALL = frozenset({"eq", "ge", "gt", "le", "lt"})


def test_date_precisions_and_offsets() -> None:
    day = parse_date_bound("ge2026-11-24", ALL)
    assert (day.prefix, day.low, day.high) == (
        "ge",
        datetime(2026, 11, 24),
        datetime(2026, 11, 24, 23, 59, 59, 999999),
    )
    moment = parse_date_bound("le2026-11-24T10:30:00+01:00", ALL)
    assert moment.high == datetime(2026, 11, 24, 9, 30, 0, 999999)
    assert moment.upper_limit() == moment.high
    # An unencoded '+' arrives as a space.
    assert parse_date_bound("le2026-11-24T10:30:00 01:00", ALL).low == datetime(2026, 11, 24, 9, 30)
    assert parse_date_bound("lt2026-11-24T10:30:00Z", ALL).upper_limit() == datetime(
        2026, 11, 24, 10, 30
    )
    assert parse_date_bound("2026-02", ALL).high.day == 28


@pytest.mark.parametrize(
    "bad",
    ["ge2026-13-01", "ge26-11-24", "le2026-11-24T25:00", "xx", "sa2026-01-01", "ge2026-02-30"],
)
def test_bad_dates(bad: str) -> None:
    with pytest.raises(BadRequest):
        parse_date_bound(bad, ALL)


def test_parse_search_table() -> None:
    parsed = parse_search(
        SLOT_SEARCH,
        [
            ("status", "free"),
            ("start", "ge2026-11-24"),
            ("start", "le2026-11-25"),
            ("schedule.actor:HealthcareService", "HealthcareService/2000100001"),
            ("_include", "Slot:schedule"),
            ("_include:recurse", "Schedule:actor:Practitioner"),
            ("_include", "HealthcareService.location"),
            ("_count", "5000"),
            ("_format", "json"),
            ("colour", "blue"),
        ],
    )
    assert parsed.tokens("status") == ["free"]
    assert parsed.tokens("schedule.actor:healthcareservice") == ["2000100001"]
    assert parsed.includes == {
        "Slot:schedule",
        "Schedule:actor:Practitioner",
        "HealthcareService:location",
    }
    assert parsed.count == SLOT_SEARCH.max_count
    assert parsed.ignored == ["colour"]
    with pytest.raises(BadRequest):
        parse_search(SLOT_SEARCH, [("colour", "blue")], strict=True)
    with pytest.raises(BadRequest):
        parse_search(SLOT_SEARCH, [("status", "free"), ("status", "busy")])
    with pytest.raises(BadRequest):
        parse_search(SLOT_SEARCH, [("status", "")])


@given(st.lists(st.tuples(st.text(max_size=30), st.text(max_size=40)), max_size=8))
def test_parser_only_ever_raises_bad_request(items: list[tuple[str, str]]) -> None:
    with contextlib.suppress(BadRequest):
        parse_search(SLOT_SEARCH, items, strict=False)

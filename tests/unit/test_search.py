import contextlib
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from uec_booking.fhir.errors import BadRequest
from uec_booking.fhir.urls import NHS_NUMBER_SYSTEM
from uec_booking.provider.resources.appointment import APPOINTMENT_SEARCH
from uec_booking.provider.resources.slot import SLOT_SEARCH
from uec_booking.provider.search import Reference, Token, parse_search, search_outcome
from uec_booking.provider.search_dates import DateWindow, parse_date_bound
from uec_booking.provider.search_params import PAGING_PARAMS, SearchSpec

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


def test_tokens_and_references_are_typed_by_the_one_parser() -> None:
    parsed = parse_search(
        APPOINTMENT_SEARCH,
        [("patient:identifier", f"{NHS_NUMBER_SYSTEM}|9000000009,9000000025")],
    )
    assert parsed.token_values("patient:identifier") == [
        Token(NHS_NUMBER_SYSTEM, "9000000009"),
        Token(None, "9000000025"),
    ]
    slot = parse_search(
        SLOT_SEARCH,
        [("service", "https://p.example/fhir/HealthcareService/918999"), ("schedule", "7")],
    )
    assert slot.references("schedule.actor:healthcareservice") == [
        Reference("HealthcareService", "918999")
    ]
    assert slot.references("schedule") == [Reference(None, "7")]
    assert slot.tokens("schedule.actor:healthcareservice") == ["918999"]


@pytest.mark.parametrize(
    ("spec", "items", "spine_code"),
    [
        (APPOINTMENT_SEARCH, [("patient:identifier", "urn:x|1")], "INVALID_IDENTIFIER_SYSTEM"),
        # `|code` is a code with no system: not an NHS number.
        (APPOINTMENT_SEARCH, [("patient:identifier", "|1")], "INVALID_IDENTIFIER_SYSTEM"),
        (APPOINTMENT_SEARCH, [("patient:identifier", f"{NHS_NUMBER_SYSTEM}|")], None),
        (SLOT_SEARCH, [("schedule", "/")], None),
    ],
)
def test_bad_typed_values(spec: SearchSpec, items: list[tuple[str, str]], spine_code: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_search(spec, [*items, ("start", "le2099-01-01")])
    if spine_code:
        assert refused.value.spine == spine_code


def test_a_date_window_folds_every_bound() -> None:
    parsed = parse_search(
        SLOT_SEARCH,
        [
            ("start", "ge2026-11-24"),
            ("start", "ge2026-11-25"),
            ("start", "gt2026-11-25T10:00:00Z"),
            ("start", "le2026-11-28"),
            ("start", "eq2026-11-27"),
            ("start", "lt2026-11-27T12:00:00Z"),
        ],
    )
    window = parsed.window("start")
    assert window == DateWindow(
        ge=datetime(2026, 11, 27),
        gt=datetime(2026, 11, 25, 10, 0, 0, 999999),
        le=datetime(2026, 11, 27, 23, 59, 59, 999999),
        lt=datetime(2026, 11, 27, 12),
    )
    assert DateWindow.of([]) == DateWindow()


@pytest.mark.parametrize("spec", [SLOT_SEARCH, APPOINTMENT_SEARCH])
def test_one_declaration_documents_the_capability_and_the_openapi(spec: SearchSpec) -> None:
    declared = spec.capability()["searchParam"]
    documented = {p["name"]: p["description"] for p in spec.openapi()["parameters"]}
    assert [p["name"] for p in declared] == [p.name for p in (*spec.params, *PAGING_PARAMS)]
    for param in declared:
        assert param["documentation"], param
        assert documented[param["name"]] == param["documentation"]


def test_ignored_parameters_are_reported_in_the_outcome() -> None:
    quiet = parse_search(SLOT_SEARCH, [("start", "le2099-01-01")])
    assert search_outcome(quiet) is None
    noisy = parse_search(
        SLOT_SEARCH, [("start", "le2099-01-01"), ("colour", "blue"), ("_include", "Slot:nothing")]
    )
    outcome = search_outcome(noisy)
    assert outcome is not None and outcome["resourceType"] == "OperationOutcome"
    assert [(i["severity"], i["expression"]) for i in outcome["issue"]] == [
        ("warning", ["colour"]),
        ("warning", ["_include=Slot:nothing"]),
    ]

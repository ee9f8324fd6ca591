"""The DoS stand-in's errors over a real socket: each a SOAP 1.2 Fault carrying the DoS code of
`soap_api_errors_v1_5.md` with a 4xx/5xx status as SOAP 1.2's HTTP binding says; hostile input
(empty POST, DOCTYPE, deep nesting, garbage) never gets a text/plain 500; client errors log
no traceback."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dos_standin import (
    CASE,
    answer,
    ccs,
    fault,
    find,
    post,
    sdbid,
    serve,
    soap,
)
from tests.dos_support import SOAP12
from uec_booking import sample_data
from uec_booking.spine.dos import MOUNT_PATH

CASE_FIELDS = set(CASE)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve(sample_data.load()) as server:
        yield f"{server.url}{MOUNT_PATH}"


FAULTS = [
    ("wrong password", soap(ccs(), pw="wrong"), 302),
    ("no userInfo", soap(ccs(), user=""), 1001),
    ("serviceVersion 1.4", soap(ccs(), version="1.4"), 107),
    ("unknown postcode", soap(ccs(postcode="ZZ9 9ZZ")), 101),
    ("no discriminator", soap(ccs(symptomDiscriminatorList=[])), 104),
    ("unknown discriminator", soap(ccs(symptomDiscriminatorList=[1])), 104),
    ("distance 0 forced", soap(ccs(searchDistance=0, forceSearchDistance="true")), 105),
    ("distance 120", soap(ccs(searchDistance=120)), 105),
    ("gender X", soap(ccs(gender="X")), 106),
    ("forced without distance", soap(ccs(forceSearchDistance="true")), 113),
    ("age not a number", soap(ccs(age="forty")), 114),
    ("age missing", soap(ccs(age=None)), 114),
    ("40 days", soap(ccs(age=40, ageFormat="Days")), 115),
    ("30 months", soap(ccs(age=30, ageFormat="Months")), 116),
    ("1 year", soap(ccs(age=1, ageFormat="Years")), 117),
    ("age group 7", soap(ccs(age=7, ageFormat="AgeGroup")), 118),
    ("weeks", soap(ccs(ageFormat="Weeks")), 119),
    ("symptom group unknown", soap(ccs(symptomGroup=9999)), 120),
    ("disposition as a Dx code", soap(ccs(disposition="Dx05")), 121),
    ("disposition unknown", soap(ccs(disposition=9999)), 121),
    ("search time garbage", soap(ccs(searchDateTime="next tuesday")), 108),
    (
        "no services",
        soap(ccs(postcode="LS2 9LU", searchDistance=1, forceSearchDistance="true")),
        102,
    ),
    ("no such service", soap(sdbid("999")), 103),
    ("not an operation", soap("<w:FindEverything>{userInfo}</w:FindEverything>"), 108),
]


@pytest.mark.parametrize(("body", "code"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_each_error_is_a_fault_with_its_dos_code(url: str, body: bytes, code: int) -> None:
    response = post(url, body)
    assert (response.status_code, fault(response)[0]) == (400, code)


def test_fault_texts_are_the_published_ones(url: str) -> None:
    assert fault(post(url, soap(ccs(), pw="wrong")))[1] == (
        "Authentication failed: Please check user credentials (username/password) or check "
        "whether the user account is locked (use password reset to unlock)"
    )
    assert fault(post(url, soap(ccs(), version="1.3")))[1].startswith(
        "WSDL Validation: Unsupported Webservice version"
    )


def test_search_date_time_limits(url: str) -> None:
    now = datetime.now(UTC)
    later = answer(post(url, soap(ccs(searchDateTime=(now + timedelta(days=3)).isoformat()))))
    assert (
        find(
            later,
            "SearchDateTime",
        )
        == (now + timedelta(days=3)).replace(microsecond=0).isoformat()
    )
    assert (
        fault(post(url, soap(ccs(searchDateTime=(now + timedelta(days=400)).isoformat()))))[0]
        == 109
    )
    assert (
        fault(post(url, soap(ccs(searchDateTime=(now - timedelta(hours=1)).isoformat()))))[0] == 110
    )


def test_wrong_soap_action_and_soap_11_are_faults(url: str) -> None:
    wrong = post(url, soap(ccs()), "CheckCapacitySummary")
    assert (wrong.status_code, fault(wrong)[0]) == (400, 108)
    soap11 = soap(ccs()).replace(SOAP12.encode(), b"http://schemas.xmlsoap.org/soap/envelope/")
    response = post(url, soap11)
    assert response.status_code == 400
    assert fault(response) == (
        108,
        "Malformed XML: Unable to identify the SOAP version (a SOAP 1.1 envelope)",
    )


HOSTILE = {
    "empty POST": b"",
    "garbage": b"\x00\xff garbage \xfe",
    "not xml": b"hello",
    "DOCTYPE": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
    + soap(ccs()).replace(b"<w:postcode>LS1 6AE", b"<w:postcode>&lol2;"),
    "external entity": b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    "deep nesting": b"<a>" * 20000 + b"</a>" * 20000,
    "nesting under the limit of libxml2": soap("<w:x>" * 100 + "</w:x>" * 100),
    "oversized": soap(ccs(postcode="A" * 400_000)),
    "not an envelope": b"<not-soap/>",
    "two operations": soap(sdbid("1") + sdbid("2")),
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_input_gets_a_soap_fault_not_a_plain_500(url: str, body: bytes) -> None:
    response = post(url, body)
    assert response.status_code == 400
    assert fault(response)[0] == 108


def test_no_tracebacks_for_client_errors(url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        for body in [*HOSTILE.values(), *(f[1] for f in FAULTS)]:
            post(url, body)
    assert caplog.records, "faults are logged"
    assert all(r.exc_info is None and r.levelno < logging.WARNING for r in caplog.records)


def test_an_answer_outside_the_contract_is_a_500_fault(caplog: pytest.LogCaptureFixture) -> None:
    directory = copy.deepcopy(sample_data.load())
    directory["healthcare_services"][0]["capacity"] = "Purple"  # not in the Capacity enum
    with serve(directory) as server, caplog.at_level(logging.ERROR):
        response = post(server.url + MOUNT_PATH, soap(ccs()))
    assert (response.status_code, fault(response)[0]) == (500, 500)
    assert any(r.exc_info for r in caplog.records)  # our bug, logged as one


FIELD_VALUES = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
    st.sampled_from(["", "Years", "Days", "AgeGroup", "M", "true", "LS1 6AE", "&amp;", "<x/>"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(
        st.binary(max_size=512),
        st.dictionaries(st.sampled_from(sorted(CASE_FIELDS)), FIELD_VALUES, max_size=4).map(
            lambda changes: soap(ccs(**changes))
        ),
        st.tuples(
            st.sampled_from([soap(ccs()), soap(sdbid("2000100001"))]), st.integers(0, 400)
        ).map(lambda pair: pair[0][: pair[1]]),
    )
)
def test_any_body_gets_a_soap_answer_or_a_soap_fault(url: str, body: bytes) -> None:
    response = post(url, body)
    assert response.headers["content-type"].startswith("application/soap+xml")
    if response.status_code == 200:
        answer(response)
    else:
        assert response.status_code == 400, response.text
        fault(response)

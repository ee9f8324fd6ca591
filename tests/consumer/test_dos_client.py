"""The consumer's DoS client (zeep from the project's copy of the published v1.5 WSDL) against
the stand-in over a real socket: every request it sends and every answer it reads validates
against the XSD (recorded on the wire, checked with lxml); the Case carries the published
fields; DoS faults become consumer errors by code."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.dos_support import ACTION, TNS, Recorder, assert_valid_envelope
from uec_booking import sample_data
from uec_booking.asgi_server import ThreadedServer
from uec_booking.consumer import dos as dos_module
from uec_booking.consumer.dispositions import dos_disposition_id
from uec_booking.consumer.dos import DosClient, case_age, service_address
from uec_booking.consumer.errors import (
    DosAuthError,
    DosCaseRejected,
    DosError,
    DosNoServices,
    DosServiceNotFound,
    DosVersionUnsupported,
    ServiceUnreachable,
)
from uec_booking.consumer.models import DosCase
from uec_booking.netutil import free_port
from uec_booking.spine.dos import MOUNT_PATH, create_app

USER, PASSWORD = "sandbox-111", "secret"
NS = {"w": TNS}


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    app = create_app(sample_data.load(), username=USER, password=PASSWORD)
    with ThreadedServer(app) as server:
        yield f"{server.url}{MOUNT_PATH}?wsdl"  # as configured: the WSDL URL; its query is dropped


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """Records the test's messages; afterwards every one must validate against the XSD."""
    recorder = Recorder()
    yield recorder
    for message in [*recorder.sent, *recorder.received]:
        assert_valid_envelope(message)


def client(url: str, recorder: Recorder | None = None, **kwargs: Any) -> DosClient:
    values = {"username": USER, "password": PASSWORD, **kwargs}
    return DosClient(wsdl=url, plugins=[recorder] if recorder else [], **values)


def case(**changes: Any) -> DosCase:
    values: dict[str, Any] = {
        "postcode": "LS1 6AE",
        "age": 40,
        "gender": "F",
        "disposition": "Dx05",
        "symptom_group": 1010,
        "symptom_discriminators": [4003],
    }
    values.update(changes)
    return DosCase(**values)


def test_search_sends_the_published_case_and_reads_the_published_answer(
    url: str, recorder: Recorder
) -> None:
    services = asyncio.run(client(url, recorder).check_capacity_summary(case()))
    assert [s.id for s in services] == ["2000100001", "2000100002", "2000100005", "2000100004"]
    utc, ooh = services[0], services[1]
    assert (utc.name, utc.service_type, utc.capacity, utc.ods_code) == (
        "Leeds Urgent Treatment Centre",
        "UTC",
        "High",
        "X26PR1",
    )
    assert (utc.requirebooking, ooh.requirebooking) == (False, True)  # attributes/attribute
    assert utc.distance_miles is not None and 0 < utc.distance_miles < 1  # miles, as published
    assert utc.endpoints[0].address == "ASID:200000000101"
    assert services[3].capacity == "Low"
    sent = recorder.sent[0]
    c = sent.find(".//w:CheckCapacitySummary/w:c", NS)
    assert c is not None
    assert c.findtext("w:disposition", namespaces=NS) == "1005"  # the DoS id, not "Dx05"
    assert c.findtext("w:ageFormat", namespaces=NS) == "Years"
    assert c.findtext("w:forceSearchDistance", namespaces=NS) == "false"
    assert c.xpath("w:symptomDiscriminatorList/w:int/text()", namespaces=NS) == ["4003"]
    assert c.find("w:searchDistance", NS) is None  # none given: DoS's own distance
    header = sent.find("{http://www.w3.org/2003/05/soap-envelope}Header/w:serviceVersion", NS)
    assert header is not None and header.text == "1.5" and len(header) == 0  # a simple string
    assert f'action="{ACTION}CheckCapacitySummary"' in recorder.sent_headers[0]["Content-Type"]


def test_search_distance_is_sent_in_km_with_the_force_flag(url: str, recorder: Recorder) -> None:
    near = asyncio.run(
        client(url, recorder).check_capacity_summary(
            case(search_distance=10, force_search_distance=True)
        )
    )
    assert [s.id for s in near] == ["2000100001", "2000100002"]
    c = recorder.sent[0].find(".//w:c", NS)
    assert c is not None
    assert (
        c.findtext("w:searchDistance", namespaces=NS),
        c.findtext("w:forceSearchDistance", namespaces=NS),
    ) == ("10", "true")
    answer = recorder.received[0]
    assert answer.findtext(".//w:SearchDistance", namespaces=NS) == "10"


def test_infants_are_sent_in_days_or_months(url: str, recorder: Recorder) -> None:
    today = date(2026, 6, 15)
    assert case_age(date(2026, 6, 1), today) == (14, "Days")
    assert case_age(date(2026, 5, 15), today) == (1, "Months")
    assert case_age(date(2024, 6, 16), today) == (23, "Months")
    assert case_age(date(2024, 6, 15), today) == (2, "Years")
    assert case_age(date(1985, 10, 22), today) == (40, "Years")
    dos = client(url, recorder)
    assert asyncio.run(dos.check_capacity_summary(case(age=14, age_format="Days")))
    assert asyncio.run(dos.check_capacity_summary(case(age=6, age_format="Months")))
    formats = [m.findtext(".//w:ageFormat", namespaces=NS) for m in recorder.sent]
    assert formats == ["Days", "Months"]
    assert [m.findtext(".//w:CalculatedAgeInDays", namespaces=NS) for m in recorder.received] == [
        "14",
        "182",
    ]


def test_search_date_time_is_sent(url: str, recorder: Recorder) -> None:
    when = datetime.now(UTC) + timedelta(days=2)
    asyncio.run(client(url, recorder).check_capacity_summary(case(search_date_time=when)))
    sent = recorder.sent[0].findtext(".//w:searchDateTime", namespaces=NS)
    assert sent == when.isoformat(timespec="seconds")


def test_service_details_by_id_and_by_ods_code(url: str, recorder: Recorder) -> None:
    dos = client(url, recorder)
    bookable = asyncio.run(dos.service_details_by_id("2000100001"))
    assert bookable.booking_asids == ["200000000101"] and bookable.ods_code == "X26PR1"
    referral_only = asyncio.run(dos.service_details_by_id("2000100004"))
    assert referral_only.booking_asids == [] and referral_only.endpoints == []
    by_ods = asyncio.run(dos.service_details_by_id("X26WY2"))
    assert by_ods.id == "2000100004"
    assert f'action="{ACTION}ServiceDetailsById"' in recorder.sent_headers[0]["Content-Type"]


FAULTS = [
    ({"password": "wrong"}, case(), DosAuthError, 302),
    ({}, case(postcode="ZZ9 9ZZ"), DosCaseRejected, 101),
    ({}, case(age=1), DosCaseRejected, 117),
    ({}, case(symptom_group=9999), DosCaseRejected, 120),
    ({}, case(disposition="Dx99"), DosCaseRejected, 121),
    ({}, case(search_distance=150), DosCaseRejected, 105),
    (
        {},
        case(postcode="LS2 9LU", search_distance=1, force_search_distance=True),
        DosNoServices,
        102,
    ),
]


@pytest.mark.parametrize(("settings", "the_case", "error", "code"), FAULTS)
def test_dos_faults_become_errors_by_code(
    url: str,
    recorder: Recorder,
    settings: dict[str, Any],
    the_case: DosCase,
    error: type[DosError],
    code: int,
) -> None:
    with pytest.raises(error) as caught:
        asyncio.run(client(url, recorder, **settings).check_capacity_summary(the_case))
    assert caught.value.code == code and str(code) in str(caught.value)


def test_unknown_service_is_103(url: str) -> None:
    with pytest.raises(DosServiceNotFound) as caught:
        asyncio.run(client(url).service_details_by_id("999"))
    assert caught.value.code == 103


def test_unsupported_version_is_107(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dos_module, "SERVICE_VERSION", "1.4")
    with pytest.raises(DosVersionUnsupported) as caught:
        asyncio.run(client(url).service_details_by_id("2000100001"))
    assert caught.value.code == 107


def test_cases_dos_would_refuse_are_not_sent(url: str, recorder: Recorder) -> None:
    dos = client(url, recorder)
    for bad, code in [
        (case(symptom_discriminators=[]), 104),
        (case(gender="female"), 106),
        (case(age_format="Weeks"), 119),
        (case(disposition="five"), 121),
    ]:
        with pytest.raises(DosCaseRejected) as caught:
            asyncio.run(dos.check_capacity_summary(bad))
        assert caught.value.code == code
    assert recorder.sent == []


def test_unreachable_or_non_soap_dos_is_unavailable() -> None:
    dead = DosClient(
        wsdl=f"http://127.0.0.1:{free_port()}{MOUNT_PATH}",
        username=USER,
        password=PASSWORD,
        timeout=2,
    )
    with pytest.raises(ServiceUnreachable):
        asyncio.run(dead.check_capacity_summary(case()))

    async def busy(request: Any) -> PlainTextResponse:
        return PlainTextResponse("", 503)

    with ThreadedServer(Starlette(routes=[Route(MOUNT_PATH, busy, methods=["POST"])])) as server:
        proxy = DosClient(wsdl=server.url + MOUNT_PATH, username=USER, password=PASSWORD)
        with pytest.raises(ServiceUnreachable, match="503"):
            asyncio.run(proxy.service_details_by_id("2000100001"))


def test_address_comes_from_configuration_not_the_wsdl() -> None:
    assert service_address("https://dos.example/app/api/webservices?wsdl=1.5") == (
        "https://dos.example/app/api/webservices"
    )
    zeep_service = DosClient(wsdl="http://127.0.0.1:9/x?wsdl", username="u", password="p")._zeep()
    assert zeep_service._binding_options["address"] == "http://127.0.0.1:9/x"


def test_dx_codes_map_to_dos_disposition_ids() -> None:
    assert [dos_disposition_id(d) for d in ("Dx02", "Dx05", "dx13", "Dx118", "1005", 1017)] == [
        1002,
        1005,
        1013,
        11118,
        1005,
        1017,
    ]
    # The sandbox DoS is profiled with the same ids.
    table = sample_data.load()["dos"]["disposition_ids"]
    assert all(dos_disposition_id(dx) == table[dx] for dx in table)
    with pytest.raises(ValueError):
        dos_disposition_id("Dx5")

"""DoS over real SOAP 1.2: the served WSDL drives zeep; the consumer's client reads the answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from uec_booking import sample_data
from uec_booking.asgi_server import ThreadedServer
from uec_booking.consumer.dos import DosClient
from uec_booking.consumer.errors import (
    DosAuthError,
    DosError,
    DosServiceNotFound,
    ServiceUnavailable,
)
from uec_booking.consumer.models import DosCase
from uec_booking.netutil import free_port
from uec_booking.spine.dos import MOUNT_PATH, create_app, haversine_miles

USER, PASSWORD = "sandbox-111", "secret"


@pytest.fixture(scope="module")
def wsdl() -> Iterator[str]:
    app = create_app(sample_data.load(), username=USER, password=PASSWORD)
    with ThreadedServer(app) as server:
        yield f"{server.url}{MOUNT_PATH}?wsdl"


def case(**changes: object) -> DosCase:
    values: dict[str, object] = {
        "postcode": "LS1 6AE",
        "age": 40,
        "gender": "F",
        "disposition": "Dx05",
        "symptom_group": 1010,
    }
    values.update(changes)
    return DosCase(**values)  # type: ignore[arg-type]


def test_wsdl_is_soap12_with_the_real_names(wsdl: str) -> None:
    text = httpx.get(wsdl).text
    assert 'targetNamespace="https://nww.pathwaysdos.nhs.uk/app/api/webservices"' in text
    assert "http://schemas.xmlsoap.org/wsdl/soap12/" in text
    for name in (
        "PathWayService",
        "CheckCapacitySummary",
        "ServiceDetailsById",
        "serviceVersion",
        "userInfo",
    ):
        assert name in text, name


def test_services_ordered_by_real_distance(wsdl: str) -> None:
    dos = DosClient(wsdl=wsdl, username=USER, password=PASSWORD)
    services = asyncio.run(dos.check_capacity_summary(case()))
    ids = [s.id for s in services]
    # Leeds city centre (LS1 6AE): UTC, OOH GP, then Bradford and Wakefield further out.
    assert ids[:2] == ["2000100001", "2000100002"] and set(ids) == {
        "2000100001",
        "2000100002",
        "2000100004",
        "2000100005",
    }
    distances = [s.distance_miles for s in services]
    assert distances == sorted(distances)
    assert (
        abs(distances[0] - round(haversine_miles((53.7946, -1.5445), (53.7965, -1.5478)), 1)) < 0.05
    )
    assert [s.requirebooking for s in services][:2] == [False, True]


def test_filters_exclude(wsdl: str) -> None:
    dos = DosClient(wsdl=wsdl, username=USER, password=PASSWORD)
    dental = asyncio.run(dos.check_capacity_summary(case(disposition="Dx118", symptom_group=1220)))
    assert [s.id for s in dental] == ["2000100003"]
    near = asyncio.run(dos.check_capacity_summary(case(search_distance=5)))
    assert {s.id for s in near} == {"2000100001", "2000100002"}
    assert asyncio.run(dos.check_capacity_summary(case(age=200))) == []


def test_service_details_and_booking_asid(wsdl: str) -> None:
    dos = DosClient(wsdl=wsdl, username=USER, password=PASSWORD)
    bookable = asyncio.run(dos.service_details_by_id("2000100001"))
    assert bookable.booking_asids == ["200000000101"] and bookable.phone == "0113 496 0101"
    referral_only = asyncio.run(dos.service_details_by_id("2000100004"))
    assert referral_only.booking_asids == [] and referral_only.endpoints == []


def test_faults_become_consumer_errors(wsdl: str) -> None:
    with pytest.raises(DosAuthError):
        asyncio.run(
            DosClient(wsdl=wsdl, username=USER, password="wrong").check_capacity_summary(case())
        )
    dos = DosClient(wsdl=wsdl, username=USER, password=PASSWORD)
    with pytest.raises(DosServiceNotFound):
        asyncio.run(dos.service_details_by_id("999"))
    with pytest.raises(DosError):
        asyncio.run(dos.check_capacity_summary(case(postcode="ZZ9 9ZZ")))
    with pytest.raises(ServiceUnavailable):
        asyncio.run(
            DosClient(
                wsdl=f"http://127.0.0.1:{free_port()}{MOUNT_PATH}?wsdl",
                username=USER,
                password=PASSWORD,
                timeout=2,
            ).check_capacity_summary(case())
        )


def test_raw_envelope_is_soap_12(wsdl: str) -> None:
    url = wsdl.removesuffix("?wsdl")
    envelope = f"""<soap12:Envelope xmlns:soap12="http://www.w3.org/2003/05/soap-envelope" xmlns:w="https://nww.pathwaysdos.nhs.uk/app/api/webservices">
  <soap12:Body><w:ServiceDetailsById><w:userInfo><w:username>{USER}</w:username><w:password>{PASSWORD}</w:password></w:userInfo>
  <w:serviceId>2000100002</w:serviceId></w:ServiceDetailsById></soap12:Body></soap12:Envelope>"""
    response = httpx.post(
        url, content=envelope, headers={"Content-Type": "application/soap+xml; charset=utf-8"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/soap+xml")
    assert (
        "http://www.w3.org/2003/05/soap-envelope" in response.text
        and "ASID:200000000101" in response.text
    )
    fault = httpx.post(
        url, content=b"<not-soap/>", headers={"Content-Type": "application/soap+xml"}
    )
    assert fault.status_code == 500 and "Fault" in fault.text  # SOAP 1.2 faults travel with 500


def test_service_version_header_is_sent_and_checked(
    wsdl: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uec_booking.consumer.dos as dos_module

    monkeypatch.setattr(dos_module, "SERVICE_VERSION", "1.4")
    with pytest.raises(DosError, match=r"serviceVersion 1\.4"):
        asyncio.run(
            DosClient(wsdl=wsdl, username=USER, password=PASSWORD).service_details_by_id(
                "2000100001"
            )
        )

"""The DoS stand-in over real SOAP 1.2 on a real socket, held to the published v1.5 contract:
its WSDL is the published one, zeep built from the project's copy of that WSDL round-trips
both operations, every answer validates against the XSD (checked here with lxml), and the search
follows the published logic (faults: test_dos_faults.py)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import zeep
from lxml import etree

from tests.dos_standin import (
    PASSWORD,
    USER,
    answer,
    ccs,
    find,
    post,
    sdbid,
    serve,
    soap,
)
from tests.dos_support import ACTION, CONTRACT, TNS, Recorder
from uec_booking import sample_data
from uec_booking.spine.dos import MOUNT_PATH, haversine_miles

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
BINDING = f"{{{TNS}}}PathWayServiceSoap12"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve(sample_data.load()) as server:
        yield f"{server.url}{MOUNT_PATH}"


def test_wsdl_is_the_published_one_at_our_address(url: str) -> None:
    served = httpx.get(url + "?wsdl")
    assert served.status_code == 200 and httpx.get(url + "?wsdl=1.5").content == served.content
    published = CONTRACT.joinpath("pathwayservice_v1_5.wsdl").read_bytes()
    assert served.content == published.replace(
        b'location="https://nww.pathwaysdos.nhs.uk/app/api/webservices"',
        f'location="{url}"'.encode(),
    )
    root = etree.fromstring(served.content)
    port = root.find(f"{{{WSDL_NS}}}service[@name='PathWayService']/{{{WSDL_NS}}}port")
    assert port is not None and port.get("name") == "PathWayServiceSoap12"
    assert httpx.get(url + "?wsdl=1.3").status_code == 404


def zeep_service(url: str, recorder: Recorder) -> Any:
    client = zeep.Client(str(CONTRACT.joinpath("pathwayservice_v1_5.wsdl")), plugins=[recorder])
    return client.create_service(BINDING, url)


def test_zeep_from_the_published_wsdl_round_trips_both_operations(url: str) -> None:
    recorder = Recorder()
    service = zeep_service(url, recorder)
    user = {"username": USER, "password": PASSWORD}
    found = service.CheckCapacitySummary(
        userInfo=user,
        c={
            "postcode": "LS1 6AE",
            "age": 40,
            "ageFormat": "Years",
            "disposition": 1005,
            "symptomGroup": 1010,
            "symptomDiscriminatorList": {"int": [4003]},
            "forceSearchDistance": False,
            "gender": "F",
        },
        _soapheaders={"ServiceVersion": "1.5"},
    )
    destinations = found.CheckCapacitySummaryResult.serviceCareSummaryDestination
    assert [d.id for d in destinations][:2] == [2000100001, 2000100002]
    details = service.ServiceDetailsById(
        userInfo=user, serviceId="2000100001", _soapheaders={"ServiceVersion": "1.5"}
    )
    endpoint = details[0].serviceEndpoints.endpoint[0]  # zeep unwraps the one-child ArrayOfServices
    assert (endpoint.transport, endpoint.format, endpoint.interaction, endpoint.address) == (
        "http",
        "FHIR",
        "Scheduling",
        "ASID:200000000101",
    )
    recorder.assert_all_valid()
    assert [h["Content-Type"].split('action="')[1].rstrip('"') for h in recorder.sent_headers] == [
        ACTION + "CheckCapacitySummary",
        ACTION + "ServiceDetailsById",
    ]


def test_check_capacity_summary_in_the_published_shape(url: str) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    result = answer(post(url, soap(ccs()), ACTION + "CheckCapacitySummary"))
    assert result.tag == f"{{{TNS}}}CheckCapacitySummaryResponse"
    uuid.UUID(find(result, "TransactionId"))
    assert datetime.fromisoformat(find(result, "RequestedAtDateTime") or "") >= before
    assert find(result, "CalculatedAgeInDays") == "14610"  # floor(40 * 365.25)
    assert (find(result, "SearchDistance"), find(result, "SearchDistanceUsedSource")) == (
        "60",
        "National",
    )
    ns = {"w": TNS}
    rows = result.findall("w:CheckCapacitySummaryResult/w:serviceCareSummaryDestination", ns)
    ids = [r.findtext("w:id", namespaces=ns) for r in rows]
    # Leeds city centre (LS1 6AE): UTC, OOH GP, then Wakefield and Bradford further out.
    assert ids == ["2000100001", "2000100002", "2000100005", "2000100004"]
    miles = [float(r.findtext("w:distance", namespaces=ns) or "") for r in rows]
    assert miles == sorted(miles)
    assert abs(miles[0] - haversine_miles((53.7946, -1.5445), (53.7965, -1.5478))) < 0.05
    booking = [
        r.findtext("w:attributes/w:attribute[w:name='requirebooking']/w:value", namespaces=ns)
        for r in rows
    ]
    assert booking == ["FALSE", "TRUE", "FALSE", "FALSE"]
    assert [r.findtext("w:capacity", namespaces=ns) for r in rows] == [
        "High",
        "High",
        "High",
        "Low",
    ]
    utc = rows[0]
    assert (
        utc.findtext("w:serviceEndpoints/w:endpoint/w:address", namespaces=ns)
        == "ASID:200000000101"
    )
    assert utc.findtext("w:serviceType/w:name", namespaces=ns) == "UTC"
    assert utc.findtext("w:odsCode", namespaces=ns) == "X26PR1"
    assert rows[3].find("w:serviceEndpoints/w:endpoint", ns) is None  # Bradford: no endpoint


def test_search_distance_is_in_kilometres(url: str) -> None:
    # Bradford is 13 km west, Wakefield 12 km south: a 10 km box keeps only Leeds.
    near = answer(post(url, soap(ccs(searchDistance=10, forceSearchDistance="true"))))
    ids = near.xpath("//w:serviceCareSummaryDestination/w:id/text()", namespaces={"w": TNS})
    assert ids == ["2000100001", "2000100002"]
    assert (find(near, "SearchDistance"), find(near, "SearchDistanceUsedSource")) == (
        "10",
        "Override",
    )
    wide = answer(post(url, soap(ccs(searchDistance=14))))
    assert len(wide.xpath("//w:serviceCareSummaryDestination", namespaces={"w": TNS})) == 4


def test_postcode_table_distance_wins_unless_forced() -> None:
    directory = copy.deepcopy(sample_data.load())
    directory["dos"]["search_distances"] = {"LS1": 3, "LS1 6": 5}
    with serve(directory) as server:
        url = server.url + MOUNT_PATH
        sector = answer(post(url, soap(ccs(searchDistance=60))))
        assert (find(sector, "SearchDistance"), find(sector, "SearchDistanceUsedSource")) == (
            "5",
            "Sector",
        )
        district = answer(post(url, soap(ccs(postcode="LS1 4HR"))))
        assert find(district, "SearchDistanceUsedSource") == "District"
        forced = answer(post(url, soap(ccs(searchDistance=60, forceSearchDistance="true"))))
        assert find(forced, "SearchDistanceUsedSource") == "Override"


def test_infant_ages_in_days_and_months(url: str) -> None:
    days = answer(post(url, soap(ccs(age=12, ageFormat="Days"))))
    assert find(days, "CalculatedAgeInDays") == "12"
    months = answer(post(url, soap(ccs(age=6, ageFormat="Months"))))
    assert find(months, "CalculatedAgeInDays") == "182"  # floor(6 * 30.4375)
    group = answer(post(url, soap(ccs(age=4, ageFormat="AgeGroup"))))
    assert find(group, "CalculatedAgeInDays") is None  # optional, and not known for a group


def test_capacity_none_is_not_returned_and_catch_all_names_itself() -> None:
    directory = copy.deepcopy(sample_data.load())
    for service in directory["healthcare_services"]:
        service["capacity"] = "None"
    directory["healthcare_services"].append(
        {
            **directory["healthcare_services"][0],
            "id": "2000100099",
            "name": "Leeds General Infirmary ED",
            "type": "Emergency Department",
            "type_code": "105",
            "asid": None,
            "symptom_groups": [1220],
        }
    )
    with serve(directory) as server:
        result = answer(post(server.url + MOUNT_PATH, soap(ccs())))
    names = result.xpath("//w:serviceCareSummaryDestination/w:name/text()", namespaces={"w": TNS})
    assert names == ["Leeds General Infirmary ED (Catch-all)"]


def test_service_details_by_id_or_ods_code(url: str) -> None:
    by_id = answer(post(url, soap(sdbid("2000100001")), ACTION + "ServiceDetailsById"))
    ns = {"w": TNS}
    assert by_id.xpath("w:services/w:service/w:id/text()", namespaces=ns) == ["2000100001"]
    endpoint = by_id.find("w:services/w:service/w:serviceEndpoints/w:endpoint", ns)
    assert endpoint is not None
    assert [
        endpoint.findtext(f"w:{n}", namespaces=ns)
        for n in ("transport", "format", "interaction", "address")
    ] == [
        "http",
        "FHIR",
        "Scheduling",
        "ASID:200000000101",
    ]
    by_ods = answer(post(url, soap(sdbid("x26wy2"))))
    assert by_ods.xpath("w:services/w:service/w:id/text()", namespaces=ns) == [
        "2000100004",
        "2000100005",
    ]
    referral_only = answer(post(url, soap(sdbid("2000100004"))))
    assert referral_only.find("w:services/w:service/w:serviceEndpoints/w:endpoint", ns) is None

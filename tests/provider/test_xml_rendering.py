"""FHIR XML written from JSON dicts (issue 13 #19): what fhir.resources reads back is what
the JSON says, for every kind of response the provider sends; and big XML searches render
off the event loop (how fast: `make bench`'s XML row)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import orjson
from fhir.resources.STU3 import get_fhir_model_class
from lxml import etree

from tests.provider.conftest import Provider
from tests.provider.helpers import (
    FHIR_JSON,
    SERVICE,
    appointment,
    later,
    search_free,
    service_search,
)
from uec_booking.fhir.xml import drop_unknown_elements, to_xml


def _model_json(resource: dict[str, Any]) -> Any:
    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return orjson.loads(model.model_dump_json())


def _read_back(xml: bytes) -> Any:
    name = etree.QName(etree.fromstring(xml)).localname
    return orjson.loads(get_fhir_model_class(name).model_validate_xml(xml).model_dump_json())


def test_every_response_kind_reads_back_as_its_json(provider: Provider) -> None:
    c, base = provider.client, provider.url
    slot = search_free(c, base)[0]
    booked = c.post(
        f"{base}/Appointment", content=orjson.dumps(appointment(slot)), headers=FHIR_JSON
    )
    appt = booked.json()
    c.put(
        f"{base}/Appointment/{appt['id']}",
        content=orjson.dumps(dict(appt, status="cancelled")),
        headers={**FHIR_JSON, "If-Match": booked.headers["etag"]},
    )
    urls = [
        "/metadata",
        f"/Slot?status=free&start=le{later(30)}&_include=Slot:schedule"
        "&_include:recurse=Schedule:actor:Practitioner&_include:recurse=Schedule:actor:Location"
        "&_include:recurse=Schedule:actor:HealthcareService",
        f"/Appointment/{appt['id']}",
        f"/Appointment/{appt['id']}/_history",
        "/Appointment?patient:identifier=9000000009",
        "/Nothing",
        f"/Slot?start=le{later(5)}&status=sleepy",
    ]
    for url in urls:
        as_json = c.get(f"{base}{url}")
        resource = as_json.json()
        xml = to_xml(resource)
        assert _read_back(xml) == _model_json(resource), url
        over_http = c.get(f"{base}{url}", headers={"Accept": "application/fhir+xml"})
        assert over_http.headers["content-type"] == "application/fhir+xml;charset=utf-8"
        etree.fromstring(over_http.content)


def test_a_search_from_a_view_in_xml_is_its_json_search(provider: Provider) -> None:
    """A view's search is answered from XML fragments rendered once each and joined (and the
    second time from its kept page): what it says is what the same search says in JSON."""
    c, base = provider.client, provider.url
    params = service_search(
        SERVICE,
        ("_count", "50"),
        ("_include", "Slot:schedule"),
        ("_include:recurse", "Schedule:actor:Practitioner"),
        ("_include:recurse", "Schedule:actor:HealthcareService"),
    )
    as_json = c.get(f"{base}/Slot", params=params).json()
    as_json.pop("id")
    assert len(as_json["entry"]) > 50  # matches and includes
    for _ in range(2):  # fragments made, then the kept page
        xml = c.get(f"{base}/Slot", params=params, headers={"Accept": "application/fhir+xml"})
        assert xml.status_code == 200
        read = _read_back(xml.content)
        read.pop("id")
        assert read == _model_json(as_json)


def test_elements_go_out_in_fhir_order_with_attributes_where_fhir_puts_them() -> None:
    slot = {
        "status": "free",
        "end": "2026-11-24T10:15:00.000+00:00",
        "start": "2026-11-24T10:00:00.000+00:00",
        "schedule": {"reference": "Schedule/x", "id": "r1"},
        "extension": [{"url": "http://example.org/e", "valueBoolean": False}],
        "id": "s1",
        "resourceType": "Slot",
        "_status": {"extension": [{"url": "http://example.org/z", "valueCode": "a\u0001b"}]},
    }
    xml = to_xml(slot)
    assert xml.endswith(
        b'<Slot xmlns="http://hl7.org/fhir"><id value="s1"/>'
        b'<extension url="http://example.org/e"><valueBoolean value="false"/></extension>'
        b'<schedule id="r1"><reference value="Schedule/x"/></schedule>'
        b'<status value="free"><extension url="http://example.org/z">'
        b'<valueCode value="a\xef\xbf\xbdb"/></extension></status>'
        b'<start value="2026-11-24T10:00:00.000+00:00"/>'
        b'<end value="2026-11-24T10:15:00.000+00:00"/></Slot>'
    )


def test_unknown_xml_elements_are_dropped_and_known_ones_kept() -> None:
    root = etree.fromstring(
        b'<Appointment xmlns="http://hl7.org/fhir"><madeUp value="1"/><status value="booked"/>'
        b'<participant><status value="accepted"/><foo/></participant>'
        b'<contained><Patient><id value="P1"/><favourite value="x"/></Patient></contained>'
        b"<contained><NoSuchResource/></contained></Appointment>"
    )
    drop_unknown_elements(root)
    assert etree.tostring(root) == (
        b'<Appointment xmlns="http://hl7.org/fhir"><status value="booked"/>'
        b'<participant><status value="accepted"/></participant>'
        b'<contained><Patient><id value="P1"/></Patient></contained>'
        b"<contained/></Appointment>"
    )


def test_health_answers_while_big_xml_searches_render(provider: Provider) -> None:
    root = provider.url.removesuffix("/fhir")
    url = f"{provider.url}/Slot?status=free&start=le{later(72)}&_count=1000&_format=xml"
    worst = 0.0
    done = threading.Event()

    def searches() -> None:
        with httpx.Client(timeout=60) as c:
            for _ in range(3):
                assert c.get(url).status_code == 200
        done.set()

    worker = threading.Thread(target=searches)
    worker.start()
    with httpx.Client(timeout=60) as h:
        while not done.is_set():
            started = time.perf_counter()
            assert h.get(f"{root}/_health").status_code == 200
            worst = max(worst, time.perf_counter() - started)
            time.sleep(0.01)
    worker.join()
    # Rendered through the models on the event loop, /_health waited 2.6 s behind each.
    assert worst < 1.0, worst

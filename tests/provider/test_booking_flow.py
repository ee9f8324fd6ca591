"""The seed's flow over real HTTP, on SQLite and PostgreSQL: search, book, slot gone,
book again → 422, cancel frees the slot; the NHS test kit's XML bodies book and cancel."""

from __future__ import annotations

import orjson
from fhir.resources.STU3.appointment import Appointment
from fhir.resources.STU3.bundle import Bundle

from tests.provider.conftest import Provider
from tests.provider.helpers import FHIR_JSON, FHIR_XML, appointment, search_free, tkw_body


def test_search_book_slot_gone_rebook_422_cancel_frees(provider: Provider) -> None:
    c, base = provider.client, provider.url
    slots = search_free(c, base)
    assert slots, "the seeded service has free slots"
    slot = slots[0]

    booked = c.post(
        f"{base}/Appointment", content=orjson.dumps(appointment(slot)), headers=FHIR_JSON
    )
    assert booked.status_code == 201, booked.text
    body = booked.json()
    Appointment.model_validate(body)
    assert body["status"] == "booked" and body["meta"]["versionId"] == "1"
    assert booked.headers["location"] == f"{base}/Appointment/{body['id']}/_history/1"
    assert booked.headers["etag"] == 'W/"1"'
    assert len(body["id"]) == 36  # a UUID

    assert slot["id"] not in {s["id"] for s in search_free(c, base)}
    assert c.get(f"{base}/Slot/{slot['id']}").json()["status"] == "busy"

    again = c.post(
        f"{base}/Appointment", content=orjson.dumps(appointment(slot)), headers=FHIR_JSON
    )
    assert again.status_code == 422
    outcome = again.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["id"]
    assert [(i["severity"], i["code"], i["diagnostics"]) for i in outcome["issue"]] == [
        ("error", "processing", "Slot no longer available")
    ]

    read = c.get(f"{base}/Appointment/{body['id']}")
    assert read.status_code == 200 and read.headers["etag"] == 'W/"1"'
    cancelled = dict(read.json(), status="cancelled")
    put = c.put(
        f"{base}/Appointment/{body['id']}",
        content=orjson.dumps(cancelled),
        headers={**FHIR_JSON, "If-Match": read.headers["etag"]},
    )
    assert put.status_code == 200, put.text
    assert put.json()["status"] == "cancelled"
    assert put.headers["etag"] == 'W/"2"' and put.headers["last-modified"].endswith("GMT")
    assert slot["id"] in {s["id"] for s in search_free(c, base)}

    history = c.get(f"{base}/Appointment/{body['id']}/_history").json()
    assert [e["resource"]["status"] for e in history["entry"]] == ["cancelled", "booked"]
    v1 = c.get(f"{base}/Appointment/{body['id']}/_history/1")
    assert v1.json()["status"] == "booked"

    rebook = c.post(
        f"{base}/Appointment", content=orjson.dumps(appointment(slot)), headers=FHIR_JSON
    )
    assert rebook.status_code == 201

    found = c.get(
        f"{base}/Appointment",
        params={"patient:identifier": "https://fhir.nhs.uk/Id/nhs-number|9000000009"},
    ).json()
    assert {e["resource"]["status"] for e in found["entry"]} == {"booked", "cancelled"}


def test_tkw_xml_bodies_book_and_cancel_as_they_are(provider: Provider) -> None:
    c, base = provider.client, provider.url
    slot = search_free(c, base)[1]
    booked = c.post(
        f"{base}/Appointment", content=tkw_body("book_appt.xml", slot), headers=FHIR_XML
    )
    assert booked.status_code == 201, booked.text
    assert booked.headers["content-type"].startswith("application/fhir+xml")
    model = Appointment.model_validate_xml(booked.content)
    assert model.status == "booked"
    assert c.get(f"{base}/Slot/{slot['id']}").json()["status"] == "busy"

    cancel = tkw_body("book_appt.xml", slot, appointment_id=model.id).replace(
        b'<status value="booked"/>', b'<status value="cancelled"/>'
    )
    put = c.put(
        f"{base}/Appointment/{model.id}",
        content=cancel,
        headers={**FHIR_XML, "If-Match": booked.headers["etag"]},
    )
    assert put.status_code == 200, put.text
    assert Appointment.model_validate_xml(put.content).status == "cancelled"
    assert c.get(f"{base}/Slot/{slot['id']}").json()["status"] == "free"


def test_search_includes_each_resource_once_and_valid_in_both_formats(provider: Provider) -> None:
    c, base = provider.client, provider.url
    includes = [
        "Slot:schedule",
        "Schedule:actor:Practitioner",
        "Schedule:actor:PractitionerRole",
        "Schedule:actor:Location",
        "Schedule:actor:HealthcareService",
        "HealthcareService:providedBy",
    ]
    slots = search_free(c, base, _count="40")
    assert len(slots) == 40
    params = [
        ("status", "free"),
        ("start", f"le{slots[-1]['end']}"),
        ("start", f"ge{slots[0]['start']}"),
    ]
    params += [("schedule.actor:healthcareservice", "2000100001")] + [
        ("_include", i) for i in includes
    ]
    as_json = c.get(f"{base}/Slot", params=params)
    bundle = as_json.json()
    Bundle.model_validate(bundle)
    kinds = [(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]]
    assert len(kinds) == len(set(kinds)), "an included resource appears once"
    included = {
        k for k, _ in kinds[len([e for e in bundle["entry"] if e["search"]["mode"] == "match"]) :]
    }
    assert included == {
        "Schedule",
        "Practitioner",
        "PractitionerRole",
        "Location",
        "HealthcareService",
        "Organization",
    }
    for entry in bundle["entry"]:
        assert (
            entry["fullUrl"]
            == f"{base}/{entry['resource']['resourceType']}/{entry['resource']['id']}"
        )
        assert entry["resource"]["meta"]["versionId"]
        assert entry["search"]["mode"] == (
            "match" if entry["resource"]["resourceType"] == "Slot" else "include"
        )
    slot_profiles = bundle["entry"][0]["resource"]["meta"]["profile"]
    assert any("NHS-Slot-1" in p for p in slot_profiles) and any(
        "CareConnect-Slot-1" in p for p in slot_profiles
    )

    as_xml = c.get(f"{base}/Slot", params=[*params, ("_format", "xml")])
    assert as_xml.headers["content-type"] == "application/fhir+xml;charset=utf-8"
    parsed = Bundle.model_validate_xml(as_xml.content)
    assert len(parsed.entry) == len(bundle["entry"])


def test_slots_satisfy_every_time_constraint(provider: Provider) -> None:
    c, base = provider.client, provider.url
    slots = search_free(c, base)
    lo, hi = slots[3]["start"], slots[10]["start"]
    got = c.get(
        f"{base}/Slot",
        params=[
            ("status", "free"),
            ("start", f"gt{lo}"),
            ("start", f"lt{hi}"),
            ("service", "2000100001"),
        ],
    ).json()
    starts = [e["resource"]["start"] for e in got["entry"]]
    assert starts and all(lo < s < hi for s in starts)


def test_metadata_is_a_capability_statement(provider: Provider) -> None:
    response = provider.client.get(f"{provider.url}/metadata")
    assert response.status_code == 200
    cs = response.json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "3.0.1" and cs["acceptUnknown"] == "both"
    assert set(cs["format"]) == {"application/fhir+json", "application/fhir+xml"}
    slot = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Slot")
    assert {p["name"] for p in slot["searchParam"]} >= {
        "start",
        "status",
        "schedule.actor:healthcareservice",
    }
    assert "Schedule:actor:Practitioner" in slot["searchInclude"]
    xml = provider.client.get(
        f"{provider.url}/metadata", headers={"Accept": "application/fhir+xml"}
    )
    assert xml.status_code == 200 and b"<CapabilityStatement" in xml.content


def test_directory_reads(provider: Provider) -> None:
    c, base = provider.client, provider.url
    for path in (
        "HealthcareService/2000100001",
        "Organization/org-x26pr1",
        "Location/loc-leeds-utc",
        "Practitioner/prac-utc-1",
        "PractitionerRole/role-2000100001-prac-utc-1",
        "Schedule/sch-2000100001-prac-utc-1",
    ):
        response = c.get(f"{base}/{path}")
        assert response.status_code == 200, path
        assert response.headers["etag"] == 'W/"1"'
        assert response.json()["id"] == path.split("/")[1]
    practitioner = c.get(f"{base}/Practitioner/prac-utc-1").json()
    assert practitioner["name"][0]["family"] == "Black"  # STU3: a list of names, family a string


def test_a_patient_without_an_nhs_number_is_accepted(provider: Provider) -> None:
    slot = search_free(provider.client, provider.url)[2]
    body = appointment(slot)
    del body["contained"][0]["identifier"]
    booked = provider.client.post(
        f"{provider.url}/Appointment", content=orjson.dumps(body), headers=FHIR_JSON
    )
    assert booked.status_code == 201, booked.text

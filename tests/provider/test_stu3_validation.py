"""Every kind of provider response, in JSON and XML, checked by validators independent of the
product (see tests/validator/README.md): FHIR.js with the official STU3 definitions, and the
official STU3 XML schema."""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from lxml import etree

from tests.provider.conftest import Provider
from tests.provider.helpers import FHIR_JSON, SERVICE, appointment, search_free, window
from tests.provider.test_provider_auth import DASHBOARD, Secured, secured

__all__ = ["secured"]

VALIDATOR = Path(__file__).resolve().parents[1] / "validator"
INCLUDES = [
    "Slot:schedule",
    "Schedule:actor:Practitioner",
    "Schedule:actor:PractitionerRole",
    "Schedule:actor:HealthcareService",
    "HealthcareService.location",
    "HealthcareService.providedBy",
]


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(VALIDATOR / "stu3-xsd" / "fhir-single.xsd")))


def _validate(responses: dict[str, httpx.Response]) -> dict[str, list[str]]:
    """Problems per response: FHIR.js for both formats, the STU3 XSD for XML."""
    node = shutil.which("node")
    assert node, "Node.js is needed for the STU3 validator: make system-deps"
    assert (VALIDATOR / "node_modules" / "fhir").is_dir(), "run `make validator` (npm ci)"
    items = []
    problems: dict[str, list[str]] = {}
    for name, response in responses.items():
        fmt = "xml" if "xml" in response.headers["content-type"] else "json"
        items.append({"name": name, "format": fmt, "body": response.text})
        problems[name] = []
        if fmt == "xml":
            schema = _schema()
            if not schema.validate(etree.fromstring(response.content)):
                problems[name] += [f"XSD: {e.message}" for e in schema.error_log][:5]
    work = VALIDATOR / "node_modules" / ".items.json"
    work.write_text(json.dumps(items), encoding="utf-8")
    done = subprocess.run(
        [node, str(VALIDATOR / "validate.js"), str(work)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for result in json.loads(done.stdout):
        problems[result["name"]] += result["errors"]
    return {name: found for name, found in problems.items() if found}


def _both(name: str, send: Any) -> dict[str, httpx.Response]:
    """The response to `send(headers)` in JSON and in XML."""
    out = {}
    for fmt, accept in (("json", "application/fhir+json"), ("xml", "application/fhir+xml")):
        out[f"{name} ({fmt})"] = send({"Accept": accept})
    return out


def test_every_response_kind_is_valid_stu3_in_json_and_xml(provider: Provider) -> None:
    c, base = provider.client, provider.url
    lo, hi = window()
    search = [
        ("status", "free"),
        ("start", f"ge{lo}"),
        ("start", f"le{hi}"),
        ("schedule.actor:healthcareservice", SERVICE),
        ("_count", "3"),
        *[("_include", i) for i in INCLUDES],
    ]
    slots = search_free(c, base, _count="10")
    got: dict[str, httpx.Response] = {}
    got |= _both("metadata", lambda h: c.get(f"{base}/metadata", headers=h))
    got |= _both("slot search", lambda h: c.get(f"{base}/Slot", params=search, headers=h))
    got |= _both(
        "empty slot search",
        lambda h: c.get(
            f"{base}/Slot",
            params=[("start", "ge2099-01-01"), ("start", "le2099-01-02")],
            headers=h,
        ),
    )
    got |= _both(
        "slot count",
        lambda h: c.get(f"{base}/Slot", params=[*search, ("_summary", "count")], headers=h),
    )
    bundle = c.get(f"{base}/Slot", params=search).json()
    for entry in bundle["entry"]:
        kind, ident = entry["resource"]["resourceType"], entry["resource"]["id"]
        got |= _both(f"read {kind}", lambda h, k=kind, i=ident: c.get(f"{base}/{k}/{i}", headers=h))
    booked: dict[str, httpx.Response] = {}
    for n, fmt in enumerate(("json", "xml")):
        accept = {"Accept": f"application/fhir+{fmt}", "Content-Type": "application/fhir+json"}
        booked[fmt] = c.post(f"{base}/Appointment", json=appointment(slots[n]), headers=accept)
        assert booked[fmt].status_code == 201, booked[fmt].text
        got[f"create ({fmt})"] = booked[fmt]
    created = booked["json"].json()
    appointment_id = created["id"]
    cancel = {**created, "status": "cancelled"}
    cancel.pop("meta", None)
    got["cancel (json)"] = c.put(
        f"{base}/Appointment/{appointment_id}",
        json=cancel,
        headers={**FHIR_JSON, "If-Match": booked["json"].headers["etag"]},
    )
    assert got["cancel (json)"].status_code == 200, got["cancel (json)"].text
    got |= _both(
        "read Appointment", lambda h: c.get(f"{base}/Appointment/{appointment_id}", headers=h)
    )
    got |= _both(
        "vread Appointment",
        lambda h: c.get(f"{base}/Appointment/{appointment_id}/_history/1", headers=h),
    )
    got |= _both(
        "history", lambda h: c.get(f"{base}/Appointment/{appointment_id}/_history", headers=h)
    )
    got |= _both(
        "appointment search",
        lambda h: c.get(
            f"{base}/Appointment",
            params={"patient:identifier": "https://fhir.nhs.uk/Id/nhs-number|9000000009"},
            headers=h,
        ),
    )
    # Each OperationOutcome the provider answers with.
    outcomes = {
        "400 bad search": lambda h: c.get(
            f"{base}/Slot", params=[("start", "ge-nonsense")], headers=h
        ),
        "404 unknown service": lambda h: c.get(
            f"{base}/Slot",
            params=[("start", f"le{hi}"), ("schedule.actor:healthcareservice", "nope")],
            headers=h,
        ),
        "404 unknown appointment": lambda h: c.get(f"{base}/Appointment/nope", headers=h),
        "415 unsupported body": lambda h: c.post(
            f"{base}/Appointment", content=b"x", headers={**h, "Content-Type": "text/plain"}
        ),
        "422 slot taken": lambda h: c.post(
            f"{base}/Appointment",
            json=appointment(slots[1]),
            headers={**h, "Content-Type": "application/fhir+json"},
        ),
        "412 no If-Match": lambda h: c.put(
            f"{base}/Appointment/{booked['xml'].headers['location'].split('/')[-3]}",
            json={**cancel, "id": booked["xml"].headers["location"].split("/")[-3]},
            headers={**h, "Content-Type": "application/fhir+json"},
        ),
        "405 method": lambda h: c.delete(f"{base}/Slot/{slots[3]['id']}", headers=h),
        "400 malformed body": lambda h: c.post(
            f"{base}/Appointment",
            content=b"{",
            headers={**h, "Content-Type": "application/fhir+json"},
        ),
    }
    for name, send in outcomes.items():
        pair = _both(name, send)
        for response in pair.values():
            assert response.status_code == int(name[:3]), (name, response.text)
        got |= pair
    assert _validate(got) == {}
    assert len(got) > 40


def test_the_validators_catch_what_they_should() -> None:
    """Each validator refuses a resource that breaks STU3 (so a pass above means something)."""
    bad_json = httpx.Response(
        200,
        headers={"content-type": "application/fhir+json"},
        json={"resourceType": "Slot", "id": "a", "status": "free", "unknown": 1},
    )
    bad_xml = httpx.Response(
        200,
        headers={"content-type": "application/fhir+xml"},
        content=b'<Slot xmlns="http://hl7.org/fhir"><status value="free"/><id value="a"/></Slot>',
    )
    found = _validate({"json": bad_json, "xml": bad_xml})
    assert any("schedule" in p for p in found["json"]) and any(
        "unknown" in p for p in found["json"]
    )
    assert any(p.startswith("XSD") for p in found["xml"])
    assert any(not p.startswith("XSD") for p in found["xml"])


def test_an_outcome_entry_and_token_errors_are_valid_stu3(secured: Secured) -> None:
    lo, hi = window()
    params = [
        ("status", "free"),
        ("start", f"ge{lo}"),
        ("start", f"le{hi}"),
        ("schedule.actor:healthcareservice", "2000100002"),
    ]
    dashboard = secured.token(DASHBOARD)
    got: dict[str, httpx.Response] = {}
    got |= _both(
        "searchset with an outcome",
        lambda h: httpx.get(
            f"{secured.base}/Slot",
            params=params,
            headers={**h, "Authorization": f"Bearer {dashboard}"},
        ),
    )
    got |= _both(
        "401 no token", lambda h: httpx.get(f"{secured.base}/Slot", params=params, headers=h)
    )
    got |= _both(
        "403 scope",
        lambda h: httpx.post(
            f"{secured.base}/Appointment",
            json={"resourceType": "Appointment"},
            headers={
                **h,
                "Authorization": f"Bearer {dashboard}",
                "Content-Type": "application/fhir+json",
            },
        ),
    )
    assert [r.status_code for r in got.values()] == [200, 200, 401, 401, 403, 403]
    assert _validate(got) == {}

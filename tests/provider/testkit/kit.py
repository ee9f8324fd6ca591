"""The NHS test kit's autotest chains (`nhsdigitalmait/FHIR_111_UEC`,
`autotest_config/tstp/EB_*.tstp`) as Python: the kit's requests (headers, interim JWTs,
request bodies and their XSLT transforms) and its PASSFAIL checks, against our provider over a
real socket, with our own test data (`tests/data/testkit`).

Each test named after a kit SCHEDULE runs that schedule's TESTS in order; each check is named
after the kit's CHAIN test it ports. The kit's substitutions are ours: `__HCS__` is a sample
service with slots, `__HCS_NO_SLOTS__` one without, `__HCS_SLOTS_ONLY__` another with slots.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fhir.resources.STU3.appointment import Appointment
from lxml import etree

from tests.provider.helpers import tkw_body

DATA = Path(__file__).resolve().parents[2] / "data" / "testkit"
NS = {"f": "http://hl7.org/fhir"}
PUBLIC_BASE = "https://provider.example/fhir"  # the interim tokens' `aud`, our Location base
CONSUMER_ASID = "200000000201"
PROVIDER_ASID = "200000000101"
HCS = "2000100001"
HCS_NO_SLOTS = "tk-no-slots"
HCS_SLOTS_ONLY = "2000100003"
STD_INCLUDES = (
    "_include=Slot%3Aschedule&_include=Schedule%3Aactor%3APractitioner"
    "&_include=Schedule%3Aactor%3APractitionerRole&_include=Schedule%3Aactor%3AHealthcareService"
    "&_include=HealthcareService.location&_include=HealthcareService.providedBy"
)
REVINCLUDES = STD_INCLUDES.replace("_include", "_revinclude")
INTERACTION = "urn:nhs:names:services:careconnect:fhir:rest:"
JSON_ACCEPT = {"Accept": "application/fhir+json"}
XML_ACCEPT = {"Accept": "application/fhir+xml"}
JSON_CONTENT = {"Content-Type": "application/fhir+json"}
XML_CONTENT = {"Content-Type": "application/fhir+xml"}
CLAIMS: dict[str, Any] = json.loads((DATA / "interim_claims.json").read_text(encoding="utf-8"))


def kit_time(days: int) -> str:
    """`getFormattedTime "yyyy-MM-dd'T00:00:00'XXX" "Europe/London" days`: midnight in London,
    `days` from today, with its offset (URL-encoded, as the kit's `true` asks)."""
    london = ZoneInfo("Europe/London")
    day = datetime.now(london).date() + timedelta(days=days)
    text = datetime.combine(day, datetime.min.time(), london).isoformat()
    text = text.replace("+00:00", "Z")
    return text.replace("+", "%2B").replace(":", "%3A")


WINDOW = f"start=ge{kit_time(1)}&start=le{kit_time(4)}"


def jwt(template: str, **changes: Any) -> str:
    """An interim (unsigned) token from one of our kit-shaped claim templates."""
    claims = copy.deepcopy(CLAIMS[template])
    now = int(time.time())
    claims.update(iat=now, exp=now + 300, aud=PUBLIC_BASE)
    claims.update(changes)

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def headers(interaction: str, token: str | None, *extra: dict[str, str]) -> dict[str, str]:
    """The kit's `credentials` + interaction id + JWT headers, and any others."""
    out = {
        "Ssp-From": CONSUMER_ASID,
        "Ssp-To": PROVIDER_ASID,
        "Ssp-TraceID": str(uuid.uuid4()),
        "Ssp-InteractionID": INTERACTION + interaction,
    }
    if token is not None:
        out["Authorization"] = f"Bearer {token}"
    for more in extra:
        out.update(more)
    return out


def integrity() -> dict[str, str]:
    return {"X-Request-ID": str(uuid.uuid4())}


@dataclass
class Kit:
    url: str  # our provider's FHIR base on its real socket
    client: httpx.Client

    def search(
        self, query: str, *extra: dict[str, str], token: str | None = None
    ) -> httpx.Response:
        """`SEND_TKW empty_file TO __TO_ENDPOINT__/Slot?<query>` with the search headers."""
        return self.client.get(
            f"{self.url}/Slot?{query}",
            headers=headers("search:slot", token or jwt("slot_search"), *extra),
        )

    def search_3_days(self) -> httpx.Response:
        """SFFSWithValidParameters_3_days_N: the slots a booking chain then takes one of."""
        response = self.search(
            f"schedule.actor%3Ahealthcareservice={HCS}&{WINDOW}&status=free&{STD_INCLUDES}",
            JSON_ACCEPT,
        )
        assert response.status_code == 200, response.text[:300]
        return response

    def book(
        self, body: bytes, *extra: dict[str, str], token: str | None = "book_cancel"
    ) -> httpx.Response:
        return self.client.post(
            f"{self.url}/Appointment",
            content=body,
            headers=headers("create:appointment", jwt(token) if token else None, *extra),
        )

    def read(self, appointment_id: str, *extra: dict[str, str]) -> httpx.Response:
        return self.client.get(
            f"{self.url}/Appointment/{appointment_id}",
            headers=headers("read:appointment", jwt("read_appointment"), *extra),
        )

    def cancel(
        self,
        appointment_id: str,
        body: bytes,
        *extra: dict[str, str],
        token: str | None = "book_cancel",
    ) -> httpx.Response:
        return self.client.put(
            f"{self.url}/Appointment/{appointment_id}",
            content=body,
            headers=headers("update:appointment", jwt(token) if token else None, *extra),
        )


# Request bodies: our test-kit-shaped book_appt.xml, filled from a slot, and the kit's XSLT
# transforms (autotest_config/transforms) as lxml edits.


def template(slot: dict[str, Any], *, appointment_id: str = "", created: str) -> etree._Element:
    return etree.fromstring(
        tkw_body("book_appt.xml", slot, appointment_id=appointment_id, created=created)
    )


def _drop(root: etree._Element, path: str) -> None:
    for node in root.xpath(path, namespaces=NS):
        node.getparent().remove(node)


def _set(root: etree._Element, path: str, value: str) -> None:
    for node in root.xpath(path, namespaces=NS):
        node.set("value", value)


def remove_appt_id(root: etree._Element) -> etree._Element:
    _drop(root, "/f:Appointment/f:id")
    return root


def remove_appt_id_and_contact(root: etree._Element) -> etree._Element:
    _drop(root, "//f:Patient/f:contact")
    return remove_appt_id(root)


def remove_appt_id_and_contact_and_nhs_no(root: etree._Element) -> etree._Element:
    _drop(root, "//f:Patient/f:identifier")
    _drop(root, "/f:Appointment/f:participant/f:actor/f:identifier")
    return remove_appt_id_and_contact(root)


def remove_appt_id_and_telecom(root: etree._Element) -> etree._Element:
    _drop(root, "//f:Patient/f:telecom")
    _set(root, "//f:Patient/f:contact/f:telecom/f:rank", "1")
    return remove_appt_id(root)


def remove_appt_id_and_change_rank(root: etree._Element) -> etree._Element:
    _set(root, "//f:contact/f:telecom/f:rank", "1")
    return remove_appt_id(root)


def remove_appt_id_and_two_rank2(root: etree._Element) -> etree._Element:
    _set(root, "//f:Patient/f:telecom/f:rank", "2")
    return remove_appt_id(root)


def cancel_appointment(root: etree._Element) -> etree._Element:
    _set(root, "/f:Appointment/f:status", "cancelled")
    return root


def change_patient_surname(root: etree._Element) -> etree._Element:
    for node in root.xpath("//f:Patient/f:name/f:family", namespaces=NS):
        node.set("value", node.get("value") + "xxxxx")
    return cancel_appointment(root)


def as_xml(root: etree._Element) -> bytes:
    return etree.tostring(root)


def as_json(root: etree._Element) -> bytes:
    """The body as `application/fhir+json`, as the kit sends it under `default_content`."""
    return Appointment.model_validate_xml(etree.tostring(root)).model_dump_json().encode()


def gzipped(body: bytes) -> bytes:
    return gzip.compress(body)


# Responses, read as the kit's xpaths read them (for JSON, the same paths over the JSON).


def root(response: httpx.Response) -> dict[str, Any]:
    """The response resource as FHIR JSON whatever its format; XML is read into the same
    shape (elements as keys, repeated ones as lists, `value` attributes as values)."""
    if "xml" in response.headers.get("content-type", ""):
        element = etree.fromstring(response.content)
        return {"resourceType": etree.QName(element).localname, **_xml(element)}
    data: dict[str, Any] = response.json()
    return data


_REPEATS = {
    "entry",
    "link",
    "actor",
    "identifier",
    "issue",
    "coding",
    "location",
    "format",
    "rest",
    "resource",
}


def _xml(element: etree._Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        entry_resource = name == "resource" and element.tag == f"{{{NS['f']}}}entry"
        if entry_resource:
            inner = child[0]
            value: Any = {"resourceType": etree.QName(inner).localname, **_xml(inner)}
        elif len(child) == 0 and "value" in child.attrib:
            value = child.get("value")
        else:
            value = _xml(child)
        if (name in _REPEATS and not entry_resource) or name in out:
            previous = out.get(name)
            out[name] = (
                [] if previous is None else previous if isinstance(previous, list) else [previous]
            ) + [value]
        else:
            out[name] = value
    return out


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == kind]


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def unquote(value: str) -> str:
    return value.replace("%2B", "+").replace("%3A", ":")


# The kit's PASSFAIL checks (EB_Common.tstp, EB_SearchForFreeSlots.tstp, ...).


def response_is(response: httpx.Response, kind: str) -> dict[str, Any]:
    """ResponseIsBundle / ResponseIsAppointment / ResponseIsOperationOutcome / ..."""
    found = root(response)
    assert found["resourceType"] == kind, (response.status_code, response.text[:300])
    return found


def response_is_json(response: httpx.Response) -> None:
    assert re.match(r"^application/fhir\+json.*$", response.headers["content-type"])


def response_is_xml(response: httpx.Response) -> None:
    assert re.match(r"^application/fhir\+xml.*$", response.headers["content-type"])


def response_was_gzip(response: httpx.Response) -> None:
    assert response.headers.get("content-encoding") == "gzip"


def search_count(bundle: dict[str, Any]) -> int:
    return int(bundle["total"])


def slots_status_free(bundle: dict[str, Any]) -> None:
    assert all(s["status"] == "free" for s in resources(bundle, "Slot"))


def slots_within(bundle: dict[str, Any], lo: str, hi: str) -> None:
    """SFFSSlotsTooEarly and SFFSSlotsTooLate."""
    start, end = instant(unquote(lo)), instant(unquote(hi))
    for slot in resources(bundle, "Slot"):
        assert start <= instant(slot["start"]) <= end, slot["start"]


def _refs(bundle: dict[str, Any], prefix: str) -> list[str]:
    return [
        a["reference"][len(prefix) + 1 :]
        for s in resources(bundle, "Schedule")
        for a in s.get("actor", [])
        if a["reference"].startswith(prefix + "/")
    ]


def practitioners_returned(bundle: dict[str, Any]) -> None:
    ids = {p["id"] for p in resources(bundle, "Practitioner")}
    refs = _refs(bundle, "Practitioner")
    assert sum(1 for r in refs if r in ids) == len(refs)


def practitioner_roles_returned(bundle: dict[str, Any]) -> None:
    roles = {r["id"] for r in resources(bundle, "PractitionerRole")}
    practitioners = resources(bundle, "Practitioner")
    matched = [
        i["value"]
        for p in practitioners
        for i in p.get("identifier", [])
        if i["system"] == "https://fhir.nhs.uk/Id/sds-role-profile-id" and i["value"] in roles
    ]
    assert len(matched) == len(practitioners)


def orgs_returned(bundle: dict[str, Any]) -> None:
    orgs = {o["id"] for o in resources(bundle, "Organization")}
    refs = [
        s["providedBy"]["reference"][len("Organization/") :]
        for s in resources(bundle, "HealthcareService")
        if s.get("providedBy", {}).get("reference", "").startswith("Organization/")
    ]
    assert sum(1 for r in refs if r in orgs) == len(orgs)


def healthcare_returned(bundle: dict[str, Any]) -> None:
    services = {s["id"] for s in resources(bundle, "HealthcareService")}
    refs = _refs(bundle, "HealthcareService")
    assert sum(1 for r in refs if r in services) == len(resources(bundle, "Schedule"))


def integrity_headers(request_id: str, response: httpx.Response) -> None:
    """IntegrityCorrelationIDHeaderIsPresent and IntegrityHeadersMatch."""
    assert response.headers.get("x-correlation-id") == request_id


def location_is_well_formed(response: httpx.Response) -> None:
    """LocationIsReturned and LocationIsWellFormed (`^https://.+/Appointment/.+$`)."""
    assert re.match(r"^https://.+/Appointment/.+$", response.headers["location"])


def appointment_booked(response: httpx.Response) -> dict[str, Any]:
    """ResponseIsAppointment, AppointmentIsBooked, AppointmentHasId."""
    appointment = response_is(response, "Appointment")
    assert appointment["status"] == "booked" and appointment["id"]
    return appointment


def first_slot(search: httpx.Response) -> dict[str, Any]:
    """The kit's slots_freeN extractor: a free slot of the search, to book."""
    return resources(root(search), "Slot")[0]

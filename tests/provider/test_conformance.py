"""Issue 14's findings on the provider's messages: times, Slot identifiers, Schedule actors,
empty arrays, `_include` spellings and Practitioner role profile ids (over a real socket)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from lxml import etree

from tests.provider.conftest import Provider
from tests.provider.helpers import FHIR_JSON, SERVICE, appointment, search_free, window

# fs_times: YYYY-MM-DDThh:mm:ss.sss+zz:zz
FS_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$")
ANY_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
FHIR_NS = {"f": "http://hl7.org/fhir"}
KIT_INCLUDES = [
    "Slot:schedule",
    "Schedule:actor:Practitioner",
    "Schedule:actor:PractitionerRole",
    "Schedule:actor:HealthcareService",
    "HealthcareService.location",
    "HealthcareService.providedBy",
]


def _search(provider: Provider, includes: list[str], **extra: str) -> Any:
    lo, hi = window()
    params = [
        ("status", "free"),
        ("start", f"ge{lo}"),
        ("start", f"le{hi}"),
        ("schedule.actor:healthcareservice", SERVICE),
        *[("_include", i) for i in includes],
        *extra.items(),
    ]
    return provider.client.get(f"{provider.url}/Slot", params=params)


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == kind]


def test_every_time_has_milliseconds_and_an_offset_in_json_and_xml(provider: Provider) -> None:
    bundle = _search(provider, KIT_INCLUDES, _count="5").json()
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert FS_TIME.match(resource["meta"]["lastUpdated"]), resource["meta"]
        if resource["resourceType"] == "Slot":
            assert FS_TIME.match(resource["start"]) and FS_TIME.match(resource["end"])
    xml = _search(provider, KIT_INCLUDES, _count="5", _format="xml")
    assert xml.status_code == 200
    times = [v for v in etree.fromstring(xml.content).xpath("//@value") if ANY_TIME.match(str(v))]
    assert len(times) > 15
    assert all(FS_TIME.match(str(t)) for t in times), times
    # The booked Appointment's meta too, in both formats.
    slot = bundle["entry"][0]["resource"]
    booked = provider.client.post(
        f"{provider.url}/Appointment", json=appointment(slot), headers=FHIR_JSON
    )
    assert booked.status_code == 201, booked.text
    assert FS_TIME.match(booked.json()["meta"]["lastUpdated"])
    read = provider.client.get(f"{provider.url}/Appointment/{booked.json()['id']}?_format=xml")
    last = etree.fromstring(read.content).xpath("f:meta/f:lastUpdated/@value", namespaces=FHIR_NS)
    assert FS_TIME.match(str(last[0])), last


def test_every_slot_has_one_stable_identifier(provider: Provider) -> None:
    slots = search_free(provider.client, provider.url, _count="20")
    again = {s["id"]: s for s in search_free(provider.client, provider.url, _count="20")}
    values = set()
    for slot in slots:
        assert len(slot["identifier"]) == 1
        identifier = slot["identifier"][0]
        assert identifier["system"] and identifier["value"]
        assert again[slot["id"]]["identifier"] == slot["identifier"]
        values.add(identifier["value"])
    assert len(values) == len(slots)
    read = provider.client.get(f"{provider.url}/Slot/{slots[0]['id']}").json()
    assert read["identifier"] == slots[0]["identifier"]


def test_schedule_actors_follow_the_override_and_location_stays_reachable(
    provider: Provider,
) -> None:
    response = _search(
        provider,
        ["Slot:schedule", "Schedule:actor:HealthcareService"],
        **{"_include:recurse": "Schedule:actor:Location"},
    )
    bundle = response.json()
    schedules = _resources(bundle, "Schedule")
    assert schedules
    for schedule in schedules:
        kinds = [a["reference"].split("/", 1)[0] for a in schedule["actor"]]
        assert kinds.count("HealthcareService") == 1
        assert kinds.count("Practitioner") <= 1 and kinds.count("PractitionerRole") <= 1
        assert set(kinds) <= {"HealthcareService", "Practitioner", "PractitionerRole"}, kinds
    service = _resources(bundle, "HealthcareService")[0]
    locations = {loc["id"] for loc in _resources(bundle, "Location")}
    assert {r["reference"].split("/", 1)[1] for r in service["location"]} == locations
    assert locations


def test_an_empty_searchset_has_no_empty_arrays(provider: Provider) -> None:
    later = datetime.now(UTC) + timedelta(days=60)
    response = provider.client.get(
        f"{provider.url}/Slot",
        params=[
            ("status", "free"),
            ("start", f"ge{later.isoformat()}"),
            ("start", f"le{(later + timedelta(days=1)).isoformat()}"),
            ("schedule.actor:healthcareservice", SERVICE),
            ("_include", "Slot:schedule"),
        ],
    )
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["total"] == 0
    assert "entry" not in bundle

    def no_empty_arrays(node: Any) -> None:
        if isinstance(node, list):
            assert node, "an empty array"
            for item in node:
                no_empty_arrays(item)
        elif isinstance(node, dict):
            for value in node.values():
                no_empty_arrays(value)

    no_empty_arrays(bundle)


def test_each_include_is_accepted_with_a_dot_or_a_colon(provider: Provider) -> None:
    def kinds(includes: list[str]) -> set[tuple[str, str]]:
        bundle = _search(provider, includes, _count="4").json()
        return {
            (e["resource"]["resourceType"], e["resource"]["id"])
            for e in bundle["entry"]
            if e["search"]["mode"] == "include"
        }

    for name in ("providedBy", "location"):
        dotted = kinds(["Slot:schedule", f"HealthcareService.{name}"])
        coloned = kinds(["Slot:schedule", f"HealthcareService:{name}"])
        assert dotted == coloned
        wanted = "Organization" if name == "providedBy" else "Location"
        assert any(kind == wanted for kind, _ in dotted), dotted
    assert kinds(["Slot.schedule"]) == kinds(["Slot:schedule"]) != set()


def test_practitioners_carry_the_role_profile_id_of_their_roles(provider: Provider) -> None:
    """The test kit's SFFSPractitionerRolesReturned check, in Python."""
    bundle = _search(provider, KIT_INCLUDES).json()
    practitioners = _resources(bundle, "Practitioner")
    roles = {r["id"] for r in _resources(bundle, "PractitionerRole")}
    assert practitioners
    matched = [
        i["value"]
        for p in practitioners
        for i in p["identifier"]
        if i["system"] == "https://fhir.nhs.uk/Id/sds-role-profile-id" and i["value"] in roles
    ]
    assert len(matched) == len(practitioners)

"""Search paging (issue 14 items 5 and 18): `Bundle.total` counts every match, `next`,
`previous` and `first` links with a page cursor that stays correct while slots are booked,
`_summary=count`; a real paging client (fhirpy) gets every match over a real socket."""

from __future__ import annotations

from typing import Any

import httpx
from fhirpy import SyncFHIRClient

from tests.provider.conftest import Provider
from tests.provider.helpers import FHIR_JSON, NHS_NUMBER, SERVICE, appointment, window


def _params(**extra: str) -> list[tuple[str, str]]:
    lo, hi = window()
    return [
        ("status", "free"),
        ("start", f"ge{lo}"),
        ("start", f"le{hi}"),
        ("schedule.actor:healthcareservice", SERVICE),
        *extra.items(),
    ]


def _link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((li["url"] for li in bundle.get("link", []) if li["relation"] == relation), None)


def _ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def test_total_counts_every_match_and_summary_count_returns_only_it(provider: Provider) -> None:
    c, base = provider.client, provider.url
    everything = c.get(f"{base}/Slot", params=_params()).json()
    every_id = _ids(everything)
    assert len(every_id) > 20
    assert everything["total"] == len(every_id)
    first = c.get(f"{base}/Slot", params=_params(_count="7")).json()
    assert len(_ids(first)) == 7
    assert first["total"] == len(every_id)
    assert _link(first, "next") and not _link(first, "previous")
    counted = c.get(f"{base}/Slot", params=_params(_summary="count")).json()
    assert counted["total"] == len(every_id)
    assert "entry" not in counted
    assert c.get(f"{base}/Slot", params=_params(_summary="nonsense")).status_code == 400
    assert c.get(f"{base}/Slot", params=_params(_page="not-a-cursor")).status_code == 400


def test_following_next_then_previous_walks_every_match_once(provider: Provider) -> None:
    c, base = provider.client, provider.url
    every_id = _ids(c.get(f"{base}/Slot", params=_params()).json())
    seen: list[str] = []
    pages: list[dict[str, Any]] = []
    url: str | None = str(httpx.URL(f"{base}/Slot", params=_params(_count="10")))
    while url:
        page = c.get(url).json()
        assert page["total"] == len(every_id)
        pages.append(page)
        seen += _ids(page)
        url = _link(page, "next")
    assert seen == every_id
    back = c.get(_link(pages[-1], "previous") or "").json()
    assert _ids(back) == _ids(pages[-2])
    assert _ids(c.get(_link(pages[-1], "first") or "").json()) == _ids(pages[0])


def test_a_booking_between_pages_skips_nothing(provider: Provider) -> None:
    c, base = provider.client, provider.url
    every_id = _ids(c.get(f"{base}/Slot", params=_params()).json())
    first = c.get(f"{base}/Slot", params=_params(_count="10")).json()
    # Another consumer books a slot of the first page before this one turns it.
    taken = first["entry"][0]["resource"]
    booked = c.post(f"{base}/Appointment", json=appointment(taken), headers=FHIR_JSON)
    assert booked.status_code == 201, booked.text
    second = c.get(_link(first, "next") or "").json()
    assert _ids(second) == every_id[10:20]
    assert second["total"] == len(every_id) - 1


def test_fhirpy_fetch_all_gets_every_match(provider: Provider) -> None:
    lo, hi = window()
    client = SyncFHIRClient(provider.url)
    counted = provider.client.get(f"{provider.url}/Slot", params=_params(_summary="count"))
    total = counted.json()["total"]
    found = (
        client.resources("Slot")
        .search(status="free", start=[f"ge{lo}", f"le{hi}"])
        .search(**{"schedule.actor:healthcareservice": SERVICE})
        .limit(3)
        .fetch_all()
    )
    assert total > 3
    assert len(found) == total, f"{len(found)} of {total}"
    assert len({s.id for s in found}) == total


def test_appointment_search_by_patient_pages_like_slot_search(provider: Provider) -> None:
    c, base = provider.client, provider.url
    slots = c.get(f"{base}/Slot", params=_params(_count="5")).json()["entry"]
    for entry in slots:
        booked = c.post(
            f"{base}/Appointment", json=appointment(entry["resource"]), headers=FHIR_JSON
        )
        assert booked.status_code == 201, booked.text
    params = {"patient:identifier": f"https://fhir.nhs.uk/Id/nhs-number|{NHS_NUMBER}"}
    first = c.get(f"{base}/Appointment", params={**params, "_count": "2"}).json()
    assert first["total"] == 5 and len(_ids(first)) == 2
    seen = _ids(first)
    url = _link(first, "next")
    while url:
        page = c.get(url).json()
        seen += _ids(page)
        url = _link(page, "next")
    assert len(seen) == 5 == len(set(seen))
    counted = c.get(f"{base}/Appointment", params={**params, "_summary": "count"}).json()
    assert counted["total"] == 5 and "entry" not in counted
    client = SyncFHIRClient(base)
    found = client.resources("Appointment").search(**params).limit(2).fetch_all()
    assert len(found) == 5


def test_capability_statement_lists_paging_and_exactly_what_is_supported(
    provider: Provider,
) -> None:
    statement = provider.client.get(f"{provider.url}/metadata").json()
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for kind in ("Slot", "Appointment"):
        names = {p["name"] for p in resources[kind]["searchParam"]}
        assert {"_count", "_summary", "_page"} <= names, names
    appointment_params = {p["name"] for p in resources["Appointment"]["searchParam"]}
    assert "patient:identifier" in appointment_params
    assert "searchInclude" not in resources["Appointment"]

"""The provider decides which consumers see which slots (issue 14 item 17, fs_slotmanagement,
er_overview): by the token's ODS code, organisation type or ASID; signed tokens from the
real auth stand-in, over real sockets, with the per-worker slot views in use."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from prometheus_client import REGISTRY

from tests.provider.helpers import FHIR_JSON, appointment, later
from tests.provider.test_provider_auth import CONSUMER, DASHBOARD, Secured, secured
from uec_booking.provider.seed import schedule_id
from uec_booking.provider.store import Store, directory
from uec_booking.provider.visibility import Rule

__all__ = ["secured"]  # the fixture, shared with the other secured-provider tests

UTC_SERVICE = "2000100001"  # open to every consumer in the sample data
OOH_SERVICE = "2000100002"  # visible_to: organisation type "NHS 111" in the sample data


def _search(s: Secured, token: str, service: str) -> dict[str, Any]:
    response = httpx.get(
        f"{s.base}/Slot",
        params=[
            ("status", "free"),
            ("start", f"ge{later(0)}"),
            ("start", f"le{later(47)}"),
            ("schedule.actor:healthcareservice", service),
            ("_include", "Slot:schedule"),
        ],
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    bundle: dict[str, Any] = response.json()
    return bundle


def _matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def _restrict(s: Secured, schedule: str, rule: Rule | None) -> None:
    async def run() -> None:
        store = Store(s.db_url)
        try:
            async with store.write() as session:
                await directory.set_visibility(session, schedule, rule)
        finally:
            await store.dispose()

    asyncio.run(run())


def test_a_consumer_allowed_none_gets_an_empty_bundle_with_an_outcome(secured: Secured) -> None:
    consumer, dashboard = secured.token(CONSUMER), secured.token(DASHBOARD)
    assert _matches(_search(secured, consumer, OOH_SERVICE)), "NHS 111 sees the OOH slots"
    refused = _search(secured, dashboard, OOH_SERVICE)
    assert refused["total"] == 0
    assert [e["search"]["mode"] for e in refused["entry"]] == ["outcome"]
    outcome = refused["entry"][0]["resource"]
    assert outcome["resourceType"] == "OperationOutcome" and outcome["id"]
    assert outcome["issue"][0]["code"] == "suppressed"
    assert outcome["issue"][0]["severity"] == "information"
    # The same consumer sees an unrestricted service's slots, with no outcome.
    open_to_all = _search(secured, dashboard, UTC_SERVICE)
    assert _matches(open_to_all)
    assert all(e["search"]["mode"] != "outcome" for e in open_to_all["entry"])


def test_views_stay_right_per_consumer_and_a_hidden_slot_books_as_not_free(
    secured: Secured,
) -> None:
    consumer, dashboard = secured.token(CONSUMER), secured.token(DASHBOARD)
    before = _matches(_search(secured, consumer, UTC_SERVICE))
    hidden = schedule_id(UTC_SERVICE, "prac-utc-2")
    assert {s["schedule"]["reference"] for s in before} == {
        f"Schedule/{schedule_id(UTC_SERVICE, 'prac-utc-1')}",
        f"Schedule/{hidden}",
    }
    # The provider restricts one Schedule to the dashboard's organisation (by ODS code).
    _restrict(secured, hidden, Rule(ods=frozenset({DASHBOARD["ods"]})))
    for_dashboard = _matches(_search(secured, dashboard, UTC_SERVICE))
    for_consumer = _matches(_search(secured, consumer, UTC_SERVICE))
    assert {s["id"] for s in for_dashboard} == {s["id"] for s in before}
    assert for_consumer and all(
        s["schedule"]["reference"] != f"Schedule/{hidden}" for s in for_consumer
    )
    assert _search(secured, consumer, UTC_SERVICE)["total"] == len(for_consumer)
    slot = next(s for s in for_dashboard if s["schedule"]["reference"] == f"Schedule/{hidden}")
    refused = httpx.post(
        f"{secured.base}/Appointment",
        json=appointment(slot),
        headers={**FHIR_JSON, "Authorization": f"Bearer {consumer}"},
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["issue"][0]["diagnostics"] == "Slot no longer available"
    read = httpx.get(
        f"{secured.base}/Slot/{slot['id']}", headers={"Authorization": f"Bearer {dashboard}"}
    )
    assert read.json()["status"] == "free", "the refused booking wrote nothing"
    # By ASID, the consumer is let in again and may book it.
    _restrict(secured, hidden, Rule(asids=frozenset({CONSUMER["asid"]})))
    again = _matches(_search(secured, consumer, UTC_SERVICE))
    assert {s["id"] for s in again} == {s["id"] for s in before}
    booked = httpx.post(
        f"{secured.base}/Appointment",
        json=appointment(slot),
        headers={**FHIR_JSON, "Authorization": f"Bearer {consumer}"},
    )
    assert booked.status_code == 201, booked.text


def test_an_answer_kept_for_one_consumer_is_given_to_nobody_it_would_not_be(
    secured: Secured,
) -> None:
    """A search answered again whole (`resources/slot.KeptAnswer`) is answered so only for a
    caller who is authorised and may see every slot in it."""
    params = [
        ("status", "free"),
        ("start", f"ge{later(0)}"),
        ("start", f"le{later(47)}"),
        ("schedule.actor:healthcareservice", OOH_SERVICE),
    ]

    def search(token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"{secured.base}/Slot", params=params, headers=headers)

    def reused() -> float:
        return REGISTRY.get_sample_value("uec_provider_slot_answers_reused_total") or 0.0

    consumer, dashboard = secured.token(CONSUMER), secured.token(DASHBOARD)
    first = search(consumer)
    assert first.status_code == 200 and _matches(first.json())
    before = reused()
    again = search(consumer)
    assert reused() == before + 1  # the NHS 111 consumer's search, answered again
    assert _matches(again.json()) == _matches(first.json())
    refused = search(dashboard)  # the same query, by a consumer the OOH slots are hidden from
    assert refused.status_code == 200 and refused.json()["total"] == 0
    assert [e["search"]["mode"] for e in refused.json()["entry"]] == ["outcome"]
    assert search(None).status_code == 401
    assert search(consumer + "x").status_code == 401
    assert reused() == before + 1

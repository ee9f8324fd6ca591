"""rep-prov-02, -04 and -05 (issue 14 item 16): computed from what the provider's store
knows, and where it cannot see a part of the requirement, the report says why."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.provider.conftest import Provider
from tests.provider.helpers import FHIR_JSON, appointment, search_free
from uec_booking.provider.report import counts, lead_time_band
from uec_booking.provider.store import Store
from uec_booking.reporting import Metric, provider_metrics


def _metrics(db_url: str) -> dict[str, Metric]:
    async def run() -> dict[str, int]:
        store = Store(db_url)
        try:
            now = datetime.now(UTC)
            return await counts(store, now - timedelta(hours=1), now + timedelta(days=3))
        finally:
            await store.dispose()

    return {m.id: m for m in provider_metrics(asyncio.run(run()))}


def test_rep_prov_02_04_05_are_computed_with_what_the_provider_cannot_see_said(
    provider: Provider,
) -> None:
    slots = search_free(provider.client, provider.url, _count="60")
    chosen = [slots[0], slots[-1]]  # one soon, one later
    for slot in chosen:
        booked = provider.client.post(
            f"{provider.url}/Appointment", json=appointment(slot), headers=FHIR_JSON
        )
        assert booked.status_code == 201, booked.text
    metrics = _metrics(provider.db_url)
    two, four, five = (metrics[f"rep-prov-0{n}"] for n in (2, 4, 5))
    for metric in (two, four, five):
        assert metric.available, metric.id
        assert metric.note
        assert "not visible" not in metric.summary()
    assert two.figures == {"booked": 2}
    assert "referrals" in two.note
    figures = four.figures
    assert figures["booked"] == 2 and figures["free slots"] > 0
    now = datetime.now(UTC)
    expected = sorted(lead_time_band(datetime.fromisoformat(s["start"]) - now) for s in chosen)
    got = sorted(
        band.removeprefix("lead time ")
        for band, n in figures.items()
        if band.startswith("lead time ")
        for _ in range(n)
    )
    assert got == expected
    assert "disposition" in four.note and five.figures == figures
    # What stays invisible says why.
    assert "never reaches the provider" in metrics["rep-prov-06"].summary()

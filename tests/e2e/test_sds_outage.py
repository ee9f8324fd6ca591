"""An SDS outage is reported as an outage naming SDS, never turned into a referral decision
(issue 13 #8): once with SDS unreachable on a real socket, once with SDS answering an error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from uec_booking.consumer import events
from uec_booking.consumer.config import from_manifest, load_config
from uec_booking.consumer.errors import SdsError
from uec_booking.consumer.request import BookingRequest
from uec_booking.consumer.sds import SdsClient
from uec_booking.consumer.wiring import build_workflow
from uec_booking.consumer.workflow import BookingWorkflow
from uec_booking.fhir.interactions import Interaction
from uec_booking.netutil import free_port
from uec_booking.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[dict[str, Any]]:
    with Sandbox(days=1) as manifest:
        yield manifest


class FailingSds:
    """SDS answering an LDAP error (busy, unavailable, other) to every search."""

    async def endpoint_for(self, asid: str, interaction: Interaction) -> str:
        raise SdsError("SDS search failed: busy")


@pytest.mark.parametrize("failure", ["unreachable", "error"])
def test_an_sds_outage_is_an_outage_not_a_referral(sandbox: dict[str, Any], failure: str) -> None:
    workflow: BookingWorkflow = build_workflow(load_config(**from_manifest(sandbox)))
    if failure == "unreachable":
        workflow.sds = SdsClient(url=f"ldap://127.0.0.1:{free_port()}", timeout=1.0)
    else:
        workflow.sds = FailingSds()
    seen: list[events.WorkflowEvent] = []
    now = datetime.now(UTC)
    # Bradford: the nearest service is a walk-in centre that is referral-only.
    request = BookingRequest(
        nhs_number="9000000025", postcode="BD1 1HY", earliest=now, latest=now + timedelta(hours=24)
    )
    result = asyncio.run(workflow.run(request, on_event=seen.append))
    assert result.appointment is None
    assert result.error is not None and "SDS" in result.error and "unavailable" in result.error
    assert "refer" not in result.error.lower().replace("no booking or referral decision", "")
    assert result.referral_only == []
    assert any(isinstance(e, events.StepFailed) and "SDS" in e.error for e in seen)

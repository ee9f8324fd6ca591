"""Scale-out: two provider processes (standing in for two hosts) behind HAProxy, configured
by the shipped `deploy/haproxy.cfg`, on one PostgreSQL. Racing bookings through the load
balancer: exactly one winner per slot, no duplicates, no 5xx, and both hosts served."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.provider.conftest import seed_db
from tests.provider.helpers import FHIR_JSON, search_free
from tests.provider.test_contention import (
    CLIENTS_PER_PROCESS,
    PROCESSES,
    SLOTS,
    assert_one_appointment_per_busy_slot,
    race_from_processes,
)
from tests.support import haproxy
from uec_booking.netutil import free_port
from uec_booking.processes import start_provider, stop

pytestmark = [
    pytest.mark.pg,
    pytest.mark.skipif(
        shutil.which("haproxy") is None,
        reason="HAPROXY NOT INSTALLED (make system-deps installs it): scale-out test skipped",
    ),
]


def bookings_on(base: str) -> float:
    text = httpx.get(base.removesuffix("/fhir") + "/metrics").text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "uec_provider_requests_total"
        and s.labels["interaction"] == "create:appointment"
    )


def test_two_hosts_behind_haproxy_race_for_slots(pg_url: str, tmp_path: Path) -> None:
    seed_db(pg_url, days=2)
    host1, base1 = start_provider(pg_url, workers=1)
    host2, base2 = start_provider(pg_url, workers=1)
    port = free_port()
    hosts = [b.split("//")[1].removesuffix("/fhir") for b in (base1, base2)]
    try:
        with haproxy(f"127.0.0.1:{port}", *hosts):
            base = f"http://127.0.0.1:{port}/fhir"
            with httpx.Client(timeout=30) as client:
                slots = search_free(client, base)[:SLOTS]
                assert client.get(f"http://127.0.0.1:{port}/metrics").status_code == 403
            results = race_from_processes(f"{base}/Appointment", FHIR_JSON, slots)
            served = (bookings_on(base1), bookings_on(base2))
    finally:
        stop(host1)
        stop(host2)
    print(f"\nHAProxy, 2 hosts: {dict(results)}; bookings served per host {served}")
    assert results == Counter({201: SLOTS, 422: PROCESSES * CLIENTS_PER_PROCESS - SLOTS})
    assert assert_one_appointment_per_busy_slot(pg_url) == SLOTS
    assert all(n > 0 for n in served) and sum(served) == PROCESSES * CLIENTS_PER_PROCESS

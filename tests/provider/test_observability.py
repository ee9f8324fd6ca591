"""The request log (one JSON line per request) and Prometheus metrics on `/metrics`, scraped
over a real socket from a real `serve provider` (two workers: multiprocess mode), and the
health/readiness probes."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.provider.conftest import seed_db
from tests.provider.helpers import FHIR_JSON, SERVICE, appointment, search_free, service_search
from uec_booking.asgi_server import ThreadedServer
from uec_booking.consumer.auth import InterimTokens
from uec_booking.fhir.interactions import Interaction
from uec_booking.netutil import free_port
from uec_booking.processes import start_provider, stop
from uec_booking.provider.app import create_app
from uec_booking.provider.observability import access_log, interaction_of
from uec_booking.provider.settings import AuthMode, ProviderSettings

TRACE = "0c7e1f52-3b4a-4d55-9a8e-6a1f3c2b9d10"
SPINE = {"Ssp-TraceID": TRACE, "Ssp-From": "200000000201", "X-Request-ID": "consumer-req-1"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "pid"))
            key = (sample.name, labels)
            out[key] = out.get(key, 0.0) + sample.value
    return out


def test_metrics_from_every_worker_and_one_json_line_per_request(pg_url: str) -> None:
    seed_db(pg_url, days=2)
    proc, base = start_provider(pg_url, workers=2, env={"UEC_ACCESS_LOG": "true"})
    root = base.removesuffix("/fhir")
    try:
        with httpx.Client(timeout=30) as client:
            for _ in range(6):
                slot = search_free(client, base)[0]
            # The same search four times: on either worker, answered again after its first.
            repeated = service_search(SERVICE, ("status", "free"))
            for _ in range(4):
                assert client.get(f"{base}/Slot", params=repeated).status_code == 200
            searches = 6 + 4
            booked = client.post(
                f"{base}/Appointment", json=appointment(slot), headers={**FHIR_JSON, **SPINE}
            )
            assert booked.status_code == 201
            taken = client.post(f"{base}/Appointment", json=appointment(slot), headers=FHIR_JSON)
            assert taken.status_code == 422
            # Several scrapes land on either worker; each answers for both.
            scrapes = [client.get(f"{root}/metrics") for _ in range(4)]
    finally:
        log = stop(proc)
    for scrape in scrapes:
        assert scrape.status_code == 200
        assert scrape.headers["content-type"].startswith("text/plain")
    found = samples(scrapes[-1].text)
    assert (
        found[("uec_provider_requests_total", (("interaction", "read:slot"), ("status", "200")))]
        == searches
    )
    assert (
        found[
            (
                "uec_provider_requests_total",
                (("interaction", "create:appointment"), ("status", "201")),
            )
        ]
        == 1
    )
    assert (
        found[
            (
                "uec_provider_requests_total",
                (("interaction", "create:appointment"), ("status", "422")),
            )
        ]
        == 1
    )
    assert (
        found[("uec_provider_request_seconds_count", (("interaction", "read:slot"),))] == searches
    )
    assert found[("uec_provider_bookings_total", ())] == 1
    assert found[("uec_provider_slot_taken_total", ())] == 1
    assert found[("uec_provider_store_errors_total", ())] == 0
    lookups = found[("uec_provider_slot_view_lookups_total", ())]
    builds = found[("uec_provider_slot_view_builds_total", ())]
    assert lookups == searches and 1 <= builds < lookups  # hits: lookups - builds
    assert found[("uec_provider_slot_answers_reused_total", ())] >= 2

    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert len([r for r in lines if r["path"].startswith("/fhir/")]) == searches + 2, log
    line = next(r for r in lines if r["interaction"] == "create:appointment" and r["status"] == 201)
    assert line["trace_id"] == TRACE and line["asid"] == "200000000201"
    assert line["correlation_id"] == "consumer-req-1"
    assert line["request_id"] == booked.headers["X-Request-ID"]
    assert line["method"] == "POST" and line["latency_ms"] > 0
    assert set(line) >= {"ods", "client_id"}  # null with --no-auth; the token's when verified


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))


def test_the_request_log_names_the_verified_consumer(tmp_path: Path) -> None:
    """With a token verified (interim mode: the consumer's own unsigned token), the log line
    carries its ODS code and client, and a refused token's line names none."""
    db_url = f"sqlite:///{tmp_path / 'p.sqlite3'}"
    seed_db(db_url, days=1)
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    settings = ProviderSettings(
        db_url=db_url, public_base_url=base, auth_mode=AuthMode.INTERIM, access_log=True
    )
    tokens = InterimTokens(
        consumer_ods="GPCA0001",
        consumer_name="Emergency Booking Assurance",
        device_id="CONS-APP-4",
        issuer="https://consumer.example.nhs.uk/",
    )
    token = asyncio.run(tokens.token(audience=base, interaction=Interaction.READ_METADATA))
    lines = _Lines()
    access_log.addHandler(lines)
    try:
        with ThreadedServer(create_app(settings), port=port):
            verified = httpx.get(f"{base}/metadata", headers={"Authorization": f"Bearer {token}"})
            refused = httpx.get(f"{base}/metadata", headers={"Authorization": "Bearer x.y.z"})
    finally:
        access_log.removeHandler(lines)
    assert verified.status_code == 200 and refused.status_code == 401
    ok, no = (next(r for r in lines.lines if r["status"] == code) for code in (200, 401))
    assert ok["ods"] == "GPCA0001" and ok["client_id"] == "https://consumer.example.nhs.uk/"
    assert ok["interaction"] == "read:metadata"
    assert no["ods"] is None and no["client_id"] is None


def test_health_and_readiness(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'p.sqlite3'}"
    seed_db(db, days=1)
    up = ProviderSettings(db_url=db, auth_mode=AuthMode.OFF)
    # A PostgreSQL that is not there: alive, but not ready.
    down = ProviderSettings(
        db_url=f"postgresql://postgres@127.0.0.1:{free_port()}/nothing", auth_mode=AuthMode.OFF
    )
    with ThreadedServer(create_app(up)) as ok, ThreadedServer(create_app(down)) as broken:
        assert httpx.get(f"{ok.url}/_ready").json() == {"status": "ok", "store": "ok"}
        assert httpx.get(f"{broken.url}/_health").status_code == 200
        not_ready = httpx.get(f"{broken.url}/_ready")
        assert not_ready.status_code == 503 and not_ready.headers["Retry-After"] == "2"
        assert not_ready.json()["status"] == "unavailable"
        metrics = httpx.get(f"{broken.url}/metrics").text
        # A FHIR request against the missing store is counted as a store error.
        before = samples(metrics).get(("uec_provider_store_errors_total", ()), 0)
        assert httpx.get(f"{broken.url}/fhir/Slot/x").status_code == 503
        after = samples(httpx.get(f"{broken.url}/metrics").text)
        assert after[("uec_provider_store_errors_total", ())] == before + 1


def test_interactions_are_a_bounded_label() -> None:
    assert interaction_of("GET", "/fhir/Slot") == "read:slot"
    assert interaction_of("PUT", "/fhir/Slot/1") == "admin:update-slot"
    assert interaction_of("GET", "/fhir/Appointment/1/_history/2") == "read:appointment"
    assert interaction_of("GET", "/fhir/Appointment") == "search:appointment"
    assert interaction_of("PUT", "/fhir/Appointment/1") == "update:appointment"
    assert interaction_of("GET", "/fhir/Location/9") == "read:directory"
    assert interaction_of("GET", "/anything/else/42") == "other"

"""The standard's interim rule end to end: `serve sandbox --auth-mode interim` in its own
process (provider in interim mode, SSP passing the consumer-built tokens on, the manifest
naming the mode), `uec-booking book --config <manifest>` books through the SSP with an
unsigned token per request, and `check-config` passes on the same configuration."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from uec_booking.consumer.auth import InterimTokens
from uec_booking.fhir.interactions import Interaction
from uec_booking.tls import client_context


def uec(*args: str, tmp: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "uec_booking", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={
            **os.environ,
            "UEC_JOURNAL_DB": f"sqlite:///{tmp / 'journal.sqlite3'}",
            "UEC_INTERIM_ISSUER": "https://nhs111.consumer.example.nhs.uk/",
        },
    )


@pytest.fixture(scope="module")
def interim_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("interim")
    manifest_path = tmp / "sandbox.json"
    db_path = tmp / "provider.sqlite3"
    log = (tmp / "sandbox.log").open("wb")  # read after; a pipe nobody reads could block it
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uec_booking",
            "serve",
            "sandbox",
            "--base-port",
            "0",
            "--ports-file",
            str(manifest_path),
            "--db",
            f"sqlite:///{db_path}",
            "--days",
            "2",
            "--auth-mode",
            "interim",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 90
    while not manifest_path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"sandbox did not start:\n{(tmp / 'sandbox.log').read_text()}")
        time.sleep(0.2)
    manifest = json.loads(manifest_path.read_text())
    manifest["_path"], manifest["_db"], manifest["_tmp"] = str(manifest_path), str(db_path), tmp
    try:
        yield manifest
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_books_end_to_end_through_the_ssp_in_interim_mode(interim_sandbox: dict[str, Any]) -> None:
    assert interim_sandbox["auth"]["mode"] == "interim"
    tmp = interim_sandbox["_tmp"]
    booked = uec(
        "book",
        "--config",
        interim_sandbox["_path"],
        "--nhs-number",
        "9000000009",
        "--postcode",
        "LS1 6AE",
        "--json",
        tmp=tmp,
    )
    assert booked.returncode == 0, booked.stdout + booked.stderr
    result = json.loads(booked.stdout)
    assert result["appointment_id"] and result["provider_url"] == interim_sandbox["provider"]["url"]
    # The provider's audit names the interim token's iss as the caller (not an auth client).
    audit = uec("audit", "--db", f"sqlite:///{interim_sandbox['_db']}", "--json", tmp=tmp)
    events = [json.loads(line) for line in audit.stdout.splitlines() if line.strip()]
    mine = [e for e in events if e["interaction"].endswith("create:appointment")]
    assert mine and mine[-1]["client_id"] == "https://nhs111.consumer.example.nhs.uk/"


def test_the_provider_behind_the_ssp_checks_the_interim_scope(
    interim_sandbox: dict[str, Any],
) -> None:
    base, ssp = interim_sandbox["provider"]["url"], interim_sandbox["ssp"]["url"]
    tokens = InterimTokens(consumer_ods="X26CN1", consumer_name="NHS 111", device_id="d")
    headers = {
        "Ssp-TraceID": str(uuid.uuid4()),
        "Ssp-From": interim_sandbox["auth"]["asid"],
        "Ssp-To": interim_sandbox["provider"]["asid"],
    }
    until = (datetime.now(UTC) + timedelta(hours=24)).isoformat()
    url = f"{ssp}/{base}/Slot"
    tls = interim_sandbox["tls"]  # the SSP takes only the consumer's client certificate
    context = client_context(
        ca_file=tls["ca"],
        cert_file=tls["consumer_cert"],
        key_file=tls["consumer_key"],
        verify=True,
        service="the SSP",
    )

    def search(interaction: Interaction) -> httpx.Response:
        return httpx.get(
            url,
            verify=context,
            params={"status": "free", "start": f"le{until}"},
            headers={
                **headers,
                "Ssp-InteractionID": Interaction.READ_SLOT.value,
                "Authorization": f"Bearer {_token(tokens, base, interaction)}",
            },
        )

    assert search(Interaction.READ_SLOT).status_code == 200
    wrong = search(Interaction.CREATE_APPOINTMENT)  # patient/appointment.write: not slots
    assert wrong.status_code == 403
    assert 'error="insufficient_scope"' in wrong.headers["www-authenticate"]


def _token(tokens: InterimTokens, base: str, interaction: Interaction) -> str:
    return asyncio.run(tokens.token(audience=base, interaction=interaction))


def test_check_config_passes_in_interim_mode(interim_sandbox: dict[str, Any]) -> None:
    checked = uec("check-config", "--config", interim_sandbox["_path"], tmp=interim_sandbox["_tmp"])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Interim mode" in checked.stdout
    assert "The configuration is ready for use." in checked.stdout

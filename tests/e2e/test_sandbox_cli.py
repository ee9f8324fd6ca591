"""End to end, as a newcomer runs it: `serve sandbox` in its own process, then
`uec-booking book --config <manifest> --json` books through PDS, DoS, SDS, auth and the SSP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from uec_booking.provider.store.db import sync_url

JOURNAL = Path(tempfile.gettempdir()) / f"uec-test-journal-{os.getpid()}.sqlite3"


def uec(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "uec_booking", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        # The consumer's journal goes to a temporary file unless a test names one.
        env={**os.environ, "UEC_JOURNAL_DB": f"sqlite:///{JOURNAL}", **(env or {})},
    )


@pytest.fixture
def sandbox(db_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The sandbox on each store (`db_url` runs SQLite and PostgreSQL)."""
    manifest_path = tmp_path / "sandbox.json"
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
            db_url,
            "--days",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 90
    while not manifest_path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"sandbox did not start:\n{proc.communicate()[0].decode()}")
        time.sleep(0.2)
    manifest = json.loads(manifest_path.read_text())
    manifest["_path"] = str(manifest_path)
    manifest["_db"] = db_url
    try:
        yield manifest
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode in (0, -signal.SIGTERM), out.decode()
        assert not manifest_path.exists(), "the manifest is removed on shutdown"


def stored_appointments(db_url: str) -> list[dict[str, Any]]:
    engine = create_engine(sync_url(db_url))
    with engine.connect() as conn:
        rows = (
            conn.execute(
                text(
                    "SELECT id, slot_id, nhs_number, trace_id, consumer_asid, consumer_client, status FROM appointment"
                )
            )
            .mappings()
            .all()
        )
    engine.dispose()
    return [dict(r) for r in rows]


def test_book_through_the_whole_standard(sandbox: dict[str, Any]) -> None:
    assert set(sandbox) >= {"provider", "ssp", "auth", "sds", "dos", "pds", "patients"}
    patient = sandbox["patients"][0]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime(
        "%Y-%m-%dT00:00"
    )  # the sandbox seeds 2 days
    result = uec(
        "book",
        "--config",
        sandbox["_path"],
        "--nhs-number",
        patient["nhs_number"],
        "--postcode",
        patient["postcode"],
        "--when",
        tomorrow,
        "--json",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    booked = json.loads(result.stdout)
    assert datetime.fromisoformat(booked["start"]) >= datetime.fromisoformat(tomorrow + "+00:00"), (
        "--when"
    )
    assert set(booked) >= {"appointment_id", "slot_id", "provider_url", "trace_id"}
    assert booked["provider_url"] == sandbox["provider"]["url"]
    [row] = stored_appointments(sandbox["_db"])
    assert row["id"] == booked["appointment_id"] and row["slot_id"] == booked["slot_id"]
    assert row["nhs_number"] == patient["nhs_number"]
    # The provider records the booking request's own Ssp-TraceID: a new UUID per request
    # (SSP guide), not the consumer's journey id.
    assert str(uuid.UUID(row["trace_id"])) == row["trace_id"] != booked["trace_id"]
    assert (
        row["consumer_asid"] == sandbox["auth"]["asid"]
        and row["consumer_client"] == sandbox["auth"]["client_id"]
    )

    listed = uec("slots", "--config", sandbox["_path"], "--service", "2000100001", "--json")
    assert listed.returncode == 0, listed.stderr
    assert booked["slot_id"] not in {s["slot_id"] for s in json.loads(listed.stdout)}

    unknown = uec("book", "--config", sandbox["_path"], "--nhs-number", "9000000033", "--json")
    assert unknown.returncode == 1 and "not verified" in json.loads(unknown.stdout)["error"]
    assert len(stored_appointments(sandbox["_db"])) == 1, "an unverified patient is never booked"


def test_environment_overrides_the_manifest(sandbox: dict[str, Any]) -> None:
    env = {**os.environ, "UEC_CLIENT_SECRET": "wrong-secret"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "uec_booking",
            "book",
            "--config",
            sandbox["_path"],
            "--nhs-number",
            "9000000009",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 1
    assert "invalid_client" in json.loads(result.stdout)["error"]


def test_cancel_and_both_sides_report(sandbox: dict[str, Any], tmp_path: Path) -> None:
    journal = {"UEC_JOURNAL_DB": f"sqlite:///{tmp_path / 'journal.sqlite3'}"}
    patient = sandbox["patients"][1]
    booked = uec(
        "book",
        "--config",
        sandbox["_path"],
        "--nhs-number",
        patient["nhs_number"],
        "--json",
        env=journal,
    )
    assert booked.returncode == 0, booked.stderr
    made = json.loads(booked.stdout)
    cancelled = uec(
        "cancel",
        "--config",
        sandbox["_path"],
        "--appointment",
        made["appointment_id"],
        "--provider-url",
        made["provider_url"],
        "--provider-asid",
        made["provider_asid"],
        "--json",
        env=journal,
    )
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    consumer = json.loads(uec("report", "--from", today, "--format", "json", env=journal).stdout)
    figures = {m["id"]: m["figures"] for m in consumer["metrics"]}
    assert figures["rep-cons-01"] == {"booked": 1} and figures["rep-cons-13"] == {"cancelled": 1}
    assert figures["rep-cons-03"]["slots available"] > 0
    provider = json.loads(
        uec(
            "report",
            "--from",
            today,
            "--side",
            "provider",
            "--db",
            sandbox["_db"],
            "--format",
            "json",
        ).stdout
    )
    prov = {m["id"]: m for m in provider["metrics"]}
    assert prov["rep-prov-01"]["figures"] == {"booked": 1} and prov["rep-prov-13"]["figures"] == {
        "cancelled": 1
    }
    assert (
        prov["rep-prov-02"]["figures"] == {"booked": 1} and prov["rep-prov-02"]["note"]
    )  # referrals that did not book are not visible to a provider

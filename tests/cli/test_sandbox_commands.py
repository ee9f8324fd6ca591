"""The commands a newcomer runs around `serve sandbox`, each in its own process: the README's
library snippet, booking a chosen service and slot, cancelling by the booking reference,
`audit` and `report` finding the sandbox's store from its manifest, a taken port, and `demo`
cleaning up after SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_errors import one_sentence
from uec_booking.netutil import free_port

ROOT = Path(__file__).resolve().parents[2]


def uec(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "uec_booking", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "UEC_JOURNAL_DB": f"sqlite:///{cwd / 'journal.sqlite3'}"},
    )


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[Path, dict[str, Any], str]]:
    """`serve sandbox` with its default manifest file, in a directory of its own."""
    work = Path(tempfile.mkdtemp(prefix="uec-cli-test-"))
    log = (work / "sandbox.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uec_booking",
            "serve",
            "sandbox",
            "--base-port",
            "0",
            "--days",
            "2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=work,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    manifest = work / "uec-sandbox.json"
    deadline = time.monotonic() + 90
    while not manifest.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError((work / "sandbox.log").read_text())
        time.sleep(0.2)
    time.sleep(0.2)  # the summary is printed right after the manifest is written
    try:
        yield work, json.loads(manifest.read_text()), (work / "sandbox.log").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
        assert not manifest.exists(), "the manifest is removed on shutdown"


def test_serve_sandbox_prints_a_short_summary_and_writes_the_manifest(
    sandbox: tuple[Path, dict[str, Any], str],
) -> None:
    _, manifest, output = sandbox
    assert manifest["ssp"]["url"] in output and manifest["provider"]["url"] in output
    assert "uec-sandbox.json" in output
    assert manifest["auth"]["client_secret"] not in output, "the manifest is not dumped"


def test_the_readme_library_snippet_books(sandbox: tuple[Path, dict[str, Any], str]) -> None:
    work, _, _ = sandbox
    readme = (ROOT / "README.md").read_text()
    [snippet] = [
        b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "BookingRequest" in b
    ]
    done = subprocess.run(
        [sys.executable, "-c", snippet], capture_output=True, text=True, cwd=work, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"[0-9a-f-]{36}\n", done.stdout), done.stdout


def test_book_a_patient_away_from_home(sandbox: tuple[Path, dict[str, Any], str]) -> None:
    """`--postcode` is checked against PDS; `--location-postcode` is where DoS searches."""
    work, _, _ = sandbox

    def nearest(*where: str) -> str:
        done = uec(
            "book", "--config", "uec-sandbox.json", "--nhs-number", "9000000009",
            "--postcode", "LS1 6AE", *where, "--within-hours", "48", cwd=work,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr + done.stdout
        said = " ".join(done.stdout.split())  # rich wraps long lines
        found = re.search(r"services, nearest (.+?) (?:DoS|SDS|\w+:)", said)
        assert found, said
        return found.group(1)

    assert "Leeds" in nearest() and "Wakefield" in nearest("--location-postcode", "WF1 2EB")


def test_book_a_chosen_service_and_slot_then_cancel_by_reference(
    sandbox: tuple[Path, dict[str, Any], str],
) -> None:
    work, manifest, _ = sandbox
    listed = uec(
        "slots", "--config", "uec-sandbox.json", "--service", "2000100001", "--json", cwd=work
    )
    assert listed.returncode == 0, listed.stderr
    third = json.loads(listed.stdout)[2]
    patient = manifest["patients"][1]
    booked = uec(
        "book",
        "--config",
        "uec-sandbox.json",
        "--nhs-number",
        patient["nhs_number"],
        "--service",
        "2000100001",
        "--slot",
        third["slot_id"],
        "--within-hours",
        "48",
        "--json",
        cwd=work,
    )
    assert booked.returncode == 0, booked.stderr + booked.stdout
    made = json.loads(booked.stdout)
    assert made["slot_id"] == third["slot_id"] and made["service_id"] == "2000100001"
    assert made["booking_reference"] == f"{manifest['provider']['asid']}:{made['appointment_id']}"

    again = uec(
        "book",
        "--config",
        "uec-sandbox.json",
        "--nhs-number",
        patient["nhs_number"],
        "--service",
        "2000100001",
        "--slot",
        third["slot_id"],
        "--within-hours",
        "48",
        "--json",
        cwd=work,
    )
    assert again.returncode == 1 and third["slot_id"] in json.loads(again.stdout)["error"]

    cancelled = uec(
        "cancel",
        "--config",
        "uec-sandbox.json",
        "--booking",
        made["booking_reference"],
        "--json",
        cwd=work,
    )
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    one_sentence(
        uec("cancel", "--config", "uec-sandbox.json", "--booking", "nonsense", cwd=work),
        "ASID:APPOINTMENT_ID",
    )

    audit = uec("audit", "--config", "uec-sandbox.json", "--json", cwd=work)
    assert audit.returncode == 0, audit.stderr
    ids = {json.loads(line)["resource_id"] for line in audit.stdout.splitlines()}
    assert made["appointment_id"] in ids
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    report = uec(
        "report",
        "--config",
        "uec-sandbox.json",
        "--side",
        "provider",
        "--from",
        today,
        "--format",
        "json",
        cwd=work,
    )
    assert report.returncode == 0, report.stderr
    figures = {m["id"]: m["figures"] for m in json.loads(report.stdout)["metrics"]}
    assert figures["rep-prov-13"]["cancelled"] >= 1
    consumer = uec(
        "report", "--config", "uec-sandbox.json", "--from", today, "--format", "json", cwd=work
    )
    assert consumer.returncode == 0, consumer.stderr
    one_sentence(
        uec(
            "report",
            "--config",
            "uec-sandbox.json",
            "--from",
            today,
            "--to",
            "2020-01-01",
            cwd=work,
        ),
        "--to",
    )


def test_serve_sandbox_on_a_taken_port_fails_at_once(tmp_path: Path) -> None:
    held = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", held))
        holder.listen()
        started = time.monotonic()
        done = uec("serve", "sandbox", "--base-port", str(held - 20), cwd=tmp_path, timeout=60)
        assert time.monotonic() - started < 20
    line = one_sentence(done, "in use", "--base-port")
    assert re.search(r"port \d+ \(\w+\)", line)
    assert "sandbox running" not in done.stdout and not (tmp_path / "uec-sandbox.json").exists()


def test_demo_stopped_by_sigterm_leaves_nothing_behind(tmp_path: Path) -> None:
    own_tmp = tmp_path / "tmp"  # the demo's temporary files, apart from anyone else's
    own_tmp.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uec_booking", "demo", "--wait", "--days", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        start_new_session=True,  # its own process group: children are found by group
        env={**os.environ, "PYTHONUNBUFFERED": "1", "UEC_JOURNAL_DB": "", "TMPDIR": str(own_tmp)},
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "stays up" in line:
            break
    else:
        raise AssertionError("".join(seen))
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout
    assert left.strip() == "", f"processes left in the demo's group: {left}"
    assert not list(own_tmp.iterdir()), f"temporary files left: {list(own_tmp.iterdir())}"

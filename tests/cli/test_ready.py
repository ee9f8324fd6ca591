"""`serve provider` says "ready" once it answers, and not before; `seed` shows its progress
in days and slots as it goes, and says how long it took."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from uec_booking.netutil import free_port


def test_serve_provider_says_ready_when_it_answers(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uec_booking",
            "serve",
            "provider",
            "--no-auth",
            "--port",
            str(port),
            "--db",
            f"sqlite:///{tmp_path / 'p.sqlite3'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            if line.startswith("ready: "):
                break
        else:
            raise AssertionError("no ready line")
        assert f":{port}/fhir" in line
        assert httpx.get(f"http://127.0.0.1:{port}/fhir/metadata").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_seed_reports_its_time(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "uec_booking",
            "seed",
            "--db",
            f"sqlite:///{tmp_path / 's.sqlite3'}",
            "--days",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "slots added" in done.stdout and "done in" in done.stderr


def test_a_long_seed_shows_days_and_slots_done(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "uec_booking",
            "seed",
            "--db",
            f"sqlite:///{tmp_path / 's.sqlite3'}",
            "--days",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = re.findall(r"^seeding: day (\d+) of 30, (\d+) slots added$", done.stderr, re.M)
    assert len(lines) >= 5, done.stderr  # counts as it goes, not only a spinner
    days = [int(d) for d, _ in lines]
    added = [int(n) for _, n in lines]
    assert days == sorted(days) and days[-1] == 30, lines
    assert added == sorted(added) and added[0] > 0, lines
    total = re.search(r"(\d+) slots added, ", done.stdout)
    assert total and added[-1] == int(total[1]), (lines, done.stdout)

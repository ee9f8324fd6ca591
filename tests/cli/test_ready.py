"""`serve provider` says "ready" once it answers, and not before; `seed` shows its progress
in days and slots as it goes, and says how long it took."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from uec_booking.processes import output, start_provider, stop


def test_serve_provider_says_ready_when_it_answers(tmp_path: Path) -> None:
    proc, base = start_provider(f"sqlite:///{tmp_path / 'p.sqlite3'}")
    try:
        deadline = time.monotonic() + 10  # it answers /_health a moment before it says so
        while not (ready := re.findall(r"^ready: (\S+)$", output(proc), re.M)):
            assert time.monotonic() < deadline, output(proc)
            time.sleep(0.1)
        assert ready == [base]
    finally:
        stop(proc)


def _seed(tmp_path: Path, days: int) -> subprocess.CompletedProcess[str]:
    db = f"sqlite:///{tmp_path / 's.sqlite3'}"
    return subprocess.run(
        [sys.executable, "-m", "uec_booking", "seed", "--db", db, "--days", str(days)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_seed_reports_its_time(tmp_path: Path) -> None:
    done = _seed(tmp_path, 2)
    assert done.returncode == 0, done.stderr
    assert "slots added" in done.stdout and "done in" in done.stderr


def test_a_long_seed_shows_days_and_slots_done(tmp_path: Path) -> None:
    done = _seed(tmp_path, 30)
    assert done.returncode == 0, done.stderr
    lines = re.findall(r"^seeding: day (\d+) of 30, (\d+) slots added$", done.stderr, re.M)
    assert len(lines) >= 5, done.stderr  # counts as it goes, not only a spinner
    days = [int(d) for d, _ in lines]
    added = [int(n) for _, n in lines]
    assert days == sorted(days) and days[-1] == 30, lines
    assert added == sorted(added) and added[0] > 0, lines
    total = re.search(r"(\d+) slots added, ", done.stdout)
    assert total and added[-1] == int(total[1]), (lines, done.stdout)
